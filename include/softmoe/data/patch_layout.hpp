#pragma once
// The one image-to-patch layout of softmoe (the paper's MNIST tokens and the ViT's patch embedding):
//   image [rows, cols] -> patches [P, p p],  P = (rows / p) (cols / p)
// patch t = pr (cols / p) + pc in row-major patch order, pixel k = (r % p) p + c % p row-major within it.
// p must divide rows and cols (the callers check).

namespace softmoe {

// f(offset) for each of the P p patch rows in output order, where offset is the image index of the row's
// first pixel; every patch row is p contiguous pixels of the image, and consecutive calls fill
// consecutive runs of p outputs.
template <class F>
void for_each_patch_row(int rows, int cols, int patch, F&& f) {
  for (int pr = 0; pr < rows / patch; ++pr)
    for (int pc = 0; pc < cols / patch; ++pc)
      for (int r = pr * patch; r < (pr + 1) * patch; ++r) f(static_cast<long>(r) * cols + pc * patch);
}

}  // namespace softmoe
