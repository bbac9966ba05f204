#include "softmoe/layers/embedding.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "softmoe/data/patch_layout.hpp"
#include "softmoe/kernels/gemm.hpp"
#include "softmoe/rng.hpp"

namespace softmoe {

using kernels::gemm;
using kernels::Trans;

void validate(const PatchEmbedShape& s) {
  if (s.rows <= 0 || s.cols <= 0 || s.patch <= 0 || s.dim <= 0 || s.rows % s.patch != 0 ||
      s.cols % s.patch != 0)
    throw std::invalid_argument("patch embedding: patch " + std::to_string(s.patch) + " must divide the " +
                                std::to_string(s.rows) + "x" + std::to_string(s.cols) +
                                " images, and dim (" + std::to_string(s.dim) + ") must be positive");
}

template <class T>
void patchify(T* patches, const T* images, int B, int rows, int cols, int patch) {
  // patches [B, P, p p]; images [B, rows, cols]
  const long image_size = static_cast<long>(rows) * cols;
  for (int b = 0; b < B; ++b) {
    const T* image = images + b * image_size;
    for_each_patch_row(rows, cols, patch, [&](long offset) {
      patches = std::copy(image + offset, image + offset + patch, patches);
    });
  }
}

template <class T>
void patchify_backward(T* dimages, const T* dpatches, int B, int rows, int cols, int patch) {
  // dimages [B, rows, cols] += dpatches [B, P, p p] in place
  const long image_size = static_cast<long>(rows) * cols;
  for (int b = 0; b < B; ++b) {
    T* image = dimages + b * image_size;
    for_each_patch_row(rows, cols, patch, [&](long offset) {
      for (int c = 0; c < patch; ++c) image[offset + c] += *dpatches++;
    });
  }
}

template <class T>
PatchEmbedParamIds patch_embed_register(ParamBuffer<T>& params, const PatchEmbedShape& s,
                                        const std::string& prefix) {
  validate(s);
  const auto D = static_cast<std::size_t>(s.dim), p = static_cast<std::size_t>(s.patch),
             L = static_cast<std::size_t>(s.tokens());
  PatchEmbedParamIds ids{};
  ids.proj_weight = params.add(prefix + "proj.weight", {D, 1, p, p});
  ids.proj_bias = params.add(prefix + "proj.bias", {D});
  ids.pos_embed = params.add(prefix + "pos_embed", {1, L, D});
  if (s.class_token) ids.cls_token = params.add(prefix + "cls_token", {1, 1, D});
  return ids;
}

template <class T>
void patch_embed_init(PatchEmbedTensors<T> w, const PatchEmbedShape& s, Rng& rng) {
  const long D = s.dim, K = s.patch_size(), L = s.tokens();
  const double bound = 1.0 / std::sqrt(static_cast<double>(K));
  for (long i = 0; i < D * K; ++i) w.proj_weight[i] = static_cast<T>(rng.uniform(-bound, bound));
  for (long i = 0; i < D; ++i) w.proj_bias[i] = static_cast<T>(rng.uniform(-bound, bound));
  for (long i = 0; i < L * D; ++i) w.pos_embed[i] = static_cast<T>(0.02 * rng.normal());
  if (w.cls_token) std::fill(w.cls_token, w.cls_token + D, T(0));
}

template <class T>
PatchEmbedActivations<T>::PatchEmbedActivations(const PatchEmbedShape& s, int max_batch_)
    : max_batch(max_batch_) {
  validate(s);
  const std::size_t B = static_cast<std::size_t>(max_batch_), P = s.patches(), K = s.patch_size();
  patches = make_buffer<T>(B * P * K);
  dpatches = make_buffer<T>(B * P * K);
}

template <class T>
void patch_embed_forward(T* y, PatchEmbedActivations<T>& act, const T* images, const PatchEmbedTensors<T>& w,
                         const PatchEmbedShape& s, int B) {
  // y [B, L, D]; images [B, rows, cols]; proj_weight [D, p p]; proj_bias [D]; pos_embed [L, D]; cls [D]
  // act.patches [B, P, p p]
  if (B > act.max_batch) throw std::invalid_argument("patch_embed_forward: batch exceeds max_batch");
  const int P = s.patches(), K = s.patch_size(), D = s.dim, L = s.tokens(), c = s.class_token ? 1 : 0;
  T* patches = act.patches.data();
  patchify(patches, images, B, s.rows, s.cols, s.patch);
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < L; ++t) {
      T* out = y + (static_cast<long>(b) * L + t) * D;
      const T* pos = w.pos_embed + static_cast<long>(t) * D;
      const T* add = t < c ? w.cls_token : w.proj_bias;
      for (int k = 0; k < D; ++k) out[k] = pos[k] + add[k];
    }
  if (c == 0) {  // the patch rows of all examples are contiguous: one GEMM
    gemm(Trans::no, Trans::yes, B * P, D, K, T(1), patches, K, w.proj_weight, K, T(1), y, D);
  } else {  // a class-token row separates the examples: one GEMM per example
    for (int b = 0; b < B; ++b)
      gemm(Trans::no, Trans::yes, P, D, K, T(1), patches + static_cast<long>(b) * P * K, K, w.proj_weight, K,
           T(1), y + (static_cast<long>(b) * L + c) * D, D);
  }
}

template <class T>
void patch_embed_backward(T* dimages, const PatchEmbedTensors<T>& g, const T* dy, PatchEmbedActivations<T>& act,
                          const PatchEmbedTensors<T>& w, const PatchEmbedShape& s, int B) {
  // dimages [B, rows, cols] (or null); dy [B, L, D]; act.patches from the matching forward
  if (B > act.max_batch) throw std::invalid_argument("patch_embed_backward: batch exceeds max_batch");
  const int P = s.patches(), K = s.patch_size(), D = s.dim, L = s.tokens(), c = s.class_token ? 1 : 0;
  const T* patches = act.patches.data();
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < L; ++t) {
      const T* grad = dy + (static_cast<long>(b) * L + t) * D;
      T* dpos = g.pos_embed + static_cast<long>(t) * D;
      T* dadd = t < c ? g.cls_token : g.proj_bias;
      for (int k = 0; k < D; ++k) {
        dpos[k] += grad[k];
        dadd[k] += grad[k];
      }
    }
  // dW [D, p p] += dy_patches^T patches; dpatches [P, p p] = dy_patches W
  T* dpatches = act.dpatches.data();
  if (c == 0) {
    gemm(Trans::yes, Trans::no, D, K, B * P, T(1), dy, D, patches, K, T(1), g.proj_weight, K);
    if (dimages) gemm(Trans::no, Trans::no, B * P, K, D, T(1), dy, D, w.proj_weight, K, T(0), dpatches, K);
  } else {
    for (int b = 0; b < B; ++b) {
      const T* grad = dy + (static_cast<long>(b) * L + c) * D;
      const long at = static_cast<long>(b) * P * K;
      gemm(Trans::yes, Trans::no, D, K, P, T(1), grad, D, patches + at, K, T(1), g.proj_weight, K);
      if (dimages) gemm(Trans::no, Trans::no, P, K, D, T(1), grad, D, w.proj_weight, K, T(0), dpatches + at, K);
    }
  }
  if (dimages) patchify_backward(dimages, dpatches, B, s.rows, s.cols, s.patch);
}

#define SOFTMOE_INSTANTIATE_EMBEDDING(T)                                                                    \
  template void patchify<T>(T*, const T*, int, int, int, int);                                              \
  template void patchify_backward<T>(T*, const T*, int, int, int, int);                                     \
  template PatchEmbedParamIds patch_embed_register<T>(ParamBuffer<T>&, const PatchEmbedShape&,              \
                                                      const std::string&);                                \
  template void patch_embed_init<T>(PatchEmbedTensors<T>, const PatchEmbedShape&, Rng&);                    \
  template struct PatchEmbedActivations<T>;                                                                 \
  template void patch_embed_forward<T>(T*, PatchEmbedActivations<T>&, const T*, const PatchEmbedTensors<T>&, \
                                       const PatchEmbedShape&, int);                                        \
  template void patch_embed_backward<T>(T*, const PatchEmbedTensors<T>&, const T*, PatchEmbedActivations<T>&, \
                                        const PatchEmbedTensors<T>&, const PatchEmbedShape&, int);
SOFTMOE_INSTANTIATE_EMBEDDING(float)
SOFTMOE_INSTANTIATE_EMBEDDING(double)

}  // namespace softmoe
