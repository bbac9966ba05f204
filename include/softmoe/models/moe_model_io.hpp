#pragma once
// The paper's model's architecture as JSON (config.json's "architecture", the checkpoint's
// "softmoe.model"): {tokens, dim, experts, slots, hidden, dim_out, expert_bias, activation, normalize,
// outputs, head_bias, phi_init}; and its checkpoint. Tensors: router.phi [d, n p], router.scale [1],
// experts.w1 [n, d, h], experts.b1 [n, h], experts.w2 [n, h, d_out], experts.b2 [n, d_out],
// head.weight [outputs, m d_out], head.bias [outputs].
#include <filesystem>
#include <map>
#include <string>

#include "softmoe/io/checkpoint.hpp"
#include "softmoe/io/json.hpp"
#include "softmoe/io/safetensors.hpp"
#include "softmoe/models/moe_model.hpp"

namespace softmoe {

json::Value to_json(const MoeModelConfig& config);
// Throws RunError "SOURCE: ..." for a missing or invalid field.
MoeModelConfig moe_model_config_from_json(const json::Value& value, const std::string& source);

void save_model_checkpoint(const std::filesystem::path& path, const MoeModel<float>& model,
                           std::map<std::string, std::string> metadata = {});

// The model configuration stored in a checkpoint (RunError when absent or invalid).
MoeModelConfig checkpoint_model_config(const SafetensorsFile& file);

}  // namespace softmoe
