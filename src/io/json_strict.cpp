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

// fmt's shortest round-trip form, as softmoe wrote doubles before nlohmann-json (whose dump() is not
// always the shortest: 0.39795533147408513 for 0.3979553314740851), with ".0" so it reads back a double.
void write_double(std::string& out, double d) {
  if (!std::isfinite(d)) throw std::invalid_argument("JSON has no form for a non-finite number");
  const std::string text = fmt::format("{}", d);
  out += text;
  if (text.find_first_of(".e") == std::string::npos) out += ".0";
}

void write_string(std::string& out, const std::string& s) {
  try {  // nlohmann's escaping: \" \\ \b \f \n \r \t, \u00XX for other control characters, UTF-8 as is
    out += Value(s).dump(-1, ' ', false, Value::error_handler_t::strict);
  } catch (const nlohmann::json::type_error& e) {
    throw std::invalid_argument("JSON: string is not valid UTF-8: " + plain_message(e.what()));
  }
}

void newline(std::string& out, int indent, int level) {
  out += '\n';
  out.append(static_cast<std::size_t>(indent) * static_cast<std::size_t>(level), ' ');
}

void write_value(std::string& out, const Value& value, int indent, int level) {
  switch (value.type()) {
    case Value::value_t::null: out += "null"; return;
    case Value::value_t::boolean: out += value.get<bool>() ? "true" : "false"; return;
    case Value::value_t::number_integer: out += fmt::format("{}", value.get<std::int64_t>()); return;
    case Value::value_t::number_unsigned: out += fmt::format("{}", value.get<std::uint64_t>()); return;
    case Value::value_t::number_float: write_double(out, value.get<double>()); return;
    case Value::value_t::string: write_string(out, value.get_ref<const std::string&>()); return;
    case Value::value_t::array:
    case Value::value_t::object: {
      const bool object = value.is_object();
      out += object ? '{' : '[';
      bool first = true;
      for (auto it = value.begin(); it != value.end(); ++it) {
        if (!first) out += ',';
        first = false;
        if (indent >= 0) newline(out, indent, level + 1);
        if (object) {
          write_string(out, it.key());
          out += indent >= 0 ? ": " : ":";
        }
        write_value(out, it.value(), indent, level + 1);
      }
      if (indent >= 0 && !value.empty()) newline(out, indent, level);
      out += object ? '}' : ']';
      return;
    }
    case Value::value_t::binary:
    case Value::value_t::discarded: break;
  }
  throw std::invalid_argument(std::string("JSON has no form for a ") + value.type_name() + " value");
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
  std::string out;
  write_value(out, value, indent, 0);
  return out;
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
