// Routing statistics (eval/routing_stats.hpp) against small hand-computed cases, and against models whose
// routing is known: class-specific experts (I(E;Y)/H(Y) near 1) and a uniform router (near 0).
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <vector>

#include "softmoe/data/token_dataset.hpp"
#include "softmoe/eval/routing_record.hpp"
#include "softmoe/eval/routing_stats.hpp"
#include "softmoe/models/moe_model.hpp"
#include "softmoe/models/routed_model.hpp"
#include "softmoe/rng.hpp"
#include "softmoe/tensor.hpp"

using namespace softmoe;

namespace {

std::map<std::string, double> by_name(const std::vector<RoutingStatistic>& stats) {
  std::map<std::string, double> out;
  for (const auto& s : stats) out[s.k ? s.name + "@" + std::to_string(s.k) : s.name] = s.value;
  return out;
}

// Ten classes, `per_class` inputs each of one token: class y's token is the unit vector e_y (d = 10).
TokenDataset one_hot_classes(int per_class) {
  TokenDataset set;
  set.count = 10 * per_class;
  set.x = make_buffer<float>(static_cast<std::size_t>(set.count) * 10);
  for (int i = 0; i < set.count; ++i) {
    set.labels.push_back(i % 10);
    set.x[static_cast<std::size_t>(i) * 10 + static_cast<std::size_t>(i % 10)] = 1.0f;
  }
  return set;
}

}  // namespace

TEST_CASE("routing statistics: a sparse-style layer, hand-computed") {
  // n = 2, one token per input, gates [.75 .25] (class 0), [.25 .75] and [.5 .5] (class 1)
  const std::vector<float> gates{.75f, .25f, .25f, .75f, .5f, .5f};
  const std::vector<std::int32_t> labels{0, 1, 1};
  RoutingRecord record = empty_routing_record(2, 2);
  add_routing(record, LayerRouting<float>{1, 2, 1, gates.data(), nullptr}, labels.data(), 3);
  const auto s = by_name(routing_statistics(record));
  CHECK(s.at("entropy") == doctest::Approx(0.8741854163).epsilon(1e-6));
  CHECK(s.at("top10_mass") == doctest::Approx(2.0 / 3).epsilon(1e-6));
  CHECK(s.at("importance_cv2") == doctest::Approx(0.0));
  CHECK(s.at("load_cv2") == doctest::Approx(1.0 / 9).epsilon(1e-6));  // top-1 loads [2, 1] (the tie goes to 0)
  CHECK(s.at("switch_balance") == doctest::Approx(1.0).epsilon(1e-6));
  CHECK(s.at("class_mi") == doctest::Approx(0.1015845001).epsilon(1e-6));
  CHECK(s.at("class_entropy") == doctest::Approx(0.9067153768).epsilon(1e-6));
  CHECK(s.at("max_combine") == doctest::Approx(2.0 / 3).epsilon(1e-6));
  CHECK(s.count("max_dispatch") == 0);
  // class experts 0 and 1; the third input's top-1 is expert 0 (tie), not its class's 1
  CHECK(s.at("class_expert_in_topk@1") == doctest::Approx(2.0 / 3).epsilon(1e-6));
  CHECK(s.size() == 9);  // no max_dispatch
}

TEST_CASE("routing statistics: a Soft MoE layer with slots and dispatch, hand-computed") {
  // n = 2 experts of p = 2 slots, m = 2 tokens, one input of class 0.
  const std::vector<float> combine{.4f, .2f, .3f, .1f, /* token 1 */ .1f, .1f, .1f, .7f};
  const std::vector<float> dispatch{.9f, .5f, .3f, .2f, /* token 1 */ .1f, .5f, .7f, .8f};
  const std::vector<std::int32_t> labels{0};
  RoutingRecord record = empty_routing_record(2, 3);
  add_routing(record, LayerRouting<float>{2, 2, 2, combine.data(), dispatch.data()}, labels.data(), 1);
  REQUIRE(record.weights.size() == 2);
  CHECK(record.weights[0] == doctest::Approx(0.4));  // (0.6 + 0.2) / 2
  CHECK(record.weights[1] == doctest::Approx(0.6));
  const auto s = by_name(routing_statistics(record));
  CHECK(s.at("entropy") == doctest::Approx(0.9709505945).epsilon(1e-6));
  CHECK(s.at("max_combine") == doctest::Approx(0.55).epsilon(1e-6));
  CHECK(s.at("max_dispatch") == doctest::Approx(0.725).epsilon(1e-6));
  // token top-1 experts 0 and 1, mean weights [.4, .6]: 2 (.5 .4 + .5 .6) = 1
  CHECK(s.at("switch_balance") == doctest::Approx(1.0).epsilon(1e-6));
  CHECK(s.at("class_mi") == doctest::Approx(0.0));  // one class present: H(Y) = 0
  CHECK(s.at("class_expert_in_topk@1") == doctest::Approx(1.0));  // class 0's expert is 1 (.6), its top-1
}

TEST_CASE("routing statistics: one expert per input, collapsed, and unbalanced") {
  // four inputs, n = 4, each input all on expert i: entropy 0, top-10% mass 1, balanced loads
  std::vector<float> onehot(16, 0.0f);
  for (int i = 0; i < 4; ++i) onehot[static_cast<std::size_t>(i * 4 + i)] = 1.0f;
  const std::vector<std::int32_t> labels{0, 1, 2, 3};
  RoutingRecord record = empty_routing_record(4, 4);
  add_routing(record, LayerRouting<float>{1, 4, 1, onehot.data(), nullptr}, labels.data(), 4);
  auto s = by_name(routing_statistics(record));
  CHECK(s.at("entropy") == doctest::Approx(0.0));
  CHECK(s.at("top10_mass") == doctest::Approx(1.0));
  CHECK(s.at("load_cv2") == doctest::Approx(0.0));
  CHECK(s.at("class_mi") == doctest::Approx(1.0));
  CHECK(s.at("class_entropy") == doctest::Approx(0.0));
  CHECK(s.at("class_expert_in_topk@1") == doctest::Approx(1.0));

  // all four on expert 0: Imp = [4, 0, 0, 0], CV2 = var / mean^2 = 3 / 1; Switch balance n * 1 * 1 = 4
  std::vector<float> collapsed(16, 0.0f);
  for (int i = 0; i < 4; ++i) collapsed[static_cast<std::size_t>(i * 4)] = 1.0f;
  RoutingRecord one = empty_routing_record(4, 4);
  add_routing(one, LayerRouting<float>{1, 4, 1, collapsed.data(), nullptr}, labels.data(), 4);
  s = by_name(routing_statistics(one));
  CHECK(s.at("importance_cv2") == doctest::Approx(3.0));
  CHECK(s.at("load_cv2") == doctest::Approx(3.0));
  CHECK(s.at("switch_balance") == doctest::Approx(4.0));
  CHECK(s.at("class_mi") == doctest::Approx(0.0));
}

TEST_CASE("routing statistics: subset sizes, top-k sets and the change rate") {
  CHECK(routing_subset_sizes(1).empty());
  CHECK(routing_subset_sizes(2) == std::vector<int>{1});
  CHECK(routing_subset_sizes(4) == std::vector<int>{1, 2});
  CHECK(routing_subset_sizes(8) == std::vector<int>{1, 2, 4});
  CHECK(routing_subset_sizes(512) == std::vector<int>{64, 128, 256});

  const std::vector<float> a{.1f, .5f, .4f, /* */ .3f, .3f, .4f};
  const std::vector<float> b{.1f, .4f, .5f, /* */ .5f, .3f, .2f};
  const std::vector<std::int32_t> labels{0, 1};
  RoutingRecord ra = empty_routing_record(3, 2), rb = empty_routing_record(3, 2);
  add_routing(ra, LayerRouting<float>{1, 3, 1, a.data(), nullptr}, labels.data(), 2);
  add_routing(rb, LayerRouting<float>{1, 3, 1, b.data(), nullptr}, labels.data(), 2);
  CHECK(top_k_sets(ra, 2) == std::vector<std::int32_t>{1, 2, 0, 2});  // second input: tie .3 .3 goes to 0
  CHECK(top_k_sets(rb, 2) == std::vector<std::int32_t>{1, 2, 0, 1});
  CHECK(changed_share(top_k_sets(ra, 2), top_k_sets(rb, 2), 2) == doctest::Approx(0.5));
  CHECK(changed_share(top_k_sets(ra, 1), top_k_sets(rb, 1), 1) == doctest::Approx(1.0));
  CHECK(changed_share(top_k_sets(ra, 3), top_k_sets(rb, 3), 3) == doctest::Approx(0.0));
}

TEST_CASE("routing statistics through a model: class-specific experts near 1, a uniform router near 0") {
  // The paper's model shape on one-hot tokens: 10 experts, expert j's slot has Phi column 10 e_j, so
  // class j's images go to expert j with combine weight e^10 / (e^10 + 9).
  MoeModelConfig config;
  config.moe = SoftMoeShape{1, 10, 10, 1, 2, 2};
  config.moe.normalize = Normalize::none;
  config.outputs = 10;
  MoeModel<float> model(config, 16);
  Rng rng(1, Stream::init);
  model.init(rng);
  const TokenDataset set = one_hot_classes(5);
  float* phi = model.moe_values().phi;  // [d, S]
  for (int i = 0; i < 100; ++i) phi[i] = (i / 10 == i % 10) ? 10.0f : 0.0f;
  auto s = by_name(routing_statistics(record_routing(model, set).at(0)));
  CHECK(s.at("class_mi") > 0.99);
  CHECK(s.at("entropy") < 0.01);
  CHECK(s.at("class_expert_in_topk@1") == doctest::Approx(1.0));
  CHECK(s.at("max_dispatch") == doctest::Approx(1.0));  // one token: every slot takes all of it

  for (int i = 0; i < 100; ++i) phi[i] = 0.0f;
  s = by_name(routing_statistics(record_routing(model, set).at(0)));
  CHECK(s.at("class_mi") < 1e-6);
  CHECK(s.at("entropy") == doctest::Approx(1.0));
  CHECK(s.at("importance_cv2") < 1e-9);
}

TEST_CASE("routing statistics through a model: Tokens Choice gates of class-specific experts") {
  RoutedModelConfig config;
  config.moe.routing = SparseRouting::tokens_choice;
  config.moe.tokens = 1;
  config.moe.dim = 10;
  config.moe.experts = 10;
  config.moe.hidden = 2;
  config.moe.dim_out = 2;
  config.moe.group_images = 10;
  config.moe.capacity_factor = 2;
  RoutedMoeModel<float> model(config, 20);
  Rng rng(2, Stream::init);
  model.init(rng);
  float* router = model.params().value(*model.params().find("router.weight"));  // [d, n]
  for (int i = 0; i < 100; ++i) router[i] = (i / 10 == i % 10) ? 10.0f : 0.0f;
  const auto s = by_name(routing_statistics(record_routing(model, one_hot_classes(4)).at(0)));
  CHECK(s.at("class_mi") > 0.99);
  CHECK(s.count("max_dispatch") == 0);
}
