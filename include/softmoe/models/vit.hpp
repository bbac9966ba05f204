#pragma once
// A Vision Transformer for one-channel images whose MLPs may be Soft MoE layers (the paper's ViT family,
// section 6 of the reference note, at CPU scale). Per example, with L = P + c tokens (P patches, c = 1
// with a class token) of width D:
//   x_0 = PatchEmbed(image) (+ class token) + pos_embed                                  [L, D]
//   for block i < depth (pre-LayerNorm):
//     x   = x_i + MHA(LN1(x_i))
//     h   = LN2(x)
//     x_{i+1} = x + MLP(h)        dense block: fc2(GELU(fc1(h))), D -> mlp_width -> D, biases on
//     x_{i+1} = x + SoftMoE(h)    MoE block (moe_residual on)
//     x_{i+1} = SoftMoE(h)        MoE block (moe_residual off, the paper's final CIFAR runs)
//   logits = head(pool(LN(x_depth)))                                                    [classes]
// The Soft MoE of a block treats each example as one input of m = L tokens (the class token is routed
// like any other), d = d_out = D; its experts are Linear(D -> expert_hidden) -> GELU -> Linear(-> D)
// with biases, exact (erf) GELU everywhere. Batched layouts: images [B, rows cols] (normalised floats),
// tokens [B, L, D], logits [B, classes].
//
// Parameter names are the checkpoint contract (timm's VisionTransformer where it has a counterpart):
//   patch_embed.proj.weight [D, 1, p, p]   patch_embed.proj.bias [D]
//   cls_token [1, 1, D] (pool cls only)    pos_embed [1, L, D]
//   blocks.{i}.norm1.weight [D]            blocks.{i}.norm1.bias [D]
//   blocks.{i}.attn.in_proj_weight [3D, D] blocks.{i}.attn.in_proj_bias [3D]
//   blocks.{i}.attn.out_proj.weight [D, D] blocks.{i}.attn.out_proj.bias [D]
//   blocks.{i}.norm2.weight [D]            blocks.{i}.norm2.bias [D]
//   dense block: blocks.{i}.mlp.fc1.weight [F, D], blocks.{i}.mlp.fc1.bias [F],
//                blocks.{i}.mlp.fc2.weight [D, F], blocks.{i}.mlp.fc2.bias [D]          (F = mlp_width)
//   MoE block:   blocks.{i}.moe.router.phi [D, n p], blocks.{i}.moe.router.scale [1],
//                blocks.{i}.moe.experts.w1 [n, D, h], blocks.{i}.moe.experts.b1 [n, h],
//                blocks.{i}.moe.experts.w2 [n, h, D], blocks.{i}.moe.experts.b2 [n, D]  (h = expert_width)
//   norm.weight [D]  norm.bias [D]  head.weight [classes, D]  head.bias [classes]
// registered in that order (blocks in index order).
//
// Threads: the GEMMs use OpenBLAS's threads, the Soft MoE layers and the model's row-wise loops
// (LayerNorm forward, GELU) the engine's (kernels/parallel.hpp); results do not depend on the count
// beyond GEMM rounding.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "softmoe/layers/attention.hpp"
#include "softmoe/layers/embedding.hpp"
#include "softmoe/layers/layernorm.hpp"
#include "softmoe/layers/pooling.hpp"
#include "softmoe/layers/softmoe.hpp"
#include "softmoe/layers/softmoe_selected.hpp"
#include "softmoe/layers/sparse_moe.hpp"
#include "softmoe/models/model.hpp"
#include "softmoe/params.hpp"
#include "softmoe/rng.hpp"
#include "softmoe/tensor.hpp"

namespace softmoe {

struct VitConfig {
  int rows = 28, cols = 28;    // image size
  int patch = 4;               // p, divides rows and cols
  int dim = 64;                // D
  int depth = 4;               // number of blocks
  int heads = 4;               // divides D
  int mlp_hidden = 0;          // F, the dense MLP's hidden width; 0: 4 D
  Pool pool = Pool::cls;       // cls also adds the class token; mean has none
  std::vector<int> moe_layers; // blocks with a Soft MoE in place of the MLP; empty: default_moe_layers(depth)
  bool moe_residual = true;    // keep the residual around the Soft MoE
  int experts = 0;             // n; 0: every block keeps its dense MLP (the baseline)
  int slots = 1;               // p, slots per expert
  int expert_hidden = 0;       // each expert's hidden width; 0: max(1, mlp_width() / experts)
  Normalize normalize = Normalize::router;
  Mixing mixing = Mixing::soft;  // the Soft MoE's dispatch and combine (or a routing ablation)
  PhiInit phi_init = PhiInit::normal;
  int classes = 10;
  // A sparse router (Tokens Choice or Experts Choice) in place of the Soft MoE of every MoE block: its
  // routing settings (routing, k, capacity factor, groups, BPR, noise, auxiliary loss); the shape fields
  // are filled by sparse_shape(). Empty: Soft MoE.
  std::optional<SparseMoeShape> router;

  bool class_token() const { return pool == Pool::cls; }
  int patches() const { return (rows / patch) * (cols / patch); }
  int tokens() const { return patches() + (class_token() ? 1 : 0); }  // L
  int mlp_width() const { return mlp_hidden > 0 ? mlp_hidden : 4 * dim; }
  int expert_width() const;
  // The MoE blocks, ascending: empty when experts == 0, else moe_layers or default_moe_layers(depth).
  std::vector<int> moe_blocks() const;

  PatchEmbedShape embed_shape() const;
  AttentionShape attention_shape() const;
  SoftMoeShape moe_shape() const;  // every MoE block has this shape
  bool sparse() const { return router.has_value(); }
  // With a sparse router: its layer over m = L tokens of width D, experts as the Soft MoE's (GELU, biases).
  SparseMoeShape sparse_shape() const;
};

// The last half of the blocks: depth / 2, ..., depth - 1 (for odd depth the larger half).
std::vector<int> default_moe_layers(int depth);

// Throws std::invalid_argument naming the first bad setting: non-positive sizes, a patch not dividing
// the image, heads not dividing dim, MoE block indices out of [0, depth) or repeated, slots < 1.
void validate(const VitConfig& config);

// What one block's forward keeps for backward, sized for max_batch (R = B L rows).
template <class T>
struct VitBlockActivations {
  VitBlockActivations(const VitConfig& config, bool moe, int max_batch);

  Buffer<T> ln1, mean1, rstd1;       // LN1(x_i) [R, D]; mean, rstd [R]
  AttentionActivations<T> attn;
  Buffer<T> mid;                     // x_i + MHA(LN1(x_i)) [R, D]
  Buffer<T> ln2, mean2, rstd2;       // h = LN2(mid) [R, D]; mean, rstd [R]
  Buffer<T> hidden_pre, hidden;      // dense blocks: fc1(h), GELU(fc1(h)) [R, F]; empty for MoE blocks
  std::optional<SoftMoeActivations<T>> moe;  // MoE blocks with a Soft MoE
  std::optional<SparseMoeActivations<T>> sparse;  // MoE blocks with a sparse router
  Buffer<T> out;                     // x_{i+1} [R, D]
};

// Inputs are normalised images [B, rows cols]; outputs the logits [B, classes].
template <class T>
class VitModel final : public Model<T> {
 public:
  // Registers and allocates every parameter and activation for batches of up to max_batch examples;
  // validate(config) first.
  VitModel(const VitConfig& config, int max_batch);

  // PyTorch's initialisations: nn.Conv2d / nn.Linear defaults (uniform in +-1/sqrt(fan_in)) for the
  // patch projection, fc1, fc2 and the head; pos_embed normal with std 0.02, cls_token 0; LayerNorms
  // 1 and 0; attention as attention_init; Soft MoE as softmoe_init with config.phi_init.
  void init(Rng& rng) override;

  // logits [B, classes] from images [B, rows cols]. B <= max_batch. Allocates nothing.
  const T* forward(const T* images, int B) override;
  // Accumulates every parameter gradient from dlogits [B, classes] of the last forward call.
  void backward(const T* dlogits, int B) override;

  // Inference with expert subsets in every Soft MoE layer (float only; other T throw std::logic_error).
  // Each example is one Soft MoE input of m = L tokens. At each MoE layer, in block order: route_batch
  // fills ws (dispatch, combine, scores [B, n]); choose(ws, moe_layer, B) fills ws.keep [B, n], where
  // moe_layer is the layer's position in config().moe_blocks() (0, 1, ...); run_kept_experts runs only
  // the kept experts (renormalize: C renormalised over the kept slots) and adds its work to `work` when
  // not null. Returns logits [B, classes]; keeping every expert gives forward()'s logits up to rounding.
  // Leaves the activations of forward() in an unspecified state (do not call backward after it).
  const T* forward_selected(const T* images, int B, const ExpertChooser& choose, bool renormalize,
                            WorkCount* work) override;

  ParamBuffer<T>& params() override { return params_; }
  const ParamBuffer<T>& params() const { return params_; }
  const VitConfig& config() const { return config_; }
  int max_batch() const override { return max_batch_; }
  int outputs() const override { return config_.classes; }
  std::size_t input_size() const override {
    return static_cast<std::size_t>(config_.rows) * static_cast<std::size_t>(config_.cols);
  }
  // The Soft MoE layers; empty for the dense baseline and with a sparse router.
  std::vector<SoftMoeShape> moe_layers() const override {
    return config_.sparse() ? std::vector<SoftMoeShape>{} : std::vector<SoftMoeShape>(moe_blocks_.size(), moe_shape_);
  }
  // Patch embedding, attention (projections, scores, weighted values), dense MLPs, sparse routers' logits, head.
  double dense_flops_per_input() const override;

  // Parameters of one MoE layer's experts (w1, b1, w2, b2); 0 for the dense baseline.
  std::size_t expert_params_per_layer() const;
  std::size_t expert_param_count() const override { return moe_blocks_.size() * expert_params_per_layer(); }

  // Sparse routers (vit_routing.cpp): noise in training, the auxiliary losses summed over layers, the
  // routers' counts summed over layers.
  void set_training(bool training, std::uint64_t noise_seed) override;
  double auxiliary_loss() const override { return aux_loss_; }
  const RoutingCounts* routing_counts() const override { return config_.sparse() ? &counts_ : nullptr; }
  void reset_routing_counts() override { counts_ = RoutingCounts{}; }
  double measured_expert_flops() const override;

  int routing_layers() const override { return config_.experts > 0 ? moe_layer_count() : 0; }
  LayerRouting<T> last_routing(int moe_layer) const override;

  // The Soft MoE layers, by position in config().moe_blocks().
  int moe_layer_count() const { return static_cast<int>(moe_blocks_.size()); }
  const SoftMoeShape& moe_shape() const { return moe_shape_; }
  SoftMoeTensors<T> moe_values(int moe_layer);
  SoftMoeActivations<T>& moe_activations(int moe_layer);

  // Activations of the last forward(): block i's, and the final LayerNorm's output [B, L, D].
  const VitBlockActivations<T>& block_activations(int block) const { return blocks_[block]; }
  const T* embedded() const { return embedded_.data(); }    // x_0 [B, L, D]
  const T* final_tokens() const { return final_ln_.data(); }
  const T* pooled() const { return pooled_.data(); }        // [B, D]

 private:
  struct BlockIds {
    LayerNormParamIds norm1, norm2;
    AttentionParamIds attn;
    std::size_t fc1_weight = 0, fc1_bias = 0, fc2_weight = 0, fc2_bias = 0;  // dense blocks
    std::optional<SoftMoeParamIds> moe;                                       // Soft MoE blocks
    std::optional<SparseMoeParamIds> sparse;                                  // sparse-router blocks
    bool is_moe() const { return moe || sparse; }
  };
  // A sparse-router block's branch into out [B, L, D] (vit_routing.cpp).
  void sparse_forward(T* out, int block, int B);

  // Everything after the attention of block i: h = LN2(mid), out = mid + branch(h) or branch(h).
  // moe_step(out, block) computes a MoE block's branch into out [B, L, D].
  template <class MoeStep>
  const T* run_forward(const T* images, int B, MoeStep&& moe_step);
  void check_batch(int B, const char* what) const;

  VitConfig config_;
  int max_batch_;
  PatchEmbedShape embed_shape_;
  AttentionShape attn_shape_;
  SoftMoeShape moe_shape_;
  std::vector<int> moe_blocks_;

  ParamBuffer<T> params_;
  PatchEmbedParamIds embed_ids_;
  std::vector<BlockIds> block_ids_;
  LayerNormParamIds norm_ids_;
  std::size_t head_weight_ = 0, head_bias_ = 0;

  // forward
  PatchEmbedActivations<T> embed_act_;
  Buffer<T> embedded_;                         // x_0 [B, L, D]
  std::vector<VitBlockActivations<T>> blocks_;
  Buffer<T> final_ln_, final_mean_, final_rstd_;  // [B, L, D], [B L], [B L]
  Buffer<T> pooled_;                           // [B, D]
  Buffer<T> logits_;                           // [B, classes]
  // backward scratch
  Buffer<T> dstream_;                          // gradient of the residual stream [B, L, D]
  Buffer<T> dln_;                              // gradient of a LayerNorm's output [B, L, D]
  Buffer<T> dhidden_, dhidden_pre_;            // [B L, F]
  Buffer<T> dpooled_;                          // [B, D]
  // forward_selected (float models with Soft MoE layers only)
  std::unique_ptr<SelectionWorkspace> select_ws_;
  // sparse routers
  bool training_ = false;
  std::unique_ptr<Rng> noise_rng_;
  Buffer<T> noise_;  // [B L, n]
  double aux_loss_ = 0;
  RoutingCounts counts_;
};

extern template class VitModel<float>;
extern template class VitModel<double>;

}  // namespace softmoe
