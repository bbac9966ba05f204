// softmoe's strictness on top of nlohmann-json (io/json.hpp): the parser callback refuses duplicate
// keys and deep nesting; serialisation checks every number first.
#include "softmoe/io/json.hpp"

#include <cmath>
#include <set>
#include <vector>

#include <fmt/format.h>

namespace softmoe::json {

ParseError::ParseError(std::size_t offset_, const std::string& what)
    : std::runtime_error(fmt::format("JSON at byte {}: {}", offset_, what)), offset(offset_) {}

ParseError::ParseError(const std::string& what) : std::runtime_error("JSON: " + what) {}

namespace {

// nlohmann's message without its "[json.exception.parse_error.101] parse error at line 1, column 5: " prefix
std::string plain_message(const std::string& what) {
  const auto colon = what.find(": ");
  return colon == std::string::npos ? what : what.substr(colon + 2);
}

void check_numbers(const Value& value) {
  if (value.is_number_float() && !std::isfinite(value.get<double>()))
    throw std::invalid_argument("JSON has no form for a non-finite number");
  if (value.is_structured())
    for (const auto& item : value) check_numbers(item);
}

[[noreturn]] void wrong_type(const Value& value, const char* wanted) {
  throw std::runtime_error(fmt::format("expected {}, found {}", wanted, value.type_name()));
}

}  // namespace

Value parse(std::string_view text) {
  // One entry per open container: the keys seen so far (objects) or nothing (arrays).
  std::vector<std::set<std::string>> keys;
  const auto strict = [&keys](int depth, nlohmann::json::parse_event_t event, Value& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (event == E::object_start || event == E::array_start) {
      if (depth >= kMaxDepth) throw ParseError(fmt::format("nesting deeper than {} containers", kMaxDepth));
      keys.emplace_back();
    } else if (event == E::object_end || event == E::array_end) {
      keys.pop_back();
    } else if (event == E::key) {
      const std::string& key = parsed.get_ref<const std::string&>();
      if (!keys.back().insert(key).second) throw ParseError(fmt::format("duplicate key \"{}\"", key));
    }
    return true;
  };
  const auto nul = text.find('\0');  // never valid outside a string, where it must be escaped
  if (nul != std::string_view::npos) throw ParseError(nul, "a NUL byte");
  try {
    return Value::parse(text.begin(), text.end(), strict);
  } catch (const nlohmann::json::parse_error& e) {
    throw ParseError(e.byte > 0 ? e.byte - 1 : 0, plain_message(e.what()));
  } catch (const nlohmann::json::exception& e) {  // out_of_range: a number beyond double
    throw ParseError(plain_message(e.what()));
  }
}

std::string serialize(const Value& value, int indent) {
  check_numbers(value);
  try {
    return value.dump(indent);
  } catch (const nlohmann::json::type_error& e) {
    throw std::invalid_argument(plain_message(e.what()));
  }
}

std::int64_t as_int(const Value& value) {
  if (value.is_number_integer() && !(value.is_number_unsigned() && value.get<std::uint64_t>() > INT64_MAX))
    return value.get<std::int64_t>();
  wrong_type(value, "an integer");
}

double as_double(const Value& value) {
  if (!value.is_number()) wrong_type(value, "a number");
  return value.get<double>();
}

const std::string& as_string(const Value& value) {
  if (!value.is_string()) wrong_type(value, "a string");
  return value.get_ref<const std::string&>();
}

bool as_bool(const Value& value) {
  if (!value.is_boolean()) wrong_type(value, "a boolean");
  return value.get<bool>();
}

const Value& at(const Value& object, const std::string& key) {
  const Value* member = find(object, key);
  if (!member) throw std::out_of_range(fmt::format("no key \"{}\"", key));
  return *member;
}

const Value* find(const Value& object, const std::string& key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

}  // namespace softmoe::json
