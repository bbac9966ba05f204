// `--router` and its flags: the sparse layer they describe, and the checks that refuse what does not fit.
#include <cmath>

#include <fmt/format.h>

#include "softmoe/commands/train.hpp"
#include "softmoe/data/paper_mnist.hpp"
#include "softmoe/errors.hpp"

namespace softmoe {
namespace {

void require(bool ok, const std::string& message) {
  if (!ok) throw UsageError(message);
}

SparseRouting routing_of(Router router) {
  switch (router) {
    case Router::tokens_choice: return SparseRouting::tokens_choice;
    case Router::experts_choice: return SparseRouting::experts_choice;
    default: return SparseRouting::dense;
  }
}

}  // namespace

SparseMoeShape sparse_moe_shape(const RouterOptions& o, int experts, int tokens, int dim, int hidden, int dim_out) {
  const std::string router = to_string(o.router);
  const bool tc = o.router == Router::tokens_choice, ec = o.router == Router::experts_choice;
  require(tc || !o.k, fmt::format("--router-k: only with --router tokens-choice (this is {})", router));
  require(tc || !o.bpr, fmt::format("--bpr: only with --router tokens-choice (this is {})", router));
  require(tc || !o.aux, fmt::format("--aux-loss: only with --router tokens-choice (this is {})", router));
  require(tc || !o.aux_weight, fmt::format("--aux-weight: only with --router tokens-choice (this is {})", router));
  require(tc || ec || (!o.capacity_factor && !o.group_images && !o.noise),
          fmt::format("--capacity-factor/--group-images/--router-noise: a {} layer routes nothing", router));
  SparseMoeShape s;
  s.routing = routing_of(o.router);
  s.tokens = tokens;
  s.dim = dim;
  s.dim_out = dim_out;
  s.experts = tc || ec ? experts : 1;
  s.hidden = tc || ec ? hidden : experts * hidden;
  s.k = o.k.value_or(1);
  s.capacity_factor = o.capacity_factor.value_or(1.0);
  s.group_images = o.group_images.value_or(8);
  s.bpr = o.bpr;
  s.noise_std = tc || ec ? o.noise.value_or(1.0) : 0.0;
  s.aux = tc ? o.aux.value_or(AuxLoss::importance_load) : AuxLoss::none;
  s.aux_weight = tc ? o.aux_weight.value_or(0.005) : 0.0;
  require(s.k >= 1 && s.k <= experts,
          fmt::format("--router-k: must be in 1..{} (--experts {}; got {})", experts, experts, s.k));
  require(std::isfinite(s.capacity_factor) && s.capacity_factor > 0,
          fmt::format("--capacity-factor: must be a positive number (got {})", s.capacity_factor));
  require(s.group_images >= 1, fmt::format("--group-images: must be at least 1 (got {})", s.group_images));
  require(std::isfinite(s.noise_std) && s.noise_std >= 0,
          fmt::format("--router-noise: must be non-negative (got {})", s.noise_std));
  require(std::isfinite(s.aux_weight) && s.aux_weight >= 0,
          fmt::format("--aux-weight: must be non-negative (got {})", s.aux_weight));
  if (ec && experts_choice_rounded_capacity(s, s.group_tokens(s.group_images)) < 1) {
    SparseMoeShape larger = s;
    while (experts_choice_rounded_capacity(larger, larger.group_tokens(larger.group_images)) < 1) ++larger.group_images;
    throw UsageError(fmt::format("--group-images {}: Experts Choice capacity round({} tokens x {} / {} experts) is 0; "
                                 "use --group-images {} or more (or a larger --capacity-factor)",
                                 s.group_images, s.group_tokens(s.group_images), s.capacity_factor, experts,
                                 larger.group_images));
  }
  return s;
}

RoutedModelConfig routed_paper_mnist_model(const TrainConfig& c) {
  const MoeModelConfig soft = paper_mnist_model(c);
  require(c.slots == 1, fmt::format("--slots: a Soft MoE setting (--router {} has none)", to_string(c.routing.router)));
  RoutedModelConfig m;
  m.moe = sparse_moe_shape(c.routing, soft.moe.experts, soft.moe.tokens, soft.moe.dim, soft.moe.hidden, soft.moe.dim_out);
  m.moe.expert_bias = soft.moe.expert_bias;
  m.moe.activation = soft.moe.activation;
  m.outputs = soft.outputs;
  m.head_bias = soft.head_bias;
  return m;
}

}  // namespace softmoe
