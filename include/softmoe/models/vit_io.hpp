#pragma once
// model.safetensors of a ViT run: every parameter under its vit.hpp name as F32, and under the metadata
// key "softmoe.model" the architecture as JSON: {"model": "vit", rows, cols, patch, dim, depth, heads,
// mlp_hidden, pool, moe_layers (the MoE blocks, resolved), moe_residual, experts, slots, expert_hidden
// (resolved), normalize, phi_init, classes, input_mean, input_std}. input_mean and input_std are the
// pixel statistics (on the [0, 1] scale) the images were normalised with: (pixel / 255 - mean) / std.
#include <filesystem>
#include <map>
#include <string>

#include "softmoe/data/normalized_images.hpp"
#include "softmoe/io/json.hpp"
#include "softmoe/io/safetensors.hpp"
#include "softmoe/models/vit.hpp"

namespace softmoe {

inline constexpr char kVitModelName[] = "vit";  // the architecture's "model", as `train --model` spells it

struct VitArchitecture {
  VitConfig model;
  PixelStats input;  // the normalisation of the input images
};

json::Value to_json(const VitArchitecture& architecture);
// RunError "SOURCE: invalid model configuration: ..." for a missing or invalid field.
VitArchitecture vit_architecture_from_json(const json::Value& value, const std::string& source);

// True when a "softmoe.model" / config.json architecture object describes a ViT.
bool is_vit_architecture(const json::Value& value);

void save_vit_checkpoint(const std::filesystem::path& path, const VitModel<float>& model, const PixelStats& input,
                         std::map<std::string, std::string> metadata = {});

// The architecture stored in a checkpoint (RunError when absent, not a ViT, or invalid).
VitArchitecture checkpoint_vit_architecture(const SafetensorsFile& file);

}  // namespace softmoe
