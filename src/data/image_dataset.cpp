#include "softmoe/data/image_dataset.hpp"

#include <array>
#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>

#include "softmoe/data/idx.hpp"
#include "softmoe/data/patch_layout.hpp"
#include "softmoe/errors.hpp"

namespace softmoe {
namespace fs = std::filesystem;
namespace {

struct DatasetInfo {
  Dataset dataset;
  const char* title;
  const char* default_dir;
  const char* how_to_get;
  int classes;
};

const std::array<DatasetInfo, 2> kDatasets{{
    {Dataset::mnist, "MNIST", SOFTMOE_DATA_DIR "/mnist",
     "the repository ships it in data/mnist (restore that folder) or pass --data-dir DIR", 10},
    {Dataset::fashion_mnist, "Fashion-MNIST", "/usr/share/datasets/fashion-mnist",
     "run `make data` (installs Debian's dataset-fashion-mnist) or pass --data-dir DIR", 10},
}};

const DatasetInfo& find_dataset(Dataset dataset) {
  for (const auto& info : kDatasets)
    if (info.dataset == dataset) return info;
  throw std::logic_error("a dataset without files");
}

// The names a file may have: the original gzip name, the decompressed name, and the same with the
// ".idx" spelling some mirrors use ("train-images.idx3-ubyte").
std::array<std::string, 4> name_variants(const std::string& base) {
  std::string dotted = base;
  dotted[dotted.find("-idx")] = '.';
  return {base + ".gz", base, dotted + ".gz", dotted};
}

// The existing file among the variants of `base` in dir, or "" when none exists.
std::string find_file(const fs::path& dir, const std::string& base) {
  std::error_code error;
  for (const auto& name : name_variants(base))
    if (fs::is_regular_file(dir / name, error)) return (dir / name).string();
  return "";
}

constexpr std::array<const char*, 4> kFiles{"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                           "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

// The four paths, in kFiles order. None found: the dataset is missing. Some found: names the first gap.
std::array<std::string, 4> find_files(const DatasetInfo& info, const fs::path& dir) {
  std::array<std::string, 4> paths;
  bool any = false;
  for (std::size_t i = 0; i < kFiles.size(); ++i) {
    paths[i] = find_file(dir, kFiles[i]);
    any = any || !paths[i].empty();
  }
  if (!any) throw RunError(fmt::format("{} not found in {}: {}", info.title, dir.string(), info.how_to_get));
  for (std::size_t i = 0; i < kFiles.size(); ++i) {
    if (!paths[i].empty()) continue;
    const auto names = name_variants(kFiles[i]);
    throw RunError(fmt::format("{}: missing (also looked for {}, {}, {}); {} needs all four files",
                               (dir / names[0]).string(), names[1], names[2], names[3], info.title));
  }
  return paths;
}

}  // namespace

ImageDataset load_image_split(const std::string& images_path, const std::string& labels_path, int classes) {
  IdxImages images = read_idx_images(images_path);
  ImageDataset data;
  data.labels = read_idx_labels(labels_path, classes);
  if (images.count == 0) throw RunError(fmt::format("{}: holds no images", images_path));
  if (static_cast<std::size_t>(images.count) != data.labels.size())
    throw RunError(fmt::format("{}: holds {} images but {} holds {} labels", images_path, images.count,
                               labels_path, data.labels.size()));
  data.images = std::move(images.pixels);
  data.count = images.count;
  data.rows = images.rows;
  data.cols = images.cols;
  return data;
}

ImageSplits load_image_dataset(Dataset dataset, const std::string& data_dir_override) {
  const DatasetInfo& info = find_dataset(dataset);
  const fs::path dir = data_dir_override.empty() ? fs::path(info.default_dir) : fs::path(data_dir_override);
  const auto paths = find_files(info, dir);
  ImageSplits splits;
  splits.classes = info.classes;
  splits.source_dir = dir.string();
  splits.train = load_image_split(paths[0], paths[1], info.classes);
  splits.test = load_image_split(paths[2], paths[3], info.classes);
  if (splits.test.rows != splits.train.rows || splits.test.cols != splits.train.cols)
    throw RunError(fmt::format("{}: images are {}x{} but the training images are {}x{}", paths[2], splits.test.rows,
                               splits.test.cols, splits.train.rows, splits.train.cols));
  return splits;
}

void patch_tokens(float* out, const ImageDataset& data, int first, int count, int patch, float mean,
                  float stddev) {
  // out: [count, (rows / patch) * (cols / patch), patch * patch]
  if (patch <= 0 || data.rows % patch != 0 || data.cols % patch != 0)
    throw UsageError(fmt::format("patch size {} does not divide the {}x{} images", patch, data.rows, data.cols));
  if (first < 0 || count < 0 || first > data.count - count)
    throw std::out_of_range(fmt::format("patch_tokens: images [{}, {}) outside the {} images", first,
                                        static_cast<long>(first) + count, data.count));
  std::array<float, 256> value{};
  for (int v = 0; v < 256; ++v) {
    const float x = static_cast<float>(v) / 255.0f;
    value[v] = (x - mean) / stddev;
  }
  const std::size_t image_size = static_cast<std::size_t>(data.rows) * data.cols;
  for (int n = 0; n < count; ++n) {
    const std::uint8_t* image = data.images.data() + (first + n) * image_size;
    for_each_patch_row(data.rows, data.cols, patch, [&](long offset) {
      for (int c = 0; c < patch; ++c) *out++ = value[image[offset + c]];
    });
  }
}

}  // namespace softmoe
