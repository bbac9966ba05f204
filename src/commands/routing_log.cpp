#include "routing_log.hpp"

#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "softmoe/commands/analyze.hpp"
#include "softmoe/errors.hpp"
#include "softmoe/eval/routing_record.hpp"
#include "softmoe/io/atomic_write.hpp"
#include "softmoe/io/csv.hpp"

namespace softmoe {

RoutingLog::RoutingLog(std::filesystem::path path, std::string router, int threads)
    : path_(std::move(path)), router_(std::move(router)), threads_(threads) {}

std::string RoutingLog::epoch_rows(int epoch, Model<float>& model, const TokenDataset& test, bool compare) {
  const std::vector<RoutingRecord> records = record_routing(model, test);
  sets_.resize(records.size());
  std::string rows;
  for (std::size_t layer = 0; layer < records.size(); ++layer) {
    const RoutingRecord& record = records[layer];
    LayerStatistics stats{static_cast<int>(layer), record.experts, record.inputs, routing_statistics(record)};
    const std::vector<int> ks = routing_subset_sizes(record.experts);
    sets_[layer].resize(ks.size());
    for (std::size_t i = 0; i < ks.size(); ++i) {
      std::vector<std::int32_t> sets = top_k_sets(record, ks[i]);
      if (compare) stats.stats.push_back({"expert_change_rate", ks[i], changed_share(sets_[layer][i], sets, ks[i])});
      sets_[layer][i] = std::move(sets);
    }
    rows += routing_csv_rows({std::to_string(epoch)}, router_, stats, threads_);
  }
  return rows;
}

void RoutingLog::start(Model<float>& model, const TokenDataset& test) {
  text_ = csv_row(routing_csv_header({"epoch"})) + epoch_rows(0, model, test, false);
  atomic_write(path_, text_);
}

void RoutingLog::resume(int epoch, Model<float>& model, const TokenDataset& test) {
  std::ifstream in(path_, std::ios::binary);
  if (!in) throw RunError(fmt::format("{}: missing; the run was started with --log-routing", path_.string()));
  std::string line, kept;
  int last = -1;
  while (std::getline(in, line)) {
    if (kept.empty()) {  // the header
      if (line + "\n" != csv_row(routing_csv_header({"epoch"})))
        throw RunError(fmt::format("{}: not a routing log of this softmoe version", path_.string()));
      kept = line + "\n";
      continue;
    }
    int row_epoch = -1;
    try {
      row_epoch = std::stoi(line.substr(0, line.find(',')));
    } catch (const std::exception&) {
      throw RunError(fmt::format("{}: damaged row '{}'", path_.string(), line));
    }
    if (row_epoch > epoch) break;
    last = row_epoch;
    kept += line + "\n";
  }
  if (last != epoch)
    throw RunError(fmt::format("{}: holds epochs up to {}, the run has {}", path_.string(), last, epoch));
  text_ = kept;
  epoch_rows(epoch, model, test, false);  // only the top-k sets
}

void RoutingLog::record(int epoch, Model<float>& model, const TokenDataset& test) {
  text_ += epoch_rows(epoch, model, test, true);
  atomic_write(path_, text_);
}

}  // namespace softmoe
