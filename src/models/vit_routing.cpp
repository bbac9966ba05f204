// The ViT's sparse-router blocks: noise, the forward branch, and what the routers report.
#include "softmoe/models/vit.hpp"
#include "softmoe/rng.hpp"

namespace softmoe {

template <class T>
void VitModel<T>::set_training(bool training, std::uint64_t noise_seed) {
  training_ = training;
  if (training && config_.sparse() && config_.router->noise_std > 0)
    noise_rng_ = std::make_unique<Rng>(noise_seed, Stream::router_noise);
}

template <class T>
void VitModel<T>::sparse_forward(T* out, int block, int B) {
  // out [B, L, D] = the block's sparse MoE of LN2(mid); noise drawn per layer in block order
  const SparseMoeShape s = config_.sparse_shape();
  VitBlockActivations<T>& a = blocks_[static_cast<std::size_t>(block)];
  const T* noise = nullptr;
  if (training_ && s.noise_std > 0) {
    const double std = s.noise_std / s.experts;
    const long values = static_cast<long>(B) * s.tokens * s.experts;
    for (long i = 0; i < values; ++i) noise_[i] = static_cast<T>(std * noise_rng_->normal());
    noise = noise_.data();
  }
  const SparseMoeParamIds& ids = *block_ids_[static_cast<std::size_t>(block)].sparse;
  sparse_moe_forward(out, *a.sparse, a.ln2.data(), noise, ids.values(params_, s), B);
  counts_.add(a.sparse->last);
  aux_loss_ += a.sparse->last.aux_loss;
}

template <class T>
double VitModel<T>::measured_expert_flops() const {
  const double D = config_.dim, h = config_.expert_width();
  return static_cast<double>(counts_.kept) * 2.0 * (D * h + h * D);
}

#define SOFTMOE_VIT_ROUTING(T)                                           \
  template void VitModel<T>::set_training(bool, std::uint64_t);          \
  template void VitModel<T>::sparse_forward(T*, int, int);               \
  template double VitModel<T>::measured_expert_flops() const;
SOFTMOE_VIT_ROUTING(float)
SOFTMOE_VIT_ROUTING(double)
#undef SOFTMOE_VIT_ROUTING

}  // namespace softmoe
