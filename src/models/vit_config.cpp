#include <algorithm>
#include <stdexcept>
#include <string>

#include "softmoe/models/vit.hpp"

namespace softmoe {

std::vector<int> default_moe_layers(int depth) {
  std::vector<int> blocks;
  for (int i = depth / 2; i < depth; ++i) blocks.push_back(i);
  return blocks;
}

int VitConfig::expert_width() const {
  if (expert_hidden > 0) return expert_hidden;
  return experts > 0 ? std::max(1, mlp_width() / experts) : 0;
}

std::vector<int> VitConfig::moe_blocks() const {
  if (experts == 0) return {};
  std::vector<int> blocks = moe_layers.empty() ? default_moe_layers(depth) : moe_layers;
  std::sort(blocks.begin(), blocks.end());
  return blocks;
}

PatchEmbedShape VitConfig::embed_shape() const { return {rows, cols, patch, dim, class_token()}; }

AttentionShape VitConfig::attention_shape() const { return {tokens(), dim, heads}; }

SoftMoeShape VitConfig::moe_shape() const {
  SoftMoeShape s;
  s.tokens = tokens();
  s.dim = dim;
  s.experts = experts;
  s.slots = slots;
  s.hidden = expert_width();
  s.dim_out = dim;
  s.expert_bias = true;
  s.activation = Activation::gelu;
  s.normalize = normalize;
  s.mixing = mixing;
  return s;
}

SparseMoeShape VitConfig::sparse_shape() const {
  SparseMoeShape s = router.value_or(SparseMoeShape{});
  s.tokens = tokens();
  s.dim = dim;
  s.experts = experts;
  s.hidden = expert_width();
  s.dim_out = dim;
  s.expert_bias = true;
  s.activation = Activation::gelu;
  return s;
}

void validate(const VitConfig& c) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("vit: " + what); };
  if (c.rows <= 0 || c.cols <= 0 || c.patch <= 0 || c.rows % c.patch != 0 || c.cols % c.patch != 0)
    fail("patch " + std::to_string(c.patch) + " must divide the " + std::to_string(c.rows) + "x" +
         std::to_string(c.cols) + " images");
  if (c.dim <= 0 || c.heads <= 0 || c.dim % c.heads != 0)
    fail("heads (" + std::to_string(c.heads) + ") must divide dim (" + std::to_string(c.dim) + ")");
  if (c.depth <= 0) fail("depth must be positive, got " + std::to_string(c.depth));
  if (c.mlp_hidden < 0) fail("mlp hidden width must not be negative");
  if (c.classes <= 0) fail("classes must be positive");
  if (c.experts < 0) fail("experts must not be negative");
  if (c.experts == 0) return;
  if (c.slots < 1) fail("slots per expert must be at least 1, got " + std::to_string(c.slots));
  if (c.router && c.router->routing == SparseRouting::dense) fail("a dense ViT is experts = 0, not a dense router");
  if (c.expert_hidden < 0) fail("expert hidden width must not be negative");
  const auto blocks = c.moe_blocks();
  for (std::size_t k = 0; k < blocks.size(); ++k) {
    if (blocks[k] < 0 || blocks[k] >= c.depth)
      fail("MoE block " + std::to_string(blocks[k]) + " outside the " + std::to_string(c.depth) + " blocks");
    if (k > 0 && blocks[k] == blocks[k - 1]) fail("MoE block " + std::to_string(blocks[k]) + " listed twice");
  }
}

}  // namespace softmoe
