#include "softmoe/models/q_network.hpp"

#include <algorithm>
#include <stdexcept>

#include "softmoe/layers/activation.hpp"
#include "softmoe/layers/expert_init.hpp"
#include "softmoe/layers/linear.hpp"
#include "softmoe/rng.hpp"

namespace softmoe {

SoftMoeShape QNetworkConfig::moe() const {
  SoftMoeShape s;
  s.tokens = tokens();
  s.dim = s.dim_out = token_width();
  s.experts = experts;
  s.slots = (tokens() + experts - 1) / experts;
  s.hidden = expert_hidden;
  s.expert_bias = true;
  s.activation = Activation::relu;
  s.normalize = Normalize::none;
  return s;
}

namespace {

// out [B, b, a] = in [B, a, b]
template <class T>
void transpose_each(T* out, const T* in, int B, int a, int b) {
  for (int e = 0; e < B; ++e)
    for (int i = 0; i < a; ++i)
      for (int j = 0; j < b; ++j) out[(static_cast<long>(e) * b + j) * a + i] = in[(static_cast<long>(e) * a + i) * b + j];
}

std::size_t sz(long v) { return static_cast<std::size_t>(v); }

}  // namespace

template <class T>
QNetwork<T>::QNetwork(const QNetworkConfig& c, int max_batch)
    : config_(c), max_batch_(max_batch), moe_act_(c.moe(), c.head == QHead::softmoe ? max_batch : 1) {
  const Conv2dShape conv = c.conv();
  conv_w_ = params_.add("conv.weight", {3, 3, sz(c.channels), sz(c.filters)});
  conv_b_ = params_.add("conv.bias", {sz(c.filters)});
  if (c.head == QHead::dense) {
    hidden_w_ = params_.add("hidden.weight", {sz(c.dense_width()), sz(c.encoder_size())});
    hidden_b_ = params_.add("hidden.bias", {sz(c.dense_width())});
  } else {
    moe_ids_ = softmoe_register(params_, c.moe(), "moe.");
    moe_act_.store_slots = false;
  }
  q_w_ = params_.add("q.weight", {sz(c.actions), sz(c.q_inputs())});
  q_b_ = params_.add("q.bias", {sz(c.actions)});
  params_.allocate();

  const long B = max_batch;
  cols_ = make_buffer<T>(sz(B * conv.positions() * conv.patch()));
  dcols_ = make_buffer<T>(sz(B * conv.positions() * conv.patch()));
  conv_pre_ = make_buffer<T>(sz(B * c.encoder_size()));
  encoded_ = make_buffer<T>(sz(B * c.encoder_size()));
  dencoded_ = make_buffer<T>(sz(B * c.encoder_size()));
  dconv_pre_ = make_buffer<T>(sz(B * c.encoder_size()));
  features_ = make_buffer<T>(sz(B * c.q_inputs()));
  dfeatures_ = make_buffer<T>(sz(B * c.q_inputs()));
  q_ = make_buffer<T>(sz(B * c.actions));
  if (c.head == QHead::dense) {
    hidden_pre_ = make_buffer<T>(sz(B * c.dense_width()));
    dhidden_pre_ = make_buffer<T>(sz(B * c.dense_width()));
  } else if (c.tokenize == Tokenize::per_feat) {
    tokens_ = make_buffer<T>(sz(B * c.encoder_size()));
    dtokens_ = make_buffer<T>(sz(B * c.encoder_size()));
  }
}

template <class T>
void QNetwork<T>::init(Rng& rng) {
  const QNetworkConfig& c = config_;
  linear_init(params_.value(conv_w_), params_.value(conv_b_), c.conv().patch(), c.filters, rng);
  if (c.head == QHead::dense) {
    linear_init(params_.value(hidden_w_), params_.value(hidden_b_), c.encoder_size(), c.dense_width(), rng);
  } else {
    SoftMoeTensors<T> w = moe_ids_.values(params_, c.moe());
    softmoe_init(w, c.moe(), PhiInit::normal, rng);
  }
  linear_init(params_.value(q_w_), params_.value(q_b_), c.q_inputs(), c.actions, rng);
}

template <class T>
const T* QNetwork<T>::forward(const T* x, int B) {
  const QNetworkConfig& c = config_;
  const std::size_t encoded = sz(static_cast<long>(B) * c.encoder_size());
  last_input_ = x;
  conv2d_forward(conv_pre_.data(), cols_.data(), x, params_.value(conv_w_), params_.value(conv_b_), c.conv(), B);
  activation_forward(encoded_.data(), conv_pre_.data(), encoded, Activation::relu);
  if (c.head == QHead::dense) {
    linear_forward(hidden_pre_.data(), encoded_.data(), params_.value(hidden_w_), params_.value(hidden_b_), B,
                   c.encoder_size(), c.dense_width());
    activation_forward(features_.data(), hidden_pre_.data(), sz(static_cast<long>(B) * c.dense_width()),
                       Activation::relu);
  } else {
    const T* tokens = encoded_.data();
    if (c.tokenize == Tokenize::per_feat) {
      transpose_each(tokens_.data(), encoded_.data(), B, 64, c.filters);
      tokens = tokens_.data();
    }
    softmoe_forward(features_.data(), moe_act_, tokens, moe_ids_.values(params_, c.moe()), c.moe(), B);
  }
  linear_forward(q_.data(), features_.data(), params_.value(q_w_), params_.value(q_b_), B, c.q_inputs(), c.actions);
  return q_.data();
}

template <class T>
void QNetwork<T>::backward(const T* dq, int B) {
  const QNetworkConfig& c = config_;
  const std::size_t encoded = sz(static_cast<long>(B) * c.encoder_size());
  std::fill(dfeatures_.begin(), dfeatures_.begin() + static_cast<long>(B) * c.q_inputs(), T(0));
  linear_backward(dfeatures_.data(), params_.grad(q_w_), params_.grad(q_b_), dq, features_.data(),
                  params_.value(q_w_), B, c.q_inputs(), c.actions);
  std::fill(dencoded_.begin(), dencoded_.begin() + static_cast<long>(encoded), T(0));
  if (c.head == QHead::dense) {
    const std::size_t hidden = sz(static_cast<long>(B) * c.dense_width());
    activation_gradient(dhidden_pre_.data(), dfeatures_.data(), hidden_pre_.data(), hidden, Activation::relu);
    linear_backward(dencoded_.data(), params_.grad(hidden_w_), params_.grad(hidden_b_), dhidden_pre_.data(),
                    encoded_.data(), params_.value(hidden_w_), B, c.encoder_size(), c.dense_width());
  } else {
    const bool per_feat = c.tokenize == Tokenize::per_feat;
    T* dtokens = per_feat ? dtokens_.data() : dencoded_.data();
    if (per_feat) std::fill(dtokens_.begin(), dtokens_.begin() + static_cast<long>(encoded), T(0));
    softmoe_backward(dtokens, moe_ids_.grads(params_, c.moe()), dfeatures_.data(), moe_act_,
                     per_feat ? tokens_.data() : encoded_.data(), moe_ids_.values(params_, c.moe()), c.moe(), B);
    if (per_feat) transpose_each(dencoded_.data(), dtokens_.data(), B, c.filters, 64);
  }
  activation_gradient(dconv_pre_.data(), dencoded_.data(), conv_pre_.data(), encoded, Activation::relu);
  conv2d_backward(static_cast<T*>(nullptr), dcols_.data(), params_.grad(conv_w_), params_.grad(conv_b_),
                  dconv_pre_.data(), cols_.data(), params_.value(conv_w_), c.conv(), B);
}

template <class T>
const T* QNetwork<T>::forward_selected(const T*, int, const ExpertChooser&, bool, WorkCount*) {
  throw std::logic_error("the Q network has no expert-subset inference");
}

template <class T>
std::vector<SoftMoeShape> QNetwork<T>::moe_layers() const {
  if (config_.head == QHead::dense) return {};
  return {config_.moe()};
}

template <class T>
double QNetwork<T>::dense_flops_per_input() const {
  const QNetworkConfig& c = config_;
  double flops = 2.0 * c.conv().positions() * c.conv().patch() * c.filters;
  if (c.head == QHead::dense) flops += 2.0 * c.encoder_size() * c.dense_width();
  else flops += 4.0 * c.tokens() * c.moe().total_slots() * c.token_width();  // dispatch and combine
  return flops + 2.0 * c.q_inputs() * c.actions;
}

template <class T>
const T* QNetwork<T>::penultimate() const {
  return features_.data();
}

template class QNetwork<float>;
template class QNetwork<double>;

}  // namespace softmoe
