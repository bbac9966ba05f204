#include "softmoe/io/checkpoint.hpp"

#include <fmt/format.h>

#include "softmoe/errors.hpp"

namespace softmoe {

void save_checkpoint(const std::filesystem::path& path, const ParamBuffer<float>& params,
                     const json::Value& architecture, std::map<std::string, std::string> metadata) {
  std::vector<TensorView> tensors;
  for (const auto& entry : params.entries())
    tensors.push_back({entry.name, "F32", entry.shape, params.values() + entry.offset, entry.size * sizeof(float)});
  metadata[kModelConfigKey] = json::serialize(architecture);
  metadata["softmoe.version"] = SOFTMOE_VERSION;
  write_safetensors(path, tensors, metadata);
}

json::Value checkpoint_architecture(const SafetensorsFile& file) {
  const auto it = file.metadata().find(kModelConfigKey);
  if (it == file.metadata().end())
    throw RunError(fmt::format("{}: not a softmoe checkpoint (no '{}' metadata)", file.source(), kModelConfigKey));
  try {
    return json::parse(it->second);
  } catch (const std::exception& e) {
    throw RunError(fmt::format("{}: invalid model configuration: {}", file.source(), e.what()));
  }
}

void load_parameters(const SafetensorsFile& file, ParamBuffer<float>& params) {
  for (const auto& info : file.tensors())
    if (!params.find(info.name))
      throw RunError(fmt::format("{}: unexpected tensor '{}' for this model", file.source(), info.name));
  for (const auto& entry : params.entries()) {
    if (!file.contains(entry.name))
      throw RunError(fmt::format("{}: missing tensor '{}'", file.source(), entry.name));
    file.copy_to(entry.name, entry.shape, params.values() + entry.offset);
  }
}

}  // namespace softmoe
