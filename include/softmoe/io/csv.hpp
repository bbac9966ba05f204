#pragma once
// Building CSV text: a header and rows of already formatted fields; quoting where RFC 4180 needs it.
#include <string>
#include <vector>

namespace softmoe {

class CsvTable {
 public:
  explicit CsvTable(std::vector<std::string> header);
  // Throws std::logic_error when the row's width differs from the header's.
  void add_row(std::vector<std::string> fields);
  std::string str() const;
  std::size_t rows() const { return rows_.size(); }

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// One CSV line, newline included.
std::string csv_row(const std::vector<std::string>& fields);

// Reads a CSV file written by softmoe (no quoted fields): rows of fields, the header first.
// Throws RunError naming the file when it cannot be read or holds a quote.
std::vector<std::vector<std::string>> read_csv(const std::string& path);

// Shortest text that reads back as the same double (deterministic across runs).
std::string csv_number(double value);

}  // namespace softmoe
