#pragma once
// The sparse-router model's architecture as JSON (config.json's "architecture", the checkpoint's
// "softmoe.model"): {router, tokens, dim, experts, hidden, dim_out, expert_bias, activation, outputs,
// head_bias} and the router's own settings: Tokens Choice {router_k, capacity_factor, group_images, bpr,
// router_noise, aux_loss, aux_weight}, Experts Choice {capacity_factor, group_images, router_noise}.
// The key "router" is what tells it from the Soft MoE model's architecture (moe_model_io.hpp).
#include <string>

#include "softmoe/io/json.hpp"
#include "softmoe/io/safetensors.hpp"
#include "softmoe/models/routed_model.hpp"

namespace softmoe {

json::Value to_json(const RoutedModelConfig& config);
// The router's own settings (not "router" itself) into o, as listed above; and back, "router" included
// (std::runtime_error for a missing or invalid field). Shared with the ViT's architecture (vit_io.hpp).
void add_router_settings(json::Value& o, const SparseMoeShape& shape);
void read_router_settings(const json::Value& value, SparseMoeShape& shape);
// Throws RunError "SOURCE: ..." for a missing or invalid field.
RoutedModelConfig routed_model_config_from_json(const json::Value& value, const std::string& source);
bool is_routed_architecture(const json::Value& architecture);

// The model configuration stored in a checkpoint (RunError when absent or invalid).
RoutedModelConfig checkpoint_routed_model_config(const SafetensorsFile& file);

}  // namespace softmoe
