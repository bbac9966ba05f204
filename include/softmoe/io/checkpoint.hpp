#pragma once
// model.safetensors, the public checkpoint of any model: every parameter under its contract name as F32,
// the model's architecture as JSON under the metadata key "softmoe.model", the softmoe version, and a
// CRC-32 of the data under "softmoe.crc32". Knows nothing of the models: each model's architecture
// (de)serialisation lives beside it (models/moe_model_io.hpp, models/vit_io.hpp).
#include <filesystem>
#include <map>
#include <string>

#include "softmoe/io/json.hpp"
#include "softmoe/io/safetensors.hpp"
#include "softmoe/params.hpp"

namespace softmoe {

inline constexpr char kModelConfigKey[] = "softmoe.model";


// Writes every parameter of `params` under its name as F32, `architecture` under kModelConfigKey and the
// softmoe version; the writer for both models' checkpoints.
void save_checkpoint(const std::filesystem::path& path, const ParamBuffer<float>& params,
                     const json::Value& architecture, std::map<std::string, std::string> metadata = {});

// The parsed kModelConfigKey metadata of a checkpoint (RunError when absent or not JSON).
json::Value checkpoint_architecture(const SafetensorsFile& file);



// Copies every parameter from `file` into `params` after checking that the file holds exactly these
// tensors with these shapes; the first mismatch is a RunError naming the tensor, expected and found.
void load_parameters(const SafetensorsFile& file, ParamBuffer<float>& params);

}  // namespace softmoe
