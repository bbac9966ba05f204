#pragma once
// One pass of a model over a labelled set that records how each of its MoE layers routed every input
// (routing_stats.hpp computes the statistics from it).
#include <vector>

#include "softmoe/data/token_dataset.hpp"
#include "softmoe/eval/routing_stats.hpp"
#include "softmoe/models/model.hpp"

namespace softmoe {

// Runs model.forward in evaluation mode (no router noise) over `set` in batches of model.max_batch()
// consecutive inputs (a sparse router's groups, and so its gates, depend on them); one record per layer
// of model.routing_layers(), labels in 0 .. model.outputs() - 1.
std::vector<RoutingRecord> record_routing(Model<float>& model, const TokenDataset& set);

}  // namespace softmoe
