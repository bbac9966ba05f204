// The JSON value: parsing, strictness (malformed inputs throw with a byte offset), deterministic and
// round-tripping serialisation.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

#include "softmoe/io/json.hpp"

using namespace softmoe::json;

namespace {

// The byte offset of the ParseError that parsing `text` throws, or -1 when it parses.
long error_offset(const std::string& text) {
  try {
    parse(text);
  } catch (const ParseError& e) {
    return static_cast<long>(e.offset);
  }
  return -1;
}

}  // namespace

TEST_CASE("json: scalars") {
  CHECK(parse("null").is_null());
  CHECK(parse("true").as_bool() == true);
  CHECK(parse(" false\n").as_bool() == false);
  CHECK(parse("0").as_int() == 0);
  CHECK(parse("-17").as_int() == -17);
  CHECK(parse("9223372036854775807").as_int() == std::numeric_limits<std::int64_t>::max());
  CHECK(parse("-9223372036854775808").as_int() == std::numeric_limits<std::int64_t>::min());
  // beyond int64: a double
  CHECK(parse("9223372036854775808").type() == Value::Type::number);
  CHECK(parse("9223372036854775808").as_double() == 9223372036854775808.0);
  CHECK(parse("1.5").as_double() == 1.5);
  CHECK(parse("1.0").type() == Value::Type::number);
  CHECK(parse("1e2").type() == Value::Type::number);
  CHECK(parse("-2.5E-3").as_double() == -2.5e-3);
  CHECK(parse("3").as_double() == 3.0);  // integers convert to double on request
  CHECK(parse("\"hi\"").as_string() == "hi");
}

TEST_CASE("json: string escapes and UTF-8") {
  CHECK(parse(R"("a\"b\\c\/d\b\f\n\r\t")").as_string() == "a\"b\\c/d\b\f\n\r\t");
  CHECK(parse(R"("\u0041\u00e9\u20AC")").as_string() == "A\xC3\xA9\xE2\x82\xAC");
  CHECK(parse(R"("\ud83d\ude00")").as_string() == "\xF0\x9F\x98\x80");  // U+1F600 from a surrogate pair
  CHECK(parse(R"("\u0000")").as_string() == std::string(1, '\0'));
  CHECK(parse("\"\xC3\xA9\xF0\x9F\x98\x80\"").as_string() == "\xC3\xA9\xF0\x9F\x98\x80");  // raw UTF-8
}

TEST_CASE("json: containers keep insertion order") {
  const Value v = parse(R"( { "b" : [1, 2.5, "x", null, [], {}], "a": {"z": true, "y": false} } )");
  REQUIRE(v.is_object());
  const Object& o = v.as_object();
  REQUIRE(o.size() == 2);
  CHECK(o[0].first == "b");
  CHECK(o[1].first == "a");
  CHECK(v.at("b").as_array().size() == 6);
  CHECK(v.at("b").as_array()[1].as_double() == 2.5);
  CHECK(v.at("a").as_object()[0].first == "z");
  CHECK(v.find("missing") == nullptr);
  CHECK_THROWS_AS(v.at("missing"), std::out_of_range);
}

TEST_CASE("json: wrong-type access throws") {
  const Value v = parse("[1]");
  CHECK_THROWS_AS(v.as_object(), std::runtime_error);
  CHECK_THROWS_AS(v.as_array()[0].as_string(), std::runtime_error);
  CHECK_THROWS_AS(parse("1.5").as_int(), std::runtime_error);
  CHECK_THROWS_WITH(parse("\"s\"").as_bool(), "JSON: expected boolean, found string");
}

TEST_CASE("json: malformed inputs throw ParseError at the right byte") {
  CHECK(error_offset("") == 0);
  CHECK(error_offset("   ") == 3);
  CHECK(error_offset("nul") == 0);
  CHECK(error_offset("True") == 0);
  CHECK(error_offset("[1,]") == 3);
  CHECK(error_offset("[1 2]") == 3);
  CHECK(error_offset("[1,2") == 4);
  CHECK(error_offset("{\"a\" 1}") == 5);
  CHECK(error_offset("{\"a\":1,}") == 7);
  CHECK(error_offset("{a:1}") == 1);
  CHECK(error_offset("{\"a\":1,\"a\":2}") == 7);  // duplicate key
  CHECK(error_offset("1 2") == 2);                  // trailing content
  CHECK(error_offset("01") == 1);
  CHECK(error_offset("-") == 1);
  CHECK(error_offset("+1") == 0);
  CHECK(error_offset("1.") == 2);
  CHECK(error_offset(".5") == 0);
  CHECK(error_offset("1e") == 2);
  CHECK(error_offset("1e400") == 0);
  CHECK(error_offset("NaN") == 0);
  CHECK(error_offset("Infinity") == 0);
  CHECK(error_offset("\"abc") == 4);
  CHECK(error_offset("\"a\nb\"") == 2);      // raw control character
  CHECK(error_offset(R"("\x")") == 2);       // unknown escape
  CHECK(error_offset(R"("\u12")") == 5);     // short \u escape
  CHECK(error_offset(R"("\u12G4")") == 5);
  CHECK(error_offset(R"("\ud83d")") == 7);   // lone high surrogate
  CHECK(error_offset(R"("\ud83dx")") == 7);
  CHECK(error_offset(R"("\ud83d\u0041")") == 7);
  CHECK(error_offset(R"("\ude00")") == 1);   // lone low surrogate
  CHECK(error_offset("\"\xFF\"") == 1);       // invalid UTF-8
  CHECK(error_offset("\"\xC3\"") == 1);       // truncated sequence
  CHECK(error_offset("\"\xC0\xAF\"") == 1);   // overlong
  CHECK(error_offset("\"\xED\xA0\x80\"") == 1);  // encoded surrogate
  CHECK(error_offset(std::string("[1]\0", 4)) == 3);
  CHECK_THROWS_WITH(parse("[1;"), "JSON at byte 2: expected ',' or ']' in array");
}

TEST_CASE("json: nesting is limited") {
  const std::string ok = std::string(kMaxDepth, '[') + std::string(kMaxDepth, ']');
  CHECK(parse(ok).is_array());
  const std::string deep = std::string(kMaxDepth + 1, '[') + std::string(kMaxDepth + 1, ']');
  CHECK(error_offset(deep) == kMaxDepth);
  // hostile: a million open brackets must throw, not overflow the stack
  CHECK(error_offset(std::string(1000000, '[')) == kMaxDepth);
  CHECK(error_offset(std::string(1000000, '{')) == 1);  // '{' needs a key first
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += "{\"a\":";
  CHECK(error_offset(objects) == 5 * kMaxDepth);
}

TEST_CASE("json: compact serialisation") {
  Value v{Object{}};
  v.set("name", "soft moe");
  v.set("n", 16);
  v.set("lr", 1e-3);
  v.set("one", 1.0);
  v.set("flags", Array{Value(true), Value(false), Value()});
  v.set("nested", Object{{"k", Value(Array{})}, {"e", Value(Object{})}});
  CHECK(serialize(v) ==
        R"({"name":"soft moe","n":16,"lr":0.001,"one":1.0,"flags":[true,false,null],"nested":{"k":[],"e":{}}})");
  v.set("n", 32);  // replaces in place, keeps the position
  CHECK(serialize(v).find("\"n\":32,\"lr\"") != std::string::npos);
  CHECK(parse(serialize(v)) == v);
}

TEST_CASE("json: pretty serialisation") {
  const Value v = parse(R"({"a":[1,{"b":null}],"c":{},"d":[]})");
  CHECK(serialize(v, 2) ==
        "{\n"
        "  \"a\": [\n"
        "    1,\n"
        "    {\n"
        "      \"b\": null\n"
        "    }\n"
        "  ],\n"
        "  \"c\": {},\n"
        "  \"d\": []\n"
        "}");
  CHECK(parse(serialize(v, 2)) == v);
  CHECK(serialize(Value(5), 2) == "5");
}

TEST_CASE("json: strings are escaped on output") {
  const std::string s = std::string("q\"b\\n\nt\t\x01\x1f\0z", 12) + "\xE2\x82\xAC";
  const std::string text = serialize(Value(s));
  CHECK(text == "\"q\\\"b\\\\n\\nt\\t\\u0001\\u001f\\u0000z\xE2\x82\xAC\"");
  CHECK(serialize(Value(std::string("a\0b", 3))) == "\"a\\u0000b\"");
  CHECK(parse(serialize(Value(s))).as_string() == s);
  CHECK_THROWS_AS(serialize(Value(std::string("\xFF"))), std::invalid_argument);
}

TEST_CASE("json: doubles round-trip exactly and stay doubles") {
  const double values[] = {0.0,     -0.0,   1.0,    -3.0,   0.1,     1.0 / 3.0,  1e-7,   1e300,
                           -2.5e-308, 4.9e-324, 1e16, 123456789.125, std::numeric_limits<double>::max(),
                           std::numeric_limits<double>::min(), 0.30000000000000004};
  for (double d : values) {
    CAPTURE(d);
    const std::string text = serialize(Value(d));
    const Value back = parse(text);
    CHECK(back.type() == Value::Type::number);
    CHECK(back.as_double() == d);
    CHECK(std::signbit(back.as_double()) == std::signbit(d));
    CHECK(serialize(back) == text);
  }
  CHECK(serialize(Value(0.1)) == "0.1");
  CHECK(serialize(Value(2.0)) == "2.0");
  CHECK(serialize(Value(1e300)) == "1e+300");
  CHECK_THROWS_AS(serialize(Value(std::nan(""))), std::invalid_argument);
  CHECK_THROWS_AS(serialize(Value(HUGE_VAL)), std::invalid_argument);
}

TEST_CASE("json: integers stay exact") {
  const std::int64_t big = (std::int64_t{1} << 62) + 1;  // not representable as a double
  CHECK(parse(serialize(Value(big))).as_int() == big);
  CHECK(serialize(Value(std::size_t{7})) == "7");
  CHECK_THROWS_AS(Value(std::numeric_limits<unsigned long long>::max()), std::out_of_range);
  CHECK(Value(1) != Value(1.0));
}

TEST_CASE("json: serialisation is deterministic") {
  const std::string text = R"({"z":1,"a":[0.5,-2,"\u00e9"],"m":{"x":null}})";
  const std::string once = serialize(parse(text));
  CHECK(once == serialize(parse(once)));
  CHECK(once == R"({"z":1,"a":[0.5,-2,"é"],"m":{"x":null}})");
}
