// The JSON softmoe wrote before nlohmann-json replaced its own parser (tests/golden/, written by the
// commit before the switch): each file parses and serialises back to the same bytes, so checkpoints,
// resume states and sweep identities keep their bytes across the switch.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "softmoe/io/json.hpp"

namespace {

std::string golden(const std::string& name) {
  std::ifstream in(std::string(SOFTMOE_SOURCE_DIR) + "/tests/golden/" + name, std::ios::binary);
  REQUIRE(in);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("json golden files: config.json and sweep.json round-trip byte for byte (indent 2, newline)") {
  for (const char* name : {"paper_mnist_config.json", "vit_config.json", "sweep_mnist.json", "sweep_synthetic.json"}) {
    CAPTURE(name);
    const std::string text = golden(name);
    CHECK(softmoe::json::serialize(softmoe::json::parse(text), 2) + "\n" == text);
  }
}

TEST_CASE("json golden files: checkpoint metadata and resume settings round-trip byte for byte (compact)") {
  for (const char* name : {"paper_mnist_model_metadata.json", "vit_model_metadata.json", "paper_mnist_settings.json",
                           "vit_settings.json", "numbers.json"}) {
    CAPTURE(name);
    const std::string text = golden(name);
    CHECK(softmoe::json::serialize(softmoe::json::parse(text)) == text);
  }
}
