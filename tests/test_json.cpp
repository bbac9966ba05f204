// io/json.hpp: nlohmann-json with softmoe's strictness: malformed text, duplicate keys, deep nesting and
// invalid UTF-8 are refused with a ParseError naming a byte; output is deterministic, keeps key order,
// refuses non-finite numbers; typed access refuses the wrong type.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

#include "softmoe/io/json.hpp"

using namespace softmoe::json;

namespace {

bool refused(const std::string& text) {
  try {
    parse(text);
  } catch (const ParseError&) {
    return true;
  }
  return false;
}

}  // namespace

TEST_CASE("json: scalars and typed access") {
  CHECK(parse("null").is_null());
  CHECK(as_bool(parse("true")));
  CHECK_FALSE(as_bool(parse(" false\n")));
  CHECK(as_int(parse("-17")) == -17);
  CHECK(as_int(parse("9223372036854775807")) == std::numeric_limits<std::int64_t>::max());
  CHECK(as_int(parse("-9223372036854775808")) == std::numeric_limits<std::int64_t>::min());
  CHECK_THROWS_AS(as_int(parse("9223372036854775808")), std::runtime_error);  // beyond int64
  CHECK_THROWS_AS(as_int(parse("1.5")), std::runtime_error);                  // an integer field never takes 1.5
  CHECK_THROWS_AS(as_int(parse("1.0")), std::runtime_error);
  CHECK(as_double(parse("-2.5E-3")) == -2.5e-3);
  CHECK(as_double(parse("3")) == 3.0);  // integers convert to double on request
  CHECK(as_string(parse(R"("a\"b\\c\/d\n\u00e9\ud83d\ude00")")) == "a\"b\\c/d\n\xC3\xA9\xF0\x9F\x98\x80");
  CHECK_THROWS_WITH(as_bool(parse("\"s\"")), "expected a boolean, found string");
  const Value object = parse(R"({"a": 1})");
  CHECK(find(object, "a") != nullptr);
  CHECK(find(object, "b") == nullptr);
  CHECK(find(parse("[1]"), "a") == nullptr);
  CHECK_THROWS_WITH_AS(at(object, "b"), "no key \"b\"", std::out_of_range);
}

TEST_CASE("json: malformed text is refused with the byte where it went wrong") {
  for (const char* text : {"", "   ", "nul", "True", "[1,]", "[1 2]", "[1,2", "{\"a\" 1}", "{\"a\":1,}", "{a:1}", "1 2",
                           "01", "-", "+1", "1.", ".5", "1e", "NaN", "Infinity", "\"abc", "\"a\nb\"", R"("\x")",
                           R"("\u12")", R"("\ud83d")", R"("\ude00")", "\"\xFF\"", "\"\xC3\"", "\"\xC0\xAF\"",
                           "\"\xED\xA0\x80\""}) {
    CAPTURE(text);
    CHECK(refused(text));
  }
  CHECK(refused(std::string("[1]\0", 4)));
  try {
    parse("[1,2;");
    FAIL("no ParseError");
  } catch (const ParseError& e) {
    CHECK(e.offset == 4);
    CHECK(std::string(e.what()).rfind("JSON at byte 4: ", 0) == 0);
  }
}

TEST_CASE("json: duplicate keys are refused at every depth") {
  CHECK(refused(R"({"a":1,"a":2})"));
  CHECK(refused(R"({"x":[{"a":1,"b":2,"a":3}]})"));
  CHECK_THROWS_WITH(parse(R"({"k":1,"k":1})"), doctest::Contains("duplicate key \"k\""));
  CHECK_FALSE(refused(R"({"a":{"a":1},"b":[{"a":1},{"a":2}]})"));  // the same key in different objects
}

TEST_CASE("json: nesting is limited") {
  CHECK(parse(std::string(kMaxDepth, '[') + std::string(kMaxDepth, ']')).is_array());
  CHECK(refused(std::string(kMaxDepth + 1, '[') + std::string(kMaxDepth + 1, ']')));
  CHECK(refused(std::string(1000000, '[')));  // hostile: refused, no stack overflow
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += "{\"a\":";
  CHECK(refused(objects));
}

TEST_CASE("json: serialisation keeps the order keys were written in, compact and pretty") {
  Value v = Value::object();
  v["name"] = "soft moe";
  v["n"] = 16;
  v["lr"] = 1e-3;
  v["one"] = 1.0;
  v["flags"] = Value::array({true, false, nullptr});
  v["nested"] = Value::object({{"k", Value::array()}, {"e", Value::object()}});
  CHECK(serialize(v) ==
        R"({"name":"soft moe","n":16,"lr":0.001,"one":1.0,"flags":[true,false,null],"nested":{"k":[],"e":{}}})");
  v["n"] = 32;  // replaces in place, keeps the position
  CHECK(serialize(v).find("\"n\":32,\"lr\"") != std::string::npos);
  CHECK(parse(serialize(v)) == v);
  CHECK(serialize(parse(R"({"a":[1,{"b":null}],"c":{},"d":[]})"), 2) ==
        "{\n  \"a\": [\n    1,\n    {\n      \"b\": null\n    }\n  ],\n  \"c\": {},\n  \"d\": []\n}");
}

TEST_CASE("json: doubles round-trip exactly and stay doubles; non-finite numbers and bad UTF-8 are refused") {
  const double values[] = {0.0,  -0.0, 1.0,  -3.0,    0.1,   1.0 / 3.0, 1e-7, 1e300, -2.5e-308, 4.9e-324,
                           1e16, 123456789.125, std::numeric_limits<double>::max(), 0.30000000000000004};
  for (double d : values) {
    CAPTURE(d);
    const std::string text = serialize(Value(d));
    const Value back = parse(text);
    CHECK(back.is_number_float());
    CHECK(as_double(back) == d);
    CHECK(std::signbit(as_double(back)) == std::signbit(d));
    CHECK(serialize(back) == text);
  }
  CHECK(serialize(Value(2.0)) == "2.0");
  CHECK(serialize(Value(0.3979553314740851)) == "0.3979553314740851");  // nlohmann's dump: ...08513
  CHECK(serialize(Value(1e15)) == "1000000000000000.0");
  CHECK(serialize(Value(1e300)) == "1e+300");
  CHECK_THROWS_AS(serialize(Value(std::nan(""))), std::invalid_argument);
  CHECK_THROWS_AS(serialize(Value::array({1.0, HUGE_VAL})), std::invalid_argument);
  CHECK_THROWS_AS(serialize(Value(std::string("\xFF"))), std::invalid_argument);
  CHECK(serialize(Value(std::string("q\"\x01"))) == "\"q\\\"\\u0001\"");
  const std::int64_t big = (std::int64_t{1} << 62) + 1;  // not representable as a double
  CHECK(as_int(parse(serialize(Value(big)))) == big);
}
