#pragma once
// 2-D convolution, VALID padding, stride 1, channels last (NHWC), as Flax and Dopamine lay it out:
//   in     [B, H, W, C]
//   weight [K, K, C, F]   (kernel rows, kernel columns, input channels, filters: HWIO)
//   bias   [F] (or null)
//   out    [B, Ho, Wo, F] with Ho = H - K + 1, Wo = W - K + 1
//   out[b, y, x, f] = bias[f] + sum_{i, j, c} in[b, y + i, x + j, c] weight[i, j, c, f]
// Computed as one GEMM over patches: cols [B Ho Wo, K K C] (im2col, kept for backward) times weight
// viewed as [K K C, F]. Backward accumulates dweight += cols^T dout, dbias += column sums of dout and,
// when dinp is not null, dinp += col2im(dout weight^T) through the scratch dcols [B Ho Wo, K K C].
namespace softmoe {

struct Conv2dShape {
  int height = 0, width = 0, channels = 0;  // H, W, C
  int kernel = 3;                           // K
  int filters = 0;                          // F

  int out_height() const { return height - kernel + 1; }
  int out_width() const { return width - kernel + 1; }
  int patch() const { return kernel * kernel * channels; }
  long positions() const { return static_cast<long>(out_height()) * out_width(); }
};

template <class T>
void conv2d_forward(T* out, T* cols, const T* in, const T* weight, const T* bias, const Conv2dShape& shape, int B);

template <class T>
void conv2d_backward(T* dinp, T* dcols, T* dweight, T* dbias, const T* dout, const T* cols, const T* weight,
                     const Conv2dShape& shape, int B);

}  // namespace softmoe
