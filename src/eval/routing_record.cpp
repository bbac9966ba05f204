#include "softmoe/eval/routing_record.hpp"

#include <algorithm>

namespace softmoe {

std::vector<RoutingRecord> record_routing(Model<float>& model, const TokenDataset& set) {
  std::vector<RoutingRecord> records;
  for (int layer = 0; layer < model.routing_layers(); ++layer)
    records.push_back(empty_routing_record(model.last_routing(layer).experts, model.outputs()));
  model.set_training(false, 0);
  const long size = static_cast<long>(model.input_size());
  for (int first = 0; first < set.count; first += model.max_batch()) {
    const int B = std::min(model.max_batch(), set.count - first);
    model.forward(set.x.data() + first * size, B);
    for (int layer = 0; layer < model.routing_layers(); ++layer)
      add_routing(records[static_cast<std::size_t>(layer)], model.last_routing(layer), set.labels.data() + first, B);
  }
  return records;
}

}  // namespace softmoe
