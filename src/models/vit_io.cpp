#include "softmoe/models/vit_io.hpp"

#include <fmt/format.h>

#include "softmoe/errors.hpp"
#include "softmoe/io/checkpoint.hpp"
#include "softmoe/models/routed_model_io.hpp"

namespace softmoe {

json::Value to_json(const VitArchitecture& a) {
  const VitConfig& c = a.model;
  json::Value blocks = json::Value::array();
  for (int b : c.moe_blocks()) blocks.emplace_back(b);
  json::Value o = json::Value::object();
  o["model"] = kVitModelName;
  o["rows"] = c.rows;
  o["cols"] = c.cols;
  o["patch"] = c.patch;
  o["dim"] = c.dim;
  o["depth"] = c.depth;
  o["heads"] = c.heads;
  o["mlp_hidden"] = c.mlp_width();
  o["pool"] = to_string(c.pool);
  o["moe_layers"] = std::move(blocks);
  o["moe_residual"] = c.moe_residual;
  o["experts"] = c.experts;
  o["slots"] = c.slots;
  o["expert_hidden"] = c.expert_width();
  o["normalize"] = to_string(c.normalize);
  o["phi_init"] = to_string(c.phi_init);
  o["classes"] = c.classes;
  o["input_mean"] = a.input.mean;
  o["input_std"] = a.input.stddev;
  if (c.mixing != Mixing::soft) o["mixing"] = to_string(c.mixing);  // a Soft MoE keeps its old keys
  if (c.router) {  // only with a sparse router: a Soft MoE ViT keeps its old architecture
    o["router"] = to_string(c.router->routing);
    add_router_settings(o, *c.router);
  }
  return o;
}

bool is_vit_architecture(const json::Value& value) {
  const json::Value* model = json::find(value, "model");
  return model && *model == json::Value(kVitModelName);
}

VitArchitecture vit_architecture_from_json(const json::Value& value, const std::string& source) {
  VitArchitecture a;
  VitConfig& c = a.model;
  try {
    if (!is_vit_architecture(value)) throw std::runtime_error("not a ViT (\"model\" is not \"vit\")");
    const auto count = [&](const char* key, int low) {
      const auto v = json::as_int(json::at(value, key));
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
    c.pool = parse_pool(json::as_string(json::at(value, "pool")));
    c.moe_residual = json::as_bool(json::at(value, "moe_residual"));
    c.experts = count("experts", 0);
    c.slots = count("slots", 1);
    c.expert_hidden = count("expert_hidden", 0);
    c.normalize = parse_normalize(json::as_string(json::at(value, "normalize")));
    c.phi_init = parse_phi_init(json::as_string(json::at(value, "phi_init")));
    c.classes = count("classes", 1);
    c.moe_layers.clear();
    const json::Value& layers = json::at(value, "moe_layers");
    if (!layers.is_array()) throw std::runtime_error("moe_layers is not an array");
    for (const auto& b : layers) c.moe_layers.push_back(static_cast<int>(json::as_int(b)));
    if (c.experts > 0 && (c.moe_layers.empty() || c.expert_hidden < 1))
      throw std::runtime_error("a Soft MoE ViT needs moe_layers and expert_hidden");
    if (json::find(value, "mixing"))
      c.mixing = value_named(json::as_string(json::at(value, "mixing")), kMixingNames, "mixing");
    if (c.mixing == Mixing::identity && c.experts * c.slots != c.tokens())
      throw std::runtime_error("identity mixing needs experts x slots = tokens");
    if (json::find(value, "router")) {
      SparseMoeShape router;
      read_router_settings(value, router);
      if (!router.routed()) throw std::runtime_error("a dense ViT is experts = 0, not router = dense");
      if (router.k > c.experts) throw std::runtime_error("router_k exceeds the experts");
      c.router = router;
    }
    a.input.mean = json::as_double(json::at(value, "input_mean"));
    a.input.stddev = json::as_double(json::at(value, "input_std"));
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
