#include "softmoe/layers/linear.hpp"

#include "softmoe/kernels/gemm.hpp"

namespace softmoe {

using kernels::gemm_parallel;
using kernels::Trans;

template <class T>
void linear_forward(T* out, const T* in, const T* weight, const T* bias, int N, int I, int O) {
  // out [N, O]; in [N, I]; weight [O, I]; bias [O]
  T beta = 0;
  if (bias) {
    for (int r = 0; r < N; ++r)
      for (int o = 0; o < O; ++o) out[static_cast<long>(r) * O + o] = bias[o];
    beta = 1;
  }
  gemm_parallel(Trans::no, Trans::yes, N, O, I, T(1), in, I, weight, I, beta, out, O);
}

template <class T>
void linear_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* in, const T* weight, int N,
                     int I, int O) {
  // dout [N, O]; in [N, I]; weight [O, I]
  gemm_parallel(Trans::yes, Trans::no, O, I, N, T(1), dout, O, in, I, T(1), dweight, I);
  if (dbias)
    for (int r = 0; r < N; ++r)
      for (int o = 0; o < O; ++o) dbias[o] += dout[static_cast<long>(r) * O + o];
  if (dinp) gemm_parallel(Trans::no, Trans::no, N, I, O, T(1), dout, O, weight, I, T(1), dinp, I);
}

template void linear_forward<float>(float*, const float*, const float*, const float*, int, int, int);
template void linear_forward<double>(double*, const double*, const double*, const double*, int, int,
                                     int);
template void linear_backward<float>(float*, float*, float*, const float*, const float*, const float*,
                                     int, int, int);
template void linear_backward<double>(double*, double*, double*, const double*, const double*,
                                      const double*, int, int, int);

}  // namespace softmoe
