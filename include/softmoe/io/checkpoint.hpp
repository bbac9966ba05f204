#pragma once
// model.safetensors, the public checkpoint: every parameter under its contract name as F32
// (router.phi [d, n p], router.scale [1], experts.w1 [n, d, h], experts.b1 [n, h], experts.w2 [n, h, d_out],
// experts.b2 [n, d_out], head.weight [outputs, m d_out], head.bias [outputs]); the model configuration as
// JSON under the metadata key "softmoe.model"; a CRC-32 of the data under "softmoe.crc32".
#include <filesystem>
#include <map>
#include <string>

#include "softmoe/io/json.hpp"
#include "softmoe/io/safetensors.hpp"
#include "softmoe/models/moe_model.hpp"

namespace softmoe {

inline constexpr char kModelConfigKey[] = "softmoe.model";

json::Value to_json(const MoeModelConfig& config);
// Throws RunError "SOURCE: ..." for a missing or invalid field.
MoeModelConfig moe_model_config_from_json(const json::Value& value, const std::string& source);

// Writes every parameter of `params` under its name as F32, `architecture` under kModelConfigKey and the
// softmoe version; the writer for both models' checkpoints.
void save_checkpoint(const std::filesystem::path& path, const ParamBuffer<float>& params,
                     const json::Value& architecture, std::map<std::string, std::string> metadata = {});

// The parsed kModelConfigKey metadata of a checkpoint (RunError when absent or not JSON).
json::Value checkpoint_architecture(const SafetensorsFile& file);

void save_model_checkpoint(const std::filesystem::path& path, const MoeModel<float>& model,
                           std::map<std::string, std::string> metadata = {});

// The model configuration stored in a checkpoint (RunError when absent or invalid).
MoeModelConfig checkpoint_model_config(const SafetensorsFile& file);

// Copies every parameter from `file` into `params` after checking that the file holds exactly these
// tensors with these shapes; the first mismatch is a RunError naming the tensor, expected and found.
void load_parameters(const SafetensorsFile& file, ParamBuffer<float>& params);

}  // namespace softmoe
