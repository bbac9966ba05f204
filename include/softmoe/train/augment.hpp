#pragma once
// Data augmentation for image batches, applied in place to normalised float images.
namespace softmoe {

class Rng;

// images [B, rows, cols]: each image moves by its own integer offset (dr, dc), each drawn uniformly
// from [-max_shift, max_shift] (dr first, then dc, image by image), so that
//   new[r, c] = old[r - dr, c - dc]   where that pixel exists, else fill
// (positive dr moves the content down, positive dc right). fill should be the normalised value of a
// black pixel (black_value in data/normalized_images.hpp): shifting then equals torchvision's
// RandomCrop(size, padding=max_shift) on the raw image. max_shift 0 leaves the images unchanged (and
// draws nothing). Allocates nothing.
void random_shift(float* images, int B, int rows, int cols, int max_shift, Rng& rng, float fill);

// One image [rows, cols] shifted by (dr, dc) in place, as above.
void shift_image(float* image, int rows, int cols, int dr, int dc, float fill);

}  // namespace softmoe
