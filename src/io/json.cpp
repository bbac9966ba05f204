#include "softmoe/io/json.hpp"

#include <charconv>
#include <cmath>
#include <limits>
#include <set>

#include <fmt/format.h>

namespace softmoe::json {

ParseError::ParseError(std::size_t offset_, const std::string& expected)
    : std::runtime_error(fmt::format("JSON at byte {}: expected {}", offset_, expected)), offset(offset_) {}

Value::Value(unsigned long i) : Value(static_cast<unsigned long long>(i)) {}

Value::Value(unsigned long long i) {
  if (i > static_cast<unsigned long long>(std::numeric_limits<std::int64_t>::max()))
    throw std::out_of_range("JSON integer above INT64_MAX");
  v_ = static_cast<std::int64_t>(i);
}

const char* to_string(Value::Type type) {
  switch (type) {
    case Value::Type::null: return "null";
    case Value::Type::boolean: return "boolean";
    case Value::Type::integer: return "integer";
    case Value::Type::number: return "number";
    case Value::Type::string: return "string";
    case Value::Type::array: return "array";
    case Value::Type::object: return "object";
  }
  return "?";
}

namespace {

[[noreturn]] void wrong_type(Value::Type expected, Value::Type found) {
  throw std::runtime_error(fmt::format("JSON: expected {}, found {}", to_string(expected), to_string(found)));
}

}  // namespace

bool Value::as_bool() const {
  if (!is_bool()) wrong_type(Type::boolean, type());
  return std::get<bool>(v_);
}

std::int64_t Value::as_int() const {
  if (!is_integer()) wrong_type(Type::integer, type());
  return std::get<std::int64_t>(v_);
}

double Value::as_double() const {
  if (is_integer()) return static_cast<double>(std::get<std::int64_t>(v_));
  if (type() != Type::number) wrong_type(Type::number, type());
  return std::get<double>(v_);
}

const std::string& Value::as_string() const {
  if (!is_string()) wrong_type(Type::string, type());
  return std::get<std::string>(v_);
}

const Array& Value::as_array() const {
  if (!is_array()) wrong_type(Type::array, type());
  return std::get<Array>(v_);
}

Array& Value::as_array() {
  if (!is_array()) wrong_type(Type::array, type());
  return std::get<Array>(v_);
}

const Object& Value::as_object() const {
  if (!is_object()) wrong_type(Type::object, type());
  return std::get<Object>(v_);
}

Object& Value::as_object() {
  if (!is_object()) wrong_type(Type::object, type());
  return std::get<Object>(v_);
}

const Value* Value::find(std::string_view key) const {
  for (const auto& [k, v] : as_object())
    if (k == key) return &v;
  return nullptr;
}

const Value& Value::at(std::string_view key) const {
  const Value* v = find(key);
  if (!v) throw std::out_of_range(fmt::format("JSON object has no key \"{}\"", key));
  return *v;
}

Value& Value::set(std::string key, Value value) {
  Object& object = as_object();
  for (auto& [k, v] : object)
    if (k == key) return v = std::move(value);
  object.emplace_back(std::move(key), std::move(value));
  return object.back().second;
}

void Value::push_back(Value value) { as_array().push_back(std::move(value)); }

// ---------------------------------------------------------------------------------------------------
// Parsing and serialisation.

namespace {

// Length (1-4) of the valid UTF-8 sequence starting at s[pos], or 0 when it is not valid UTF-8
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
std::size_t utf8_sequence_length(std::string_view s, std::size_t pos) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[pos + i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;  // allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) length = 2;
  else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (s.size() - pos < length) return 0;
  if (byte(1) < low || byte(1) > high) return 0;
  for (std::size_t i = 2; i < length; ++i)
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  return length;
}

void append_utf8(std::string& out, std::uint32_t code) {
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xC0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else if (code < 0x10000) {
    out += static_cast<char>(0xE0 | (code >> 12));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code >> 18));
    out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  }
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

class Parser {
 public:
  explicit Parser(std::string_view text) : s_(text) {}

  Value document() {
    skip_whitespace();
    Value value = parse_value(0);
    skip_whitespace();
    if (pos_ != s_.size()) fail("end of input after the value");
    return value;
  }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;

  [[noreturn]] void fail(const std::string& expected) const { throw ParseError(pos_, expected); }
  bool at(char c) const { return pos_ < s_.size() && s_[pos_] == c; }
  bool at_digit() const { return pos_ < s_.size() && is_digit(s_[pos_]); }

  void skip_whitespace() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }

  void expect(char c, const char* what) {
    if (!at(c)) fail(what);
    ++pos_;
  }

  // depth: the number of containers enclosing this value.
  Value parse_value(int depth) {
    if (pos_ >= s_.size()) fail("a value");
    switch (s_[pos_]) {
      case '{': return parse_object(depth + 1);
      case '[': return parse_array(depth + 1);
      case '"': return Value(parse_string());
      case 't': return literal("true", Value(true));
      case 'f': return literal("false", Value(false));
      case 'n': return literal("null", Value());
      default:
        if (at('-') || at_digit()) return parse_number();
        fail("a value");
    }
  }

  Value literal(std::string_view word, Value value) {
    if (s_.substr(pos_, word.size()) != word) fail(fmt::format("'{}'", word));
    pos_ += word.size();
    return value;
  }

  void check_depth(int depth) const {
    if (depth > kMaxDepth) fail(fmt::format("at most {} nested arrays and objects", kMaxDepth));
  }

  Value parse_array(int depth) {
    check_depth(depth);
    ++pos_;  // '['
    Array array;
    skip_whitespace();
    if (at(']')) {
      ++pos_;
      return Value(std::move(array));
    }
    for (;;) {
      skip_whitespace();
      array.push_back(parse_value(depth));
      skip_whitespace();
      if (at(']')) break;
      expect(',', "',' or ']' in array");
    }
    ++pos_;
    return Value(std::move(array));
  }

  Value parse_object(int depth) {
    check_depth(depth);
    ++pos_;  // '{'
    Object object;
    std::set<std::string, std::less<>> keys;
    skip_whitespace();
    if (at('}')) {
      ++pos_;
      return Value(std::move(object));
    }
    for (;;) {
      skip_whitespace();
      if (!at('"')) fail("a string key in object");
      const std::size_t key_start = pos_;
      std::string key = parse_string();
      if (!keys.insert(key).second) throw ParseError(key_start, fmt::format("a unique key, not a second \"{}\"", key));
      skip_whitespace();
      expect(':', "':' after object key");
      skip_whitespace();
      Value value = parse_value(depth);
      object.emplace_back(std::move(key), std::move(value));
      skip_whitespace();
      if (at('}')) break;
      expect(',', "',' or '}' in object");
    }
    ++pos_;
    return Value(std::move(object));
  }

  std::uint32_t hex4() {
    std::uint32_t code = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = pos_ < s_.size() ? s_[pos_] : '\0';
      int digit = -1;
      if (c >= '0' && c <= '9') digit = c - '0';
      else if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
      if (digit < 0) fail("a hex digit in \\u escape");
      code = code * 16 + static_cast<std::uint32_t>(digit);
      ++pos_;
    }
    return code;
  }

  // After the backslash of a \u escape: one code point, or a surrogate pair written as two escapes.
  std::uint32_t unicode_escape() {
    const std::size_t start = pos_ - 1;
    ++pos_;  // 'u'
    const std::uint32_t code = hex4();
    if (code >= 0xDC00 && code <= 0xDFFF) throw ParseError(start, "a high surrogate before a low surrogate");
    if (code < 0xD800 || code > 0xDBFF) return code;
    if (s_.substr(pos_, 2) != "\\u") fail("a \\u low surrogate after a high surrogate");
    pos_ += 2;
    const std::uint32_t low = hex4();
    if (low < 0xDC00 || low > 0xDFFF) throw ParseError(pos_ - 6, "a low surrogate (\\uDC00-\\uDFFF)");
    return 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
  }

  std::string parse_string() {
    ++pos_;  // opening quote
    std::string out;
    for (;;) {
      if (pos_ >= s_.size()) fail("a closing '\"'");
      const char c = s_[pos_];
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (static_cast<unsigned char>(c) < 0x20) fail("no raw control character in string (escape it)");
      if (c != '\\') {
        const std::size_t length = utf8_sequence_length(s_, pos_);
        if (length == 0) fail("valid UTF-8 in string");
        out.append(s_.substr(pos_, length));
        pos_ += length;
        continue;
      }
      ++pos_;
      if (pos_ >= s_.size()) fail("an escape character after '\\'");
      switch (s_[pos_]) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': append_utf8(out, unicode_escape()); continue;
        default: fail("one of \" \\ / b f n r t u after '\\'");
      }
      ++pos_;
    }
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  Value parse_number() {
    const std::size_t start = pos_;
    if (at('-')) ++pos_;
    if (at('0')) ++pos_;
    else if (at_digit()) while (at_digit()) ++pos_;
    else fail("a digit");
    bool integer = true;
    if (at('.')) {
      integer = false;
      ++pos_;
      if (!at_digit()) fail("a digit after '.'");
      while (at_digit()) ++pos_;
    }
    if (at('e') || at('E')) {
      integer = false;
      ++pos_;
      if (at('+') || at('-')) ++pos_;
      if (!at_digit()) fail("a digit in exponent");
      while (at_digit()) ++pos_;
    }
    const char* first = s_.data() + start;
    const char* last = s_.data() + pos_;
    if (integer) {
      std::int64_t i = 0;
      const auto [end, ec] = std::from_chars(first, last, i);
      if (ec == std::errc() && end == last) return Value(i);
      // too large for int64: falls through to double
    }
    double d = 0;
    const auto [end, ec] = std::from_chars(first, last, d);
    if (ec != std::errc() || end != last) throw ParseError(start, "a number within double range");
    return Value(d);
  }
};

void write_string(std::string& out, const std::string& s) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const char c = s[i];
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        } else {
          const std::size_t length = utf8_sequence_length(s, i);
          if (length == 0) throw std::invalid_argument(fmt::format("JSON: string is not valid UTF-8 at byte {}", i));
          out.append(s, i, length);
          i += length;
          continue;
        }
    }
    ++i;
  }
  out += '"';
}

void write_double(std::string& out, double d) {
  if (!std::isfinite(d)) throw std::invalid_argument(fmt::format("JSON has no form for the number {}", d));
  const std::string text = fmt::format("{}", d);  // shortest round-trip representation
  out += text;
  if (text.find_first_of(".e") == std::string::npos) out += ".0";  // stays a double when parsed back
}

void newline(std::string& out, int indent, int level) {
  out += '\n';
  out.append(static_cast<std::size_t>(indent) * static_cast<std::size_t>(level), ' ');
}

void write_value(std::string& out, const Value& value, int indent, int level) {
  switch (value.type()) {
    case Value::Type::null: out += "null"; return;
    case Value::Type::boolean: out += value.as_bool() ? "true" : "false"; return;
    case Value::Type::integer: out += fmt::format("{}", value.as_int()); return;
    case Value::Type::number: write_double(out, value.as_double()); return;
    case Value::Type::string: write_string(out, value.as_string()); return;
    case Value::Type::array: {
      const Array& array = value.as_array();
      out += '[';
      for (std::size_t i = 0; i < array.size(); ++i) {
        if (i > 0) out += ',';
        if (indent >= 0) newline(out, indent, level + 1);
        write_value(out, array[i], indent, level + 1);
      }
      if (indent >= 0 && !array.empty()) newline(out, indent, level);
      out += ']';
      return;
    }
    case Value::Type::object: {
      const Object& object = value.as_object();
      out += '{';
      for (std::size_t i = 0; i < object.size(); ++i) {
        if (i > 0) out += ',';
        if (indent >= 0) newline(out, indent, level + 1);
        write_string(out, object[i].first);
        out += indent >= 0 ? ": " : ":";
        write_value(out, object[i].second, indent, level + 1);
      }
      if (indent >= 0 && !object.empty()) newline(out, indent, level);
      out += '}';
      return;
    }
  }
}

}  // namespace

Value parse(std::string_view text) { return Parser(text).document(); }

std::string serialize(const Value& value, int indent) {
  std::string out;
  write_value(out, value, indent, 0);
  return out;
}

}  // namespace softmoe::json
