#include "softmoe/models/moe_model_io.hpp"

#include <fmt/format.h>

#include "softmoe/errors.hpp"

namespace softmoe {

json::Value to_json(const MoeModelConfig& c) {
  json::Object o;
  o.emplace_back("tokens", c.moe.tokens);
  o.emplace_back("dim", c.moe.dim);
  o.emplace_back("experts", c.moe.experts);
  o.emplace_back("slots", c.moe.slots);
  o.emplace_back("hidden", c.moe.hidden);
  o.emplace_back("dim_out", c.moe.dim_out);
  o.emplace_back("expert_bias", c.moe.expert_bias);
  o.emplace_back("activation", to_string(c.moe.activation));
  o.emplace_back("normalize", to_string(c.moe.normalize));
  o.emplace_back("outputs", c.outputs);
  o.emplace_back("head_bias", c.head_bias);
  o.emplace_back("phi_init", to_string(c.phi_init));
  return json::Value(std::move(o));
}

MoeModelConfig moe_model_config_from_json(const json::Value& value, const std::string& source) {
  MoeModelConfig c;
  try {
    const auto positive = [&](const char* key) {
      const auto v = value.at(key).as_int();
      if (v < 1 || v > (1 << 24)) throw std::runtime_error(fmt::format("{} = {} is out of range", key, v));
      return static_cast<int>(v);
    };
    c.moe.tokens = positive("tokens");
    c.moe.dim = positive("dim");
    c.moe.experts = positive("experts");
    c.moe.slots = positive("slots");
    c.moe.hidden = positive("hidden");
    c.moe.dim_out = positive("dim_out");
    c.moe.expert_bias = value.at("expert_bias").as_bool();
    c.moe.activation = parse_activation(value.at("activation").as_string());
    c.moe.normalize = parse_normalize(value.at("normalize").as_string());
    c.outputs = positive("outputs");
    c.head_bias = value.at("head_bias").as_bool();
    c.phi_init = parse_phi_init(value.at("phi_init").as_string());
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
