#include "softmoe/models/vit.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "softmoe/kernels/parallel.hpp"
#include "softmoe/layers/activation.hpp"
#include "softmoe/layers/linear.hpp"
#include "softmoe/rng.hpp"

namespace softmoe {
namespace {

std::size_t sz(long v) { return static_cast<std::size_t>(v); }

template <class T>
void uniform_fill(T* data, long count, double bound, Rng& rng) {
  for (long i = 0; i < count; ++i) data[i] = static_cast<T>(rng.uniform(-bound, bound));
}

template <class T>
void zero(Buffer<T>& buffer, long count) {
  std::fill(buffer.begin(), buffer.begin() + count, T(0));
}

// The row-wise loops (LayerNorm forward, GELU) run on the engine's threads in contiguous row ranges;
// rows are independent, so results do not depend on the thread count.
constexpr long kMinRowsPerThread = 256;

template <class T>
void layernorm_rows(T* y, T* mean, T* rstd, const T* x, const T* gamma, const T* beta, int R, int D) {
  kernels::parallel_for(R, kMinRowsPerThread, [&](long begin, long end) {
    layernorm_forward(y + begin * D, mean + begin, rstd + begin, x + begin * D, gamma, beta,
                      static_cast<int>(end - begin), D);
  });
}

template <class T>
void gelu_rows(T* out, const T* in, int R, int F) {
  kernels::parallel_for(R, kMinRowsPerThread, [&](long begin, long end) {
    activation_forward(out + begin * F, in + begin * F, sz((end - begin) * F), Activation::gelu);
  });
}

template <class T>
void gelu_backward_rows(T* dinp, const T* dout, const T* in, int R, int F) {
  kernels::parallel_for(R, kMinRowsPerThread, [&](long begin, long end) {
    activation_backward(dinp + begin * F, dout + begin * F, in + begin * F, sz((end - begin) * F), Activation::gelu);
  });
}

}  // namespace

template <class T>
VitBlockActivations<T>::VitBlockActivations(const VitConfig& c, bool moe_block, int max_batch)
    : attn(c.attention_shape(), max_batch) {
  const std::size_t R = sz(static_cast<long>(max_batch) * c.tokens()), D = sz(c.dim);
  const std::size_t F = moe_block ? 0 : sz(c.mlp_width());
  for (auto* b : {&ln1, &mid, &ln2, &out}) *b = make_buffer<T>(R * D);
  for (auto* b : {&mean1, &rstd1, &mean2, &rstd2}) *b = make_buffer<T>(R);
  hidden_pre = make_buffer<T>(R * F);
  hidden = make_buffer<T>(R * F);
  if (moe_block && c.sparse()) sparse.emplace(c.sparse_shape(), max_batch);
  else if (moe_block) moe.emplace(c.moe_shape(), max_batch);
}

template <class T>
VitModel<T>::VitModel(const VitConfig& config, int max_batch)
    : config_((validate(config), config)),
      max_batch_(max_batch),
      embed_shape_(config.embed_shape()),
      attn_shape_(config.attention_shape()),
      moe_shape_(config.moe_shape()),
      moe_blocks_(config.moe_blocks()),
      embed_act_(embed_shape_, max_batch) {
  if (max_batch <= 0) throw std::invalid_argument("vit: max_batch must be positive");
  const std::size_t D = sz(config_.dim), F = sz(config_.mlp_width()), p = sz(config_.patch),
                    L = sz(config_.tokens()), K = sz(config_.classes);

  // Registration order is the header's list (the checkpoint contract).
  embed_ids_.proj_weight = params_.add("patch_embed.proj.weight", {D, 1, p, p});
  embed_ids_.proj_bias = params_.add("patch_embed.proj.bias", {D});
  if (config_.class_token()) embed_ids_.cls_token = params_.add("cls_token", {1, 1, D});
  embed_ids_.pos_embed = params_.add("pos_embed", {1, L, D});
  for (int i = 0; i < config_.depth; ++i) {
    const std::string prefix = "blocks." + std::to_string(i) + ".";
    BlockIds ids;
    ids.norm1 = layernorm_register(params_, config_.dim, prefix + "norm1.");
    ids.attn = attention_register(params_, attn_shape_, prefix + "attn.");
    ids.norm2 = layernorm_register(params_, config_.dim, prefix + "norm2.");
    if (std::binary_search(moe_blocks_.begin(), moe_blocks_.end(), i) && config_.sparse()) {
      ids.sparse = sparse_moe_register(params_, config_.sparse_shape(), prefix + "moe.");
    } else if (std::binary_search(moe_blocks_.begin(), moe_blocks_.end(), i)) {
      ids.moe = softmoe_register(params_, moe_shape_, prefix + "moe.");
    } else {
      ids.fc1_weight = params_.add(prefix + "mlp.fc1.weight", {F, D});
      ids.fc1_bias = params_.add(prefix + "mlp.fc1.bias", {F});
      ids.fc2_weight = params_.add(prefix + "mlp.fc2.weight", {D, F});
      ids.fc2_bias = params_.add(prefix + "mlp.fc2.bias", {D});
    }
    block_ids_.push_back(ids);
  }
  norm_ids_ = layernorm_register(params_, config_.dim, "norm.");
  head_weight_ = params_.add("head.weight", {K, D});
  head_bias_ = params_.add("head.bias", {K});
  params_.allocate();

  const std::size_t B = sz(max_batch), R = B * L;
  embedded_ = make_buffer<T>(R * D);
  blocks_.reserve(sz(config_.depth));
  for (int i = 0; i < config_.depth; ++i) blocks_.emplace_back(config_, block_ids_[sz(i)].is_moe(), max_batch);
  final_ln_ = make_buffer<T>(R * D);
  final_mean_ = make_buffer<T>(R);
  final_rstd_ = make_buffer<T>(R);
  pooled_ = make_buffer<T>(B * D);
  logits_ = make_buffer<T>(B * K);
  dstream_ = make_buffer<T>(R * D);
  dln_ = make_buffer<T>(R * D);
  const bool any_dense = static_cast<int>(moe_blocks_.size()) < config_.depth;
  dhidden_ = make_buffer<T>(any_dense ? R * F : 0);
  dhidden_pre_ = make_buffer<T>(any_dense ? R * F : 0);
  dpooled_ = make_buffer<T>(B * D);
  if constexpr (std::is_same_v<T, float>)
    if (!moe_blocks_.empty() && !config_.sparse()) select_ws_ = std::make_unique<SelectionWorkspace>(moe_shape_, max_batch);
  if (config_.sparse() && config_.router->noise_std > 0) noise_ = make_buffer<T>(R * sz(config_.experts));
}

template <class T>
void VitModel<T>::init(Rng& rng) {
  const long D = config_.dim, F = config_.mlp_width();
  patch_embed_init(embed_ids_.values(params_, embed_shape_), embed_shape_, rng);
  for (const auto& ids : block_ids_) {
    layernorm_init(ids.norm1.values(params_), config_.dim);
    attention_init(ids.attn.values(params_), attn_shape_, rng);
    layernorm_init(ids.norm2.values(params_), config_.dim);
    if (ids.moe) {
      softmoe_init(ids.moe->values(params_, moe_shape_), moe_shape_, config_.phi_init, rng);
    } else if (ids.sparse) {
      sparse_moe_init(ids.sparse->values(params_, config_.sparse_shape()), config_.sparse_shape(), rng);
    } else {
      const double bound1 = 1.0 / std::sqrt(static_cast<double>(D)), bound2 = 1.0 / std::sqrt(static_cast<double>(F));
      uniform_fill(params_.value(ids.fc1_weight), F * D, bound1, rng);
      uniform_fill(params_.value(ids.fc1_bias), F, bound1, rng);
      uniform_fill(params_.value(ids.fc2_weight), D * F, bound2, rng);
      uniform_fill(params_.value(ids.fc2_bias), D, bound2, rng);
    }
  }
  layernorm_init(norm_ids_.values(params_), config_.dim);
  const double bound = 1.0 / std::sqrt(static_cast<double>(D));
  uniform_fill(params_.value(head_weight_), config_.classes * D, bound, rng);
  uniform_fill(params_.value(head_bias_), config_.classes, bound, rng);
}

template <class T>
void VitModel<T>::check_batch(int B, const char* what) const {
  if (B < 0 || B > max_batch_)
    throw std::invalid_argument(std::string("vit ") + what + ": batch " + std::to_string(B) +
                                " outside [0, max_batch " + std::to_string(max_batch_) + "]");
}

template <class T>
template <class MoeStep>
const T* VitModel<T>::run_forward(const T* images, int B, MoeStep&& moe_step) {
  // images [B, rows cols] -> logits [B, classes]; every activation [B, L, D] unless stated
  check_batch(B, "forward");
  const int L = config_.tokens(), D = config_.dim, F = config_.mlp_width(), R = B * L;
  const long n = static_cast<long>(R) * D;
  patch_embed_forward(embedded_.data(), embed_act_, images, embed_ids_.values(params_, embed_shape_), embed_shape_, B);
  const T* x = embedded_.data();
  int moe_layer = 0;
  for (int i = 0; i < config_.depth; ++i) {
    const BlockIds& ids = block_ids_[sz(i)];
    VitBlockActivations<T>& a = blocks_[sz(i)];
    const auto n1 = ids.norm1.values(params_), n2 = ids.norm2.values(params_);
    layernorm_rows(a.ln1.data(), a.mean1.data(), a.rstd1.data(), x, n1.weight, n1.bias, R, D);
    T* mid = a.mid.data();
    T* out = a.out.data();
    attention_forward(mid, a.attn, a.ln1.data(), ids.attn.values(params_), attn_shape_, B);
    for (long k = 0; k < n; ++k) mid[k] += x[k];
    layernorm_rows(a.ln2.data(), a.mean2.data(), a.rstd2.data(), mid, n2.weight, n2.bias, R, D);
    const bool residual = !ids.is_moe() || config_.moe_residual;
    if (ids.is_moe()) {
      moe_step(out, i, moe_layer++, B);
    } else {
      linear_forward(a.hidden_pre.data(), a.ln2.data(), params_.value(ids.fc1_weight), params_.value(ids.fc1_bias),
                     R, D, F);
      gelu_rows(a.hidden.data(), a.hidden_pre.data(), R, F);
      linear_forward(out, a.hidden.data(), params_.value(ids.fc2_weight), params_.value(ids.fc2_bias), R, F, D);
    }
    if (residual)
      for (long k = 0; k < n; ++k) out[k] += mid[k];
    x = out;
  }
  const auto nf = norm_ids_.values(params_);
  layernorm_rows(final_ln_.data(), final_mean_.data(), final_rstd_.data(), x, nf.weight, nf.bias, R, D);
  pool_forward(pooled_.data(), final_ln_.data(), B, L, D, config_.pool);
  linear_forward(logits_.data(), pooled_.data(), params_.value(head_weight_), params_.value(head_bias_), B, D,
                 config_.classes);
  return logits_.data();
}

template <class T>
const T* VitModel<T>::forward(const T* images, int B) {
  aux_loss_ = 0;
  return run_forward(images, B, [&](T* out, int block, int /*moe_layer*/, int batch) {
    if (config_.sparse()) return sparse_forward(out, block, batch);
    VitBlockActivations<T>& a = blocks_[sz(block)];
    softmoe_forward(out, *a.moe, a.ln2.data(), block_ids_[sz(block)].moe->values(params_, moe_shape_), moe_shape_,
                    batch);
  });
}

template <class T>
const T* VitModel<T>::forward_selected(const T* images, int B, const ExpertChooser& choose, bool renormalize,
                                       WorkCount* work) {
  if (config_.sparse()) throw std::logic_error("a sparse router chooses its own experts: no expert subsets");
  if (config_.mixing != Mixing::soft)
    throw std::logic_error("expert subsets are defined for the soft dispatch and combine only");
  if constexpr (std::is_same_v<T, float>) {
    return run_forward(images, B, [&](float* out, int block, int moe_layer, int batch) {
      const float* h = blocks_[sz(block)].ln2.data();
      const SoftMoeTensors<float> w = block_ids_[sz(block)].moe->values(params_, moe_shape_);
      route_batch(*select_ws_, h, w, moe_shape_, batch);
      choose(*select_ws_, moe_layer, batch);
      run_kept_experts(out, *select_ws_, h, w, moe_shape_, batch, renormalize, work);
    });
  } else {
    (void)images, (void)B, (void)choose, (void)renormalize, (void)work;
    throw std::logic_error("VitModel::forward_selected exists for float models only");
  }
}

template <class T>
void VitModel<T>::backward(const T* dlogits, int B) {
  // dlogits [B, classes]; the activations of the matching forward(); gradients accumulate
  check_batch(B, "backward");
  const int L = config_.tokens(), D = config_.dim, F = config_.mlp_width(), R = B * L;
  const long n = static_cast<long>(R) * D;
  const T* last = config_.depth > 0 ? blocks_.back().out.data() : embedded_.data();

  zero(dpooled_, static_cast<long>(B) * D);
  linear_backward(dpooled_.data(), params_.grad(head_weight_), params_.grad(head_bias_), dlogits, pooled_.data(),
                  params_.value(head_weight_), B, D, config_.classes);
  zero(dln_, n);
  pool_backward(dln_.data(), dpooled_.data(), B, L, D, config_.pool);
  const auto nf = norm_ids_.values(params_), gf = norm_ids_.grads(params_);
  zero(dstream_, n);
  layernorm_backward(dstream_.data(), gf.weight, gf.bias, dln_.data(), last, final_mean_.data(), final_rstd_.data(),
                     nf.weight, R, D);

  for (int i = config_.depth - 1; i >= 0; --i) {  // dstream_ holds d x_{i+1} on entry, d x_i on exit
    const BlockIds& ids = block_ids_[sz(i)];
    VitBlockActivations<T>& a = blocks_[sz(i)];
    const T* x = i > 0 ? blocks_[sz(i - 1)].out.data() : embedded_.data();
    zero(dln_, n);
    if (ids.moe) {
      softmoe_backward(dln_.data(), ids.moe->grads(params_, moe_shape_), dstream_.data(), *a.moe, a.ln2.data(),
                       ids.moe->values(params_, moe_shape_), moe_shape_, B);
      if (!config_.moe_residual) zero(dstream_, n);  // mid reaches the output only through the Soft MoE
    } else if (ids.sparse) {
      const SparseMoeShape s = config_.sparse_shape();
      sparse_moe_backward(dln_.data(), ids.sparse->grads(params_, s), dstream_.data(), *a.sparse, a.ln2.data(),
                          ids.sparse->values(params_, s), B);
      if (!config_.moe_residual) zero(dstream_, n);
    } else {
      const long hidden = static_cast<long>(R) * F;
      zero(dhidden_, hidden);
      linear_backward(dhidden_.data(), params_.grad(ids.fc2_weight), params_.grad(ids.fc2_bias), dstream_.data(),
                      a.hidden.data(), params_.value(ids.fc2_weight), R, F, D);
      zero(dhidden_pre_, hidden);
      gelu_backward_rows(dhidden_pre_.data(), dhidden_.data(), a.hidden_pre.data(), R, F);
      linear_backward(dln_.data(), params_.grad(ids.fc1_weight), params_.grad(ids.fc1_bias), dhidden_pre_.data(),
                      a.ln2.data(), params_.value(ids.fc1_weight), R, D, F);
    }
    const auto n1 = ids.norm1.values(params_), n2 = ids.norm2.values(params_);
    const auto g1 = ids.norm1.grads(params_), g2 = ids.norm2.grads(params_);
    layernorm_backward(dstream_.data(), g2.weight, g2.bias, dln_.data(), a.mid.data(), a.mean2.data(),
                       a.rstd2.data(), n2.weight, R, D);  // dstream_ = d mid
    zero(dln_, n);
    attention_backward(dln_.data(), ids.attn.grads(params_), dstream_.data(), a.attn, a.ln1.data(),
                       ids.attn.values(params_), attn_shape_, B);
    layernorm_backward(dstream_.data(), g1.weight, g1.bias, dln_.data(), x, a.mean1.data(), a.rstd1.data(), n1.weight,
                       R, D);  // dstream_ = d x_i
  }
  patch_embed_backward(static_cast<T*>(nullptr), embed_ids_.grads(params_, embed_shape_), dstream_.data(), embed_act_,
                       embed_ids_.values(params_, embed_shape_), embed_shape_, B);
}

template <class T>
std::size_t VitModel<T>::expert_params_per_layer() const {
  if (moe_blocks_.empty()) return 0;
  return config_.sparse() ? sparse_expert_params(config_.sparse_shape()) : softmoe_expert_params(moe_shape_);
}

template <class T>
double VitModel<T>::dense_flops_per_input() const {
  const VitConfig& c = config_;
  const double L = c.tokens(), D = c.dim, F = c.mlp_width(), p = c.patch;
  const double dense_blocks = c.depth - moe_layer_count();
  const double routers = c.sparse() ? moe_layer_count() * 2.0 * L * D * c.experts : 0.0;
  return 2.0 * c.patches() * p * p * D + c.depth * (2.0 * L * D * 4 * D + 4.0 * L * L * D) +
         dense_blocks * 4.0 * L * D * F + routers + 2.0 * D * c.classes;
}

template <class T>
SoftMoeTensors<T> VitModel<T>::moe_values(int moe_layer) {
  return block_ids_[sz(moe_blocks_.at(sz(moe_layer)))].moe->values(params_, moe_shape_);
}

template <class T>
SoftMoeActivations<T>& VitModel<T>::moe_activations(int moe_layer) {
  return *blocks_[sz(moe_blocks_.at(sz(moe_layer)))].moe;
}

template <class T>
LayerRouting<T> VitModel<T>::last_routing(int moe_layer) const {
  const VitBlockActivations<T>& a = blocks_[sz(moe_blocks_.at(sz(moe_layer)))];
  if (a.sparse) return {config_.tokens(), config_.experts, 1, a.sparse->gates.data(), nullptr};
  return {moe_shape_.tokens, moe_shape_.experts, moe_shape_.slots, a.moe->combine.data(), a.moe->dispatch.data()};
}

template struct VitBlockActivations<float>;
template struct VitBlockActivations<double>;
template class VitModel<float>;
template class VitModel<double>;

}  // namespace softmoe
