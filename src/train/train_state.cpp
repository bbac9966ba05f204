#include "softmoe/train/train_state.hpp"

#include <fmt/format.h>

#include "softmoe/errors.hpp"
#include "softmoe/io/safetensors.hpp"

namespace softmoe {
namespace {

constexpr char kParams[] = "params", kFirst[] = "optimizer.first", kSecond[] = "optimizer.second";

long parse_count(const SafetensorsFile& file, const std::string& key) {
  const auto it = file.metadata().find(key);
  if (it == file.metadata().end()) throw RunError(fmt::format("{}: missing metadata '{}'", file.source(), key));
  try {
    std::size_t used = 0;
    const long value = std::stol(it->second, &used);
    if (used == it->second.size() && value >= 0) return value;
  } catch (const std::exception&) {
  }
  throw RunError(fmt::format("{}: metadata '{}' is not a count: '{}'", file.source(), key, it->second));
}

std::string metadata_text(const SafetensorsFile& file, const std::string& key) {
  const auto it = file.metadata().find(key);
  if (it == file.metadata().end()) throw RunError(fmt::format("{}: missing metadata '{}'", file.source(), key));
  return it->second;
}

}  // namespace

void save_train_state(const std::filesystem::path& path, const ParamBuffer<float>& params,
                      Optimizer<float>& optimizer, const TrainProgress& progress) {
  const std::size_t n = params.size();
  std::vector<TensorView> tensors{{kParams, "F32", {n}, params.values(), n * sizeof(float)},
                                  {kFirst, "F32", {n}, optimizer.first().data(), n * sizeof(float)}};
  if (optimizer.second().size() == n)
    tensors.push_back({kSecond, "F32", {n}, optimizer.second().data(), n * sizeof(float)});
  write_safetensors(path, tensors,
                    {{"epoch", std::to_string(progress.epoch)},
                     {"steps", std::to_string(optimizer.steps_taken())},
                     {"optimizer", to_string(optimizer.config().kind)},
                     {"settings", progress.settings},
                     {"train_csv", progress.csv}});
}

TrainProgress load_train_state(const std::filesystem::path& path, ParamBuffer<float>& params,
                               Optimizer<float>& optimizer) {
  const auto file = SafetensorsFile::read(path, /*require_checksum=*/true);
  const std::size_t n = params.size();
  if (metadata_text(file, "optimizer") != to_string(optimizer.config().kind))
    throw RunError(fmt::format("{}: state of optimizer '{}', this run uses '{}'", file.source(),
                               metadata_text(file, "optimizer"), to_string(optimizer.config().kind)));
  file.copy_to(kParams, {n}, params.values());
  file.copy_to(kFirst, {n}, optimizer.first().data());
  if (optimizer.second().size() == n) file.copy_to(kSecond, {n}, optimizer.second().data());
  optimizer.set_steps_taken(parse_count(file, "steps"));
  TrainProgress progress;
  progress.epoch = static_cast<int>(parse_count(file, "epoch"));
  progress.settings = metadata_text(file, "settings");
  progress.csv = metadata_text(file, "train_csv");
  return progress;
}

}  // namespace softmoe
