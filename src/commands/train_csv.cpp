#include "train_csv.hpp"

#include <algorithm>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "softmoe/errors.hpp"
#include "softmoe/io/csv.hpp"

namespace softmoe {
namespace fs = std::filesystem;
namespace {

const std::vector<std::string> kCsvHeader{"epoch",       "train_loss",    "train_accuracy",     "test_loss",
                                          "test_accuracy", "train_seconds", "eval_seconds",
                                          "samples_per_second", "threads", "lr"};
const std::vector<std::string> kValidationHeader{"val_loss", "val_accuracy"};  // --val-size
const std::vector<std::string> kFitHeader{"fit_loss", "fit_accuracy"};         // --eval-train
// appended for sparse routers
const std::vector<std::string> kRoutingHeader{"drop_rate", "capacity_factor", "tokens_per_expert_min",
                                              "tokens_per_expert_max", "aux_loss"};

std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream stream(line);
  for (std::string field; std::getline(stream, field, ',');) fields.push_back(field);
  return fields;
}

}  // namespace

std::vector<std::string> train_csv_header(const TrainConfig& c, bool routed) {
  std::vector<std::string> header = kCsvHeader;
  if (c.val_size > 0) header.insert(header.end(), kValidationHeader.begin(), kValidationHeader.end());
  if (c.eval_train) header.insert(header.end(), kFitHeader.begin(), kFitHeader.end());
  if (routed) header.insert(header.end(), kRoutingHeader.begin(), kRoutingHeader.end());
  return header;
}

std::string epoch_csv_row(const EpochRow& row, int threads) {
  std::vector<std::string> fields{std::to_string(row.epoch), csv_number(row.train_loss), csv_number(row.train_accuracy),
                                  csv_number(row.test_loss), csv_number(row.test_accuracy),
                                  fmt::format("{:.3f}", row.train_seconds), fmt::format("{:.3f}", row.eval_seconds),
                                  fmt::format("{:.1f}", row.samples_per_second), std::to_string(threads),
                                  csv_number(row.lr)};
  for (const auto& metrics : {row.validation, row.fit})
    if (metrics) fields.insert(fields.end(), {csv_number(metrics->loss), csv_number(metrics->accuracy)});
  if (row.routing) {
    const RoutingColumns& r = *row.routing;
    fields.insert(fields.end(), {csv_number(r.drop_rate), csv_number(r.capacity_factor),
                                 std::to_string(r.tokens_per_expert_min), std::to_string(r.tokens_per_expert_max),
                                 csv_number(r.aux_loss)});
  }
  return csv_row(fields);
}

std::vector<EpochRow> epoch_rows(const std::string& csv, const fs::path& source, const TrainConfig& c, bool routed,
                                 const std::function<double(int)>& lr_of_epoch) {
  std::vector<EpochRow> rows;
  std::istringstream lines(csv);
  std::string line;
  std::getline(lines, line);
  const std::vector<std::string> header = split_fields(line);
  std::vector<std::string> expected = train_csv_header(c, routed);
  const bool lr_missing = std::find(header.begin(), header.end(), "lr") == header.end();
  if (lr_missing) expected.erase(std::find(expected.begin(), expected.end(), "lr"));
  if (header != expected) throw RunError(fmt::format("{}: its train.csv header is damaged", source.string()));
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    const std::vector<std::string> fields = split_fields(line);
    std::map<std::string, double> f;
    try {
      for (std::size_t i = 0; i < fields.size() && i < header.size(); ++i) f[header[i]] = std::stod(fields[i]);
    } catch (const std::exception&) {
      f.clear();
    }
    if (fields.size() != header.size() || f.size() != header.size())
      throw RunError(fmt::format("{}: its train.csv rows are damaged", source.string()));
    EpochRow row;
    row.epoch = static_cast<int>(f["epoch"]);
    row.train_loss = f["train_loss"];
    row.train_accuracy = f["train_accuracy"];
    row.test_loss = f["test_loss"];
    row.test_accuracy = f["test_accuracy"];
    row.train_seconds = f["train_seconds"];
    row.eval_seconds = f["eval_seconds"];
    row.samples_per_second = f["samples_per_second"];
    row.lr = lr_missing ? lr_of_epoch(row.epoch) : f["lr"];
    if (c.val_size > 0) row.validation = EpochMetrics{f["val_loss"], f["val_accuracy"]};
    if (c.eval_train) row.fit = EpochMetrics{f["fit_loss"], f["fit_accuracy"]};
    if (routed)
      row.routing = RoutingColumns{f["drop_rate"], f["capacity_factor"], static_cast<long>(f["tokens_per_expert_min"]),
                                   static_cast<long>(f["tokens_per_expert_max"]), f["aux_loss"]};
    rows.push_back(row);
  }
  return rows;
}

}  // namespace softmoe
