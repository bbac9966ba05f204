#include "softmoe/io/csv.hpp"

#include <stdexcept>

#include <fmt/format.h>

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

std::string csv_number(double value) { return fmt::format("{}", value); }

}  // namespace softmoe
