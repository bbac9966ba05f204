#pragma once
// A minimal, strict JSON value (RFC 8259): parse and serialise, nothing more.
//   - objects keep their insertion order; parsing rejects duplicate keys;
//   - numbers without fraction or exponent that fit in int64 stay exact integers, all others are doubles;
//   - strings must be valid UTF-8; \uXXXX escapes (surrogate pairs included) decode to UTF-8;
//   - nesting deeper than kMaxDepth containers is rejected, so hostile input cannot exhaust the stack.
// Serialisation is deterministic: identical values give byte-identical text. Doubles are written in
// their shortest round-trip form and always carry a '.', 'e' or exponent, so they parse back as doubles.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace softmoe::json {

inline constexpr int kMaxDepth = 64;

// A syntax error: the message reads "JSON at byte OFFSET: expected WHAT".
struct ParseError : std::runtime_error {
  ParseError(std::size_t offset, const std::string& expected);
  std::size_t offset;
};

class Value;
using Array = std::vector<Value>;
using Member = std::pair<std::string, Value>;
using Object = std::vector<Member>;  // insertion order

class Value {
 public:
  enum class Type { null, boolean, integer, number, string, array, object };

  Value() = default;  // null
  Value(std::nullptr_t) {}
  Value(bool b) : v_(b) {}
  Value(int i) : v_(static_cast<std::int64_t>(i)) {}
  Value(long i) : v_(static_cast<std::int64_t>(i)) {}
  Value(long long i) : v_(static_cast<std::int64_t>(i)) {}
  Value(unsigned i) : v_(static_cast<std::int64_t>(i)) {}
  Value(unsigned long i);  // throws std::out_of_range above INT64_MAX
  Value(unsigned long long i);
  Value(double d) : v_(d) {}
  Value(const char* s) : v_(std::string(s)) {}
  Value(std::string s) : v_(std::move(s)) {}
  Value(std::string_view s) : v_(std::string(s)) {}
  Value(Array a) : v_(std::move(a)) {}
  Value(Object o) : v_(std::move(o)) {}

  Type type() const { return static_cast<Type>(v_.index()); }
  bool is_null() const { return type() == Type::null; }
  bool is_bool() const { return type() == Type::boolean; }
  bool is_integer() const { return type() == Type::integer; }
  bool is_number() const { return type() == Type::integer || type() == Type::number; }
  bool is_string() const { return type() == Type::string; }
  bool is_array() const { return type() == Type::array; }
  bool is_object() const { return type() == Type::object; }

  // Typed access; the wrong type throws std::runtime_error naming both types.
  bool as_bool() const;
  std::int64_t as_int() const;  // integers only
  double as_double() const;     // integers convert
  const std::string& as_string() const;
  const Array& as_array() const;
  Array& as_array();
  const Object& as_object() const;
  Object& as_object();

  // Objects: the member's value or null when absent (find), or std::out_of_range (at).
  const Value* find(std::string_view key) const;
  const Value& at(std::string_view key) const;
  // Objects: replaces the value of an existing key in place, otherwise appends. Returns the stored value.
  Value& set(std::string key, Value value);
  // Arrays: appends.
  void push_back(Value value);

  // Exact structural equality; integer 1 and double 1.0 differ, member order matters.
  bool operator==(const Value& other) const { return v_ == other.v_; }
  bool operator!=(const Value& other) const { return !(*this == other); }

 private:
  std::variant<std::nullptr_t, bool, std::int64_t, double, std::string, Array, Object> v_;
};

const char* to_string(Value::Type type);

// Parses exactly one value, surrounded by optional whitespace. Throws ParseError.
Value parse(std::string_view text);

// indent < 0: compact, no whitespace at all. indent >= 0: one member or element per line, indented by
// `indent` spaces per level, ": " after keys; empty containers stay "[]" and "{}". No trailing newline.
// Non-finite doubles have no JSON form: std::invalid_argument.
std::string serialize(const Value& value, int indent = -1);

}  // namespace softmoe::json
