#pragma once
// Fully connected layer, PyTorch's layout: out = in * weight^T + bias.
//   in [N, I], weight [O, I], bias [O] (or null), out [N, O]
// Backward accumulates: dweight [O, I] += dout^T in, dbias [O] += column sums of dout,
// dinp [N, I] += dout weight (skipped when dinp is null).

namespace softmoe {

template <class T>
void linear_forward(T* out, const T* in, const T* weight, const T* bias, int N, int I, int O);

template <class T>
void linear_backward(T* dinp, T* dweight, T* dbias, const T* dout, const T* in, const T* weight, int N,
                     int I, int O);

}  // namespace softmoe
