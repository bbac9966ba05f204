#include "softmoe/models/vit_io.hpp"

#include <fmt/format.h>

#include "softmoe/errors.hpp"
#include "softmoe/io/checkpoint.hpp"

namespace softmoe {

json::Value to_json(const VitArchitecture& a) {
  const VitConfig& c = a.model;
  json::Array blocks;
  for (int b : c.moe_blocks()) blocks.emplace_back(b);
  json::Object o;
  o.emplace_back("model", kVitModelName);
  o.emplace_back("rows", c.rows);
  o.emplace_back("cols", c.cols);
  o.emplace_back("patch", c.patch);
  o.emplace_back("dim", c.dim);
  o.emplace_back("depth", c.depth);
  o.emplace_back("heads", c.heads);
  o.emplace_back("mlp_hidden", c.mlp_width());
  o.emplace_back("pool", to_string(c.pool));
  o.emplace_back("moe_layers", std::move(blocks));
  o.emplace_back("moe_residual", c.moe_residual);
  o.emplace_back("experts", c.experts);
  o.emplace_back("slots", c.slots);
  o.emplace_back("expert_hidden", c.expert_width());
  o.emplace_back("normalize", to_string(c.normalize));
  o.emplace_back("phi_init", to_string(c.phi_init));
  o.emplace_back("classes", c.classes);
  o.emplace_back("input_mean", a.input.mean);
  o.emplace_back("input_std", a.input.stddev);
  return json::Value(std::move(o));
}

bool is_vit_architecture(const json::Value& value) {
  const json::Value* model = value.find("model");
  return model && *model == json::Value(kVitModelName);
}

VitArchitecture vit_architecture_from_json(const json::Value& value, const std::string& source) {
  VitArchitecture a;
  VitConfig& c = a.model;
  try {
    if (!is_vit_architecture(value)) throw std::runtime_error("not a ViT (\"model\" is not \"vit\")");
    const auto count = [&](const char* key, int low) {
      const auto v = value.at(key).as_int();
      if (v < low || v > (1 << 24)) throw std::runtime_error(fmt::format("{} = {} is out of range", key, v));
      return static_cast<int>(v);
    };
    c.rows = count("rows", 1);
    c.cols = count("cols", 1);
    c.patch = count("patch", 1);
    c.dim = count("dim", 1);
    c.depth = count("depth", 1);
    c.heads = count("heads", 1);
    c.mlp_hidden = count("mlp_hidden", 1);
    c.pool = parse_pool(value.at("pool").as_string());
    c.moe_residual = value.at("moe_residual").as_bool();
    c.experts = count("experts", 0);
    c.slots = count("slots", 1);
    c.expert_hidden = count("expert_hidden", 0);
    c.normalize = parse_normalize(value.at("normalize").as_string());
    c.phi_init = parse_phi_init(value.at("phi_init").as_string());
    c.classes = count("classes", 1);
    c.moe_layers.clear();
    for (const auto& b : value.at("moe_layers").as_array()) c.moe_layers.push_back(static_cast<int>(b.as_int()));
    if (c.experts > 0 && (c.moe_layers.empty() || c.expert_hidden < 1))
      throw std::runtime_error("a Soft MoE ViT needs moe_layers and expert_hidden");
    a.input.mean = value.at("input_mean").as_double();
    a.input.stddev = value.at("input_std").as_double();
    if (!(a.input.stddev > 0)) throw std::runtime_error("input_std must be positive");
    validate(c);
  } catch (const std::exception& e) {
    throw RunError(fmt::format("{}: invalid model configuration: {}", source, e.what()));
  }
  return a;
}

void save_vit_checkpoint(const std::filesystem::path& path, const VitModel<float>& model, const PixelStats& input,
                         std::map<std::string, std::string> metadata) {
  save_checkpoint(path, model.params(), to_json(VitArchitecture{model.config(), input}), std::move(metadata));
}

VitArchitecture checkpoint_vit_architecture(const SafetensorsFile& file) {
  return vit_architecture_from_json(checkpoint_architecture(file), file.source());
}

}  // namespace softmoe
