#pragma once
// Patch embedding of one-channel images, a ViT's first layer:
//   images [B, rows, cols] (already normalised floats) -> patches [B, P, p p] -> tokens y [B, L, D]
// with P = (rows / p) (cols / p) patches of p x p pixels, in the order of softmoe::patch_tokens:
// patch t = pr (cols / p) + pc row-major, pixel k = (r % p) p + c % p row-major within its patch. Then
//   y[b, c + t] = patches[b, t] W^T + bias + pos[c + t]     (c = 1 with a class token, else 0)
//   y[b, 0]     = cls + pos[0]                              (with a class token)
// so L = P + c. The linear map is nn.Conv2d(1, D, kernel_size=p, stride=p) applied to the image,
// flattened over the patch grid and transposed to [B, P, D].
//
// Parameters under a prefix (the checkpoint contract, torchvision's / timm's layouts):
//   proj.weight [D, 1, p, p]  (nn.Conv2d's weight; the same memory as a Linear weight [D, p p])
//   proj.bias   [D]
//   pos_embed   [1, L, D]     (position embedding [L, D])
//   cls_token   [1, 1, D]     (class token [D]; only with a class token)
// Backward accumulates into parameter gradients and, when dimages is not null, into dimages
// [B, rows, cols].
#include <cstddef>
#include <string>

#include "softmoe/params.hpp"
#include "softmoe/tensor.hpp"

namespace softmoe {

class Rng;

struct PatchEmbedShape {
  int rows = 0, cols = 0;    // image size
  int patch = 1;             // p, divides rows and cols
  int dim = 0;               // D
  bool class_token = false;  // prepend a learned class token

  int patches() const { return (rows / patch) * (cols / patch); }  // P
  int patch_size() const { return patch * patch; }                 // p p, the linear map's fan-in
  int tokens() const { return patches() + (class_token ? 1 : 0); }  // L
};

// Throws std::invalid_argument unless rows, cols, patch, dim > 0 and patch divides rows and cols.
void validate(const PatchEmbedShape& shape);

// patches [B, P, p p] from images [B, rows, cols] (patch_tokens' layout, without its byte decoding).
template <class T>
void patchify(T* patches, const T* images, int B, int rows, int cols, int patch);
// Its adjoint: dimages [B, rows, cols] += the pixels of dpatches [B, P, p p] put back in place.
template <class T>
void patchify_backward(T* dimages, const T* dpatches, int B, int rows, int cols, int patch);

// Pointers to the layer's tensors inside a ParamBuffer (values or gradients); cls_token is null
// without a class token.
template <class T>
struct PatchEmbedTensors {
  T* proj_weight = nullptr;  // [D, p p]
  T* proj_bias = nullptr;    // [D]
  T* pos_embed = nullptr;    // [L, D]
  T* cls_token = nullptr;    // [D]
};

struct PatchEmbedParamIds {
  std::size_t proj_weight, proj_bias, pos_embed;
  std::size_t cls_token = 0;  // valid only with a class token

  template <class T>
  PatchEmbedTensors<T> values(ParamBuffer<T>& params, const PatchEmbedShape& shape) const {
    return {params.value(proj_weight), params.value(proj_bias), params.value(pos_embed),
            shape.class_token ? params.value(cls_token) : nullptr};
  }
  template <class T>
  PatchEmbedTensors<T> grads(ParamBuffer<T>& params, const PatchEmbedShape& shape) const {
    return {params.grad(proj_weight), params.grad(proj_bias), params.grad(pos_embed),
            shape.class_token ? params.grad(cls_token) : nullptr};
  }
};

// Registers PREFIX + proj.weight, proj.bias, pos_embed and (with a class token) cls_token.
template <class T>
PatchEmbedParamIds patch_embed_register(ParamBuffer<T>& params, const PatchEmbedShape& shape,
                                        const std::string& prefix = "");

// proj.weight and proj.bias as nn.Conv2d's default (uniform in +-1/sqrt(p p)); pos_embed normal with
// std 0.02 and cls_token 0, as torchvision's VisionTransformer.
template <class T>
void patch_embed_init(PatchEmbedTensors<T> w, const PatchEmbedShape& shape, Rng& rng);

// The patches forward keeps for the weight gradient, plus backward's scratch; sized once for max_batch.
template <class T>
struct PatchEmbedActivations {
  PatchEmbedActivations(const PatchEmbedShape& shape, int max_batch);

  int max_batch;
  Buffer<T> patches;   // [B, P, p p]
  Buffer<T> dpatches;  // [B, P, p p]  backward scratch, used only for dimages
};

// y [B, L, D] from images [B, rows, cols]. B <= act.max_batch.
template <class T>
void patch_embed_forward(T* y, PatchEmbedActivations<T>& act, const T* images, const PatchEmbedTensors<T>& w,
                         const PatchEmbedShape& shape, int B);

// Accumulates parameter gradients into g and, when dimages is not null, image gradients.
// Needs the activations of the matching forward call.
template <class T>
void patch_embed_backward(T* dimages, const PatchEmbedTensors<T>& g, const T* dy, PatchEmbedActivations<T>& act,
                          const PatchEmbedTensors<T>& w, const PatchEmbedShape& shape, int B);

}  // namespace softmoe
