#include "softmoe/models/routed_model_io.hpp"

#include <cmath>

#include <fmt/format.h>

#include "softmoe/errors.hpp"
#include "softmoe/io/checkpoint.hpp"

namespace softmoe {

void add_router_settings(json::Value& o, const SparseMoeShape& s) {
  if (s.routing == SparseRouting::tokens_choice) o["router_k"] = s.k;
  if (s.routed()) {
    o["capacity_factor"] = s.capacity_factor;
    o["group_images"] = s.group_images;
    o["router_noise"] = s.noise_std;
  }
  if (s.routing == SparseRouting::tokens_choice) {
    o["bpr"] = s.bpr;
    o["aux_loss"] = to_string(s.aux);
    o["aux_weight"] = s.aux_weight;
  }
}

void read_router_settings(const json::Value& value, SparseMoeShape& s) {
  const auto positive = [&](const char* key) {
    const auto v = json::as_int(json::at(value, key));
    if (v < 1 || v > (1 << 24)) throw std::runtime_error(fmt::format("{} = {} is out of range", key, v));
    return static_cast<int>(v);
  };
  const auto non_negative = [&](const char* key) {
    const double v = json::as_double(json::at(value, key));
    if (!(v >= 0) || !std::isfinite(v)) throw std::runtime_error(fmt::format("{} = {} is out of range", key, v));
    return v;
  };
  s.routing = value_named(json::as_string(json::at(value, "router")), kSparseRoutingNames, "router");
  if (s.routed()) {
    s.capacity_factor = non_negative("capacity_factor");
    if (!(s.capacity_factor > 0)) throw std::runtime_error("capacity_factor must be positive");
    s.group_images = positive("group_images");
    s.noise_std = non_negative("router_noise");
  }
  if (s.routing == SparseRouting::tokens_choice) {
    s.k = positive("router_k");
    s.bpr = json::as_bool(json::at(value, "bpr"));
    s.aux = value_named(json::as_string(json::at(value, "aux_loss")), kAuxLossNames, "auxiliary loss");
    s.aux_weight = non_negative("aux_weight");
  }
}

json::Value to_json(const RoutedModelConfig& c) {
  const SparseMoeShape& s = c.moe;
  json::Value o = json::Value::object();
  o["router"] = to_string(s.routing);
  o["tokens"] = s.tokens;
  o["dim"] = s.dim;
  o["experts"] = s.experts;
  o["hidden"] = s.hidden;
  o["dim_out"] = s.dim_out;
  o["expert_bias"] = s.expert_bias;
  o["activation"] = to_string(s.activation);
  o["outputs"] = c.outputs;
  o["head_bias"] = c.head_bias;
  add_router_settings(o, s);
  return o;
}

bool is_routed_architecture(const json::Value& architecture) {
  return architecture.is_object() && json::find(architecture, "router") != nullptr;
}

RoutedModelConfig routed_model_config_from_json(const json::Value& value, const std::string& source) {
  RoutedModelConfig c;
  SparseMoeShape& s = c.moe;
  try {
    const auto positive = [&](const char* key) {
      const auto v = json::as_int(json::at(value, key));
      if (v < 1 || v > (1 << 24)) throw std::runtime_error(fmt::format("{} = {} is out of range", key, v));
      return static_cast<int>(v);
    };
    s.tokens = positive("tokens");
    s.dim = positive("dim");
    s.experts = positive("experts");
    s.hidden = positive("hidden");
    s.dim_out = positive("dim_out");
    s.expert_bias = json::as_bool(json::at(value, "expert_bias"));
    s.activation = parse_activation(json::as_string(json::at(value, "activation")));
    c.outputs = positive("outputs");
    c.head_bias = json::as_bool(json::at(value, "head_bias"));
    read_router_settings(value, s);
    if (s.routing == SparseRouting::dense && s.experts != 1) throw std::runtime_error("a dense layer has one expert");
    if (s.k > s.experts) throw std::runtime_error("router_k exceeds the experts");
  } catch (const std::exception& e) {
    throw RunError(fmt::format("{}: invalid model configuration: {}", source, e.what()));
  }
  return c;
}

RoutedModelConfig checkpoint_routed_model_config(const SafetensorsFile& file) {
  return routed_model_config_from_json(checkpoint_architecture(file), file.source());
}

}  // namespace softmoe
