#include "softmoe/commands/analyze.hpp"

#include <filesystem>

#include <fmt/format.h>

#include "softmoe/errors.hpp"
#include "softmoe/eval/routing_record.hpp"
#include "softmoe/io/atomic_write.hpp"
#include "softmoe/io/csv.hpp"
#include "softmoe/threads.hpp"
#include "trained_run.hpp"

namespace softmoe {
namespace fs = std::filesystem;
namespace {

std::string statistic_label(const RoutingStatistic& s) {
  return s.k ? fmt::format("{} k={}", s.name, s.k) : s.name;
}

// Statistics down, layers across.
void print_table(const AnalyzeResult& result, const std::string& run) {
  const LayerStatistics& first = result.layers.front();
  fmt::print("routing of {} ({} router, {} experts) on {} test inputs\n", run, result.router, first.experts,
             first.inputs);
  fmt::print("{:<26}", "statistic");
  for (const LayerStatistics& layer : result.layers) fmt::print(" {:>9}", fmt::format("layer {}", layer.layer));
  fmt::print("\n");
  for (std::size_t i = 0; i < first.stats.size(); ++i) {
    fmt::print("{:<26}", statistic_label(first.stats[i]));
    for (const LayerStatistics& layer : result.layers) fmt::print(" {:>9.4f}", layer.stats[i].value);
    fmt::print("\n");
  }
}

}  // namespace

void validate(const AnalyzeConfig& c) {
  if (c.run.empty()) throw UsageError("--run: give a run directory of `softmoe train`");
  if (c.batch < 1) throw UsageError(fmt::format("--batch: must be at least 1 (got {})", c.batch));
  if (c.threads < 1 || c.threads > 256) throw UsageError(fmt::format("--threads: must be in 1..256 (got {})", c.threads));
}

std::vector<std::string> routing_csv_header(const std::vector<std::string>& leading) {
  std::vector<std::string> header = leading;
  header.insert(header.end(), {"layer", "router", "experts", "statistic", "k", "value", "inputs", "threads"});
  return header;
}

std::string routing_csv_rows(const std::vector<std::string>& leading_values, const std::string& router,
                             const LayerStatistics& layer, int threads) {
  std::string rows;
  for (const RoutingStatistic& s : layer.stats) {
    std::vector<std::string> fields = leading_values;
    fields.insert(fields.end(), {std::to_string(layer.layer), router, std::to_string(layer.experts), s.name,
                                 s.k ? std::to_string(s.k) : std::string(), csv_number(s.value),
                                 std::to_string(layer.inputs), std::to_string(threads)});
    rows += csv_row(fields);
  }
  return rows;
}

AnalyzeResult run_analyze(const AnalyzeConfig& c) {
  validate(c);
  AnalyzeResult result;
  result.out = c.out.empty() ? (fs::path(c.run) / "analyze.csv").string() : c.out;
  use_threads(c.threads);
  TrainedRun run = load_trained_run(c.run, c.data_dir, c.batch);
  if (run.model->routing_layers() == 0) throw UsageError(fmt::format("--run {}: the model has no MoE layer", c.run));
  check_writable_output(result.out, "--out");
  result.router = run.router;
  const std::vector<RoutingRecord> records = record_routing(*run.model, run.data);
  std::string csv = csv_row(routing_csv_header({}));
  for (std::size_t layer = 0; layer < records.size(); ++layer) {
    const RoutingRecord& record = records[layer];
    result.layers.push_back({static_cast<int>(layer), record.experts, record.inputs, routing_statistics(record)});
    csv += routing_csv_rows({}, result.router, result.layers.back(), c.threads);
  }
  atomic_write(result.out, csv);
  if (!c.quiet) print_table(result, c.run);
  fmt::print("wrote {}\n", result.out);
  return result;
}

}  // namespace softmoe
