#pragma once
// JSON through nlohmann-json (`ordered_json`: objects keep the order their keys were written in), with
// the strictness softmoe's files need:
//   - parse refuses duplicate keys, nesting deeper than kMaxDepth containers and invalid UTF-8, and names
//     the byte where the text went wrong;
//   - serialize is deterministic (identical values give identical text), refuses non-finite numbers and
//     invalid UTF-8 rather than writing null or garbage; doubles always carry a '.' or an exponent, so
//     they read back as doubles;
//   - the typed accessors refuse the wrong type (an integer field never silently takes 3.5).
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace softmoe::json {

using Value = nlohmann::ordered_json;

inline constexpr int kMaxDepth = 64;

// The message reads "JSON at byte OFFSET: WHAT", or "JSON: WHAT" where no byte says it (duplicate keys,
// nesting, numbers out of range).
struct ParseError : std::runtime_error {
  ParseError(std::size_t offset, const std::string& what);
  explicit ParseError(const std::string& what);
  std::size_t offset = 0;
};

// Exactly one value, surrounded by optional whitespace. Throws ParseError.
Value parse(std::string_view text);

// indent < 0: compact, no whitespace at all; indent >= 0: one member or element per line, ": " after
// keys, empty containers "[]" and "{}". No trailing newline. Throws std::invalid_argument for a
// non-finite number or a string that is not UTF-8.
std::string serialize(const Value& value, int indent = -1);

// Typed access; the wrong type throws std::runtime_error naming what was found.
std::int64_t as_int(const Value& value);  // integers only
double as_double(const Value& value);     // integers convert
const std::string& as_string(const Value& value);
bool as_bool(const Value& value);
// Objects: the member (std::out_of_range naming the key when absent), or null when absent.
const Value& at(const Value& object, const std::string& key);
const Value* find(const Value& object, const std::string& key);

}  // namespace softmoe::json
