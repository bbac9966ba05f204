#include "softmoe/models/moe_model_io.hpp"

#include <fmt/format.h>

#include "softmoe/errors.hpp"

namespace softmoe {

json::Value to_json(const MoeModelConfig& c) {
  json::Value o = json::Value::object();
  o["tokens"] = c.moe.tokens;
  o["dim"] = c.moe.dim;
  o["experts"] = c.moe.experts;
  o["slots"] = c.moe.slots;
  o["hidden"] = c.moe.hidden;
  o["dim_out"] = c.moe.dim_out;
  o["expert_bias"] = c.moe.expert_bias;
  o["activation"] = to_string(c.moe.activation);
  o["normalize"] = to_string(c.moe.normalize);
  o["outputs"] = c.outputs;
  o["head_bias"] = c.head_bias;
  o["phi_init"] = to_string(c.phi_init);
  if (c.moe.mixing != Mixing::soft) o["mixing"] = to_string(c.moe.mixing);  // a Soft MoE keeps its old keys
  return o;
}

MoeModelConfig moe_model_config_from_json(const json::Value& value, const std::string& source) {
  MoeModelConfig c;
  try {
    const auto positive = [&](const char* key) {
      const auto v = json::as_int(json::at(value, key));
      if (v < 1 || v > (1 << 24)) throw std::runtime_error(fmt::format("{} = {} is out of range", key, v));
      return static_cast<int>(v);
    };
    c.moe.tokens = positive("tokens");
    c.moe.dim = positive("dim");
    c.moe.experts = positive("experts");
    c.moe.slots = positive("slots");
    c.moe.hidden = positive("hidden");
    c.moe.dim_out = positive("dim_out");
    c.moe.expert_bias = json::as_bool(json::at(value, "expert_bias"));
    c.moe.activation = parse_activation(json::as_string(json::at(value, "activation")));
    c.moe.normalize = parse_normalize(json::as_string(json::at(value, "normalize")));
    c.outputs = positive("outputs");
    c.head_bias = json::as_bool(json::at(value, "head_bias"));
    c.phi_init = parse_phi_init(json::as_string(json::at(value, "phi_init")));
    if (json::find(value, "mixing"))
      c.moe.mixing = value_named(json::as_string(json::at(value, "mixing")), kMixingNames, "mixing");
    if (c.moe.mixing == Mixing::identity && c.moe.total_slots() != c.moe.tokens)
      throw std::runtime_error("identity mixing needs experts x slots = tokens");
  } catch (const std::exception& e) {
    throw RunError(fmt::format("{}: invalid model configuration: {}", source, e.what()));
  }
  return c;
}

void save_model_checkpoint(const std::filesystem::path& path, const MoeModel<float>& model,
                           std::map<std::string, std::string> metadata) {
  save_checkpoint(path, model.params(), to_json(model.config()), std::move(metadata));
}

MoeModelConfig checkpoint_model_config(const SafetensorsFile& file) {
  return moe_model_config_from_json(checkpoint_architecture(file), file.source());
}

}  // namespace softmoe
