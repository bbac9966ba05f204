#pragma once
// Training subsets: `train --train-size N` (a seeded, class-stratified subset) and `--val-size V` (the
// last V images of the training set, after the subset, held out for validation).
#include <cstdint>
#include <optional>
#include <vector>

#include "softmoe/data/image_dataset.hpp"

namespace softmoe {

// Per-class quotas for a stratified subset of `size` of the images whose class counts are `available`
// (water-filling): every class that still has images gets an equal share of what is left, a class
// with fewer images than its share is taken whole, and the last size % (open classes) images go one
// each to the lowest-numbered open classes. So every quota is within one of size / classes until a
// class runs out (MNIST: above 10 x 5,421 = 54,210 images), and then the short classes are whole and
// the others within one of each other. Requires 0 < size <= sum(available).
std::vector<int> stratified_quotas(const std::vector<int>& available, int size);

// The indices (ascending) of a class-stratified subset of `size` labels in [0, classes): per class,
// its quota (stratified_quotas) of that class's images, drawn without replacement by a Fisher-Yates
// shuffle from Rng(seed, Stream::subset). The same seed gives the same subset.
std::vector<std::int32_t> stratified_subset(const std::vector<std::int32_t>& labels, int classes, int size,
                                            std::uint64_t seed);

// Images [indices] of `data`, in the order given.
ImageDataset select_images(const ImageDataset& data, const std::vector<std::int32_t>& indices);

// Images [first, first + count) of `data`.
ImageDataset image_range(const ImageDataset& data, int first, int count);

// `train --train-size N --val-size V` on loaded splits: splits.train becomes the stratified subset of
// N images (seed), then its last V images move to splits.validation. UsageError naming the flag when
// N exceeds the training images or V leaves none.
void choose_training_images(ImageSplits& splits, std::optional<int> train_size, int val_size, std::uint64_t seed);

}  // namespace softmoe
