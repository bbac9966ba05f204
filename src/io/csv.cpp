#include "softmoe/io/csv.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

#include "softmoe/errors.hpp"

namespace softmoe {
namespace {

void append_field(std::string& out, const std::string& field) {
  if (field.find_first_of(",\"\n\r") == std::string::npos) {
    out += field;
    return;
  }
  out += '"';
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

void append_line(std::string& out, const std::vector<std::string>& fields) {
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) out += ',';
    append_field(out, fields[i]);
  }
  out += '\n';
}

}  // namespace

CsvTable::CsvTable(std::vector<std::string> header) : header_(std::move(header)) {}

void CsvTable::add_row(std::vector<std::string> fields) {
  if (fields.size() != header_.size())
    throw std::logic_error(fmt::format("CSV row of {} fields under a header of {}", fields.size(), header_.size()));
  rows_.push_back(std::move(fields));
}

std::string CsvTable::str() const {
  std::string out;
  append_line(out, header_);
  for (const auto& row : rows_) append_line(out, row);
  return out;
}

std::string csv_row(const std::vector<std::string>& fields) {
  std::string out;
  append_line(out, fields);
  return out;
}

std::vector<std::vector<std::string>> read_csv(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw RunError(fmt::format("{}: cannot read", path));
  std::vector<std::vector<std::string>> rows;
  for (std::string line; std::getline(in, line);) {
    if (line.find('"') != std::string::npos) throw RunError(fmt::format("{}: quoted CSV fields are not supported", path));
    std::vector<std::string> fields;
    std::stringstream stream(line);
    for (std::string field; std::getline(stream, field, ',');) fields.push_back(field);
    if (!line.empty() && line.back() == ',') fields.emplace_back();
    rows.push_back(std::move(fields));
  }
  return rows;
}

std::string csv_number(double value) { return fmt::format("{}", value); }

}  // namespace softmoe
