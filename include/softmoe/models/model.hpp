#pragma once
// The one interface of every trainable model: the paper's MNIST model (moe_model.hpp), the ViT (vit.hpp),
// and whatever comes next (sparse-router models, the RL network). Training (train/), expert-subset
// evaluation (eval/) and the commands reach a model through this alone. Batched layouts:
//   inputs [B, input_size()]  ->  outputs [B, outputs()]     (B <= max_batch())
#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <vector>

#include "softmoe/layers/softmoe.hpp"
#include "softmoe/layers/softmoe_selected.hpp"
#include "softmoe/layers/sparse_moe.hpp"
#include "softmoe/params.hpp"

namespace softmoe {

class Rng;

// Chooses the experts of one Soft MoE layer: fills ws.keep [B, n] from what route_batch left in ws
// (ws.scores [B, n], the total combine weight of each expert). moe_layer is the layer's position in
// moe_layers() (0, 1, ...).
using ExpertChooser = std::function<void(SelectionWorkspace& ws, int moe_layer, int B)>;

// How one MoE layer routed the inputs of the last forward() (eval/routing_stats.hpp reads it). Per input,
// its m tokens' weights over the layer's n * columns columns:
//   combine  [B, m, n columns]  Soft MoE: C (each token's row sums to 1); sparse routers: the gates g
//   dispatch [B, m, n columns]  Soft MoE: D (each slot's column sums to 1 over the input's tokens);
//                               null for sparse routers (their dispatch is a hard choice)
// columns is p (slots per expert) for a Soft MoE, 1 for a sparse router; expert j owns columns
// j columns .. (j + 1) columns - 1.
template <class T>
struct LayerRouting {
  int tokens = 0;
  int experts = 0;
  int columns = 1;
  const T* combine = nullptr;
  const T* dispatch = nullptr;
};

template <class T>
class Model {
 public:
  virtual ~Model() = default;

  // Draws every parameter from rng (each model's own scheme).
  virtual void init(Rng& rng) = 0;

  // outputs from inputs; both stay valid (inputs unchanged) until backward(). Allocates nothing.
  virtual const T* forward(const T* inputs, int B) = 0;
  // Accumulates every parameter gradient from doutputs [B, outputs()] of the last forward call.
  virtual void backward(const T* doutputs, int B) = 0;
  // Inference with a per-input subset of experts in every Soft MoE layer (Algorithm 2 of Chung et al.),
  // float models only (others throw std::logic_error). At each layer, in forward order: route_batch,
  // choose, then only the kept experts run (renormalize: C renormalised over the kept slots), adding
  // their work to `work` when not null. Keeping every expert gives forward()'s outputs up to rounding.
  // Leaves forward()'s activations unspecified: no backward() after it.
  virtual const T* forward_selected(const T* inputs, int B, const ExpertChooser& choose, bool renormalize,
                                    WorkCount* work) = 0;

  virtual ParamBuffer<T>& params() = 0;
  virtual int max_batch() const = 0;
  virtual int outputs() const = 0;
  virtual std::size_t input_size() const = 0;  // floats per example

  // The Soft MoE layers in forward order (their n, slots and expert shapes); empty for a dense model.
  virtual std::vector<SoftMoeShape> moe_layers() const = 0;
  // Floating-point operations per input outside the Soft MoE layers, in the matrix products (a
  // multiply-add counts 2): with moe_layers(), what eval/ counts as a forward pass's work.
  virtual double dense_flops_per_input() const = 0;

  // Parameters of all experts of all MoE layers (w1, w2 and their biases), as the paper counts them.
  virtual std::size_t expert_param_count() const {
    std::size_t total = 0;
    for (const SoftMoeShape& shape : moe_layers()) total += softmoe_expert_params(shape);
    return total;
  }

  // Sparse routers (sparse_moe.hpp) only; a Soft MoE model keeps these defaults.
  // Training adds router noise (drawn from a generator seeded with noise_seed); evaluation does not.
  virtual void set_training(bool training, std::uint64_t noise_seed) { (void)training, (void)noise_seed; }
  // The weighted auxiliary loss of the last forward(); backward() adds its gradient.
  virtual double auxiliary_loss() const { return 0; }
  // What the routers did since the last reset, summed over layers; null for a model without sparse routers.
  virtual const RoutingCounts* routing_counts() const { return nullptr; }
  virtual void reset_routing_counts() {}
  // The MoE layers (Soft MoE or sparse) in forward order, and how each routed the last forward()'s inputs
  // (valid until the next forward call).
  virtual int routing_layers() const { return 0; }
  virtual LayerRouting<T> last_routing(int layer) const {
    (void)layer;
    throw std::logic_error("last_routing: this model has no MoE layer");
  }
  // Expert work of the forward passes since the last reset, as measured (a multiply-add counts 2).
  virtual double measured_expert_flops() const { return 0; }
};

}  // namespace softmoe
