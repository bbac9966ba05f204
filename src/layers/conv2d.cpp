#include "softmoe/layers/conv2d.hpp"

#include <algorithm>

#include "softmoe/kernels/gemm.hpp"

namespace softmoe {

using kernels::gemm_parallel;
using kernels::Trans;

namespace {

// cols [B, Ho, Wo, K, K, C] from in [B, H, W, C]: each output position's patch, one contiguous row.
template <class T>
void im2col(T* cols, const T* in, const Conv2dShape& s, int B) {
  const int K = s.kernel, C = s.channels, Ho = s.out_height(), Wo = s.out_width();
  T* row = cols;
  for (int b = 0; b < B; ++b)
    for (int y = 0; y < Ho; ++y)
      for (int x = 0; x < Wo; ++x)
        for (int i = 0; i < K; ++i) {
          const T* src = in + ((static_cast<long>(b) * s.height + y + i) * s.width + x) * C;
          row = std::copy(src, src + static_cast<long>(K) * C, row);
        }
}

// din [B, H, W, C] += the patches of dcols [B, Ho, Wo, K, K, C] added back where they came from.
template <class T>
void col2im_add(T* din, const T* dcols, const Conv2dShape& s, int B) {
  const int K = s.kernel, C = s.channels, Ho = s.out_height(), Wo = s.out_width();
  const T* row = dcols;
  for (int b = 0; b < B; ++b)
    for (int y = 0; y < Ho; ++y)
      for (int x = 0; x < Wo; ++x)
        for (int i = 0; i < K; ++i) {
          T* dst = din + ((static_cast<long>(b) * s.height + y + i) * s.width + x) * C;
          for (int k = 0; k < K * C; ++k) dst[k] += row[k];
          row += static_cast<long>(K) * C;
        }
}

}  // namespace

template <class T>
void conv2d_forward(T* out, T* cols, const T* in, const T* weight, const T* bias, const Conv2dShape& s, int B) {
  // out [B Ho Wo, F] = cols [B Ho Wo, K K C] weight [K K C, F] + bias
  const long rows = B * s.positions();
  const int F = s.filters, P = s.patch();
  im2col(cols, in, s, B);
  T beta = 0;
  if (bias) {
    for (long r = 0; r < rows; ++r) std::copy(bias, bias + F, out + r * F);
    beta = 1;
  }
  gemm_parallel(Trans::no, Trans::no, static_cast<int>(rows), F, P, T(1), cols, P, weight, F, beta, out, F);
}

template <class T>
void conv2d_backward(T* dinp, T* dcols, T* dweight, T* dbias, const T* dout, const T* cols, const T* weight,
                     const Conv2dShape& s, int B) {
  // dout [B Ho Wo, F]; cols [B Ho Wo, P]; weight [P, F]
  const long rows = B * s.positions();
  const int F = s.filters, P = s.patch();
  gemm_parallel(Trans::yes, Trans::no, P, F, static_cast<int>(rows), T(1), cols, P, dout, F, T(1), dweight, F);
  if (dbias)
    for (long r = 0; r < rows; ++r)
      for (int f = 0; f < F; ++f) dbias[f] += dout[r * F + f];
  if (dinp) {
    gemm_parallel(Trans::no, Trans::yes, static_cast<int>(rows), P, F, T(1), dout, F, weight, F, T(0), dcols, P);
    col2im_add(dinp, dcols, s, B);
  }
}

template void conv2d_forward<float>(float*, float*, const float*, const float*, const float*, const Conv2dShape&,
                                    int);
template void conv2d_forward<double>(double*, double*, const double*, const double*, const double*,
                                     const Conv2dShape&, int);
template void conv2d_backward<float>(float*, float*, float*, float*, const float*, const float*, const float*,
                                     const Conv2dShape&, int);
template void conv2d_backward<double>(double*, double*, double*, double*, const double*, const double*,
                                      const double*, const Conv2dShape&, int);

}  // namespace softmoe
