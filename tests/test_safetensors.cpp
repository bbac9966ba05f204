// safetensors: round trips, the exact byte layout, every validation error, and a small fuzz (truncations
// and byte flips must load or throw RunError, never crash or read out of bounds).
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "softmoe/errors.hpp"
#include "softmoe/io/safetensors.hpp"

using namespace softmoe;
namespace fs = std::filesystem;

namespace {

// A fresh directory under the system temp directory, removed with its contents at scope exit.
struct TempDir {
  fs::path path;
  TempDir() : path(fs::temp_directory_path() / ("softmoe_test_safetensors_" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// A file image: u64 LE length of `header`, `header`, `data`.
std::string image(const std::string& header, const std::string& data = "") {
  std::string out(8, '\0');
  const std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return out + header + data;
}

// The RunError message that parsing `bytes` throws (source "f"), or "" when it loads.
std::string parse_error(const std::string& bytes, bool require_checksum = false) {
  try {
    SafetensorsFile::parse(bytes, "f", require_checksum);
  } catch (const RunError& e) {
    return e.what();
  }
  return "";
}

struct Sample {
  std::vector<float> f32{1.5f, -2.0f, 3.25f, 0.0f, 1e-3f, 7.0f};
  std::vector<double> f64{0.1, -1e300, 2.0};
  std::vector<std::int32_t> i32{-1, 0, 2147483647};
  std::vector<std::int64_t> i64{-5, 1LL << 40};
  double scalar = 42.5;

  std::vector<TensorView> views() const {
    return {{"w", "F32", {2, 3}, f32.data(), f32.size() * 4},
            {"v", "F64", {3}, f64.data(), f64.size() * 8},
            {"labels", "I32", {3}, i32.data(), i32.size() * 4},
            {"big", "I64", {2}, i64.data(), i64.size() * 8},
            {"s", "F64", {}, &scalar, 8},
            {"empty", "F32", {0, 4}, nullptr, 0}};
  }
};

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

TEST_CASE("safetensors: write then read round-trips names, order, metadata and values") {
  TempDir dir;
  const fs::path path = dir.path / "a.safetensors";
  Sample sample;
  write_safetensors(path, sample.views(), {{"epoch", "3"}, {"note", "x y"}});
  const auto file = SafetensorsFile::read(path, true);
  CHECK(file.source() == path.string());
  CHECK(file.names() == std::vector<std::string>{"w", "v", "labels", "big", "s", "empty"});
  CHECK(file.metadata().at("epoch") == "3");
  CHECK(file.metadata().at("note") == "x y");
  CHECK(file.metadata().at(kChecksumKey).size() == 8);
  CHECK(file.values<float>("w", {2, 3}) == sample.f32);
  CHECK(file.values<double>("v", {3}) == sample.f64);
  CHECK(file.values<std::int32_t>("labels", {3}) == sample.i32);
  CHECK(file.values<std::int64_t>("big", {2}) == sample.i64);
  CHECK(file.values<double>("s", {}) == std::vector<double>{42.5});
  CHECK(file.values<float>("empty", {0, 4}).empty());
  CHECK(file.tensor("v").dtype == "F64");
  CHECK(file.contains("labels"));
  CHECK_FALSE(file.contains("nope"));
  // conversions
  CHECK(file.values<double>("w", {2, 3})[2] == 3.25);
  CHECK(file.values<float>("v", {3})[0] == 0.1f);
  CHECK(file.values<std::int64_t>("labels", {3})[2] == 2147483647);
  const std::string too_big = path.string() + ": tensor 'big' value 1099511627776 at index 1 does not fit in 32 bits";
  CHECK_THROWS_WITH_AS(file.values<std::int32_t>("big", {2}), too_big.c_str(), RunError);
}

TEST_CASE("safetensors: byte layout matches the reference format") {
  const std::vector<double> a{1.0, 2.0};
  const std::vector<std::int32_t> b{7};
  const std::string bytes =
      encode_safetensors({{"a", "F64", {2}, a.data(), 16}, {"b", "I32", {1}, b.data(), 4}}, {{"k", "v"}});
  std::uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  CHECK(n % 8 == 0);
  CHECK(bytes.size() == 8 + n + 20);
  const std::string header = bytes.substr(8, n);
  CHECK(starts_with(header, R"({"__metadata__":{"k":"v","softmoe.crc32":")"));
  CHECK(header.find(R"("a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},)"
                    R"("b":{"dtype":"I32","shape":[1],"data_offsets":[16,20]}})") != std::string::npos);
  CHECK(header.find_last_not_of(' ') == header.rfind('}'));  // padded with spaces only
  CHECK(std::memcmp(bytes.data() + 8 + n, a.data(), 16) == 0);
  CHECK(std::memcmp(bytes.data() + 8 + n + 16, b.data(), 4) == 0);
  // the checksum is zlib's CRC-32 of the data region; "123456789" has the standard check value
  CHECK(crc32_of("123456789", 9) == 0xCBF43926u);
  char expected[9];
  std::snprintf(expected, sizeof expected, "%08x", crc32_of(bytes.data() + 8 + n, 20));
  const auto file = SafetensorsFile::parse(bytes, "mem", true);
  CHECK(file.metadata().at(kChecksumKey) == expected);
  // deterministic: identical input, identical bytes
  CHECK(encode_safetensors({{"a", "F64", {2}, a.data(), 16}, {"b", "I32", {1}, b.data(), 4}}, {{"k", "v"}}) == bytes);
}

TEST_CASE("safetensors: the caller's expectations are checked") {
  Sample sample;
  const auto file = SafetensorsFile::parse(encode_safetensors(sample.views(), {}), "m.st", true);
  CHECK_THROWS_WITH_AS(file.values<float>("w", {3, 2}), "m.st: tensor 'w' has shape [2, 3], expected [3, 2]", RunError);
  CHECK_THROWS_WITH_AS(file.values<double>("s", {1}), "m.st: tensor 's' has shape [], expected [1]", RunError);
  CHECK_THROWS_WITH_AS(file.values<float>("labels", {3}), "m.st: tensor 'labels' has dtype I32, expected F32 or F64",
                       RunError);
  CHECK_THROWS_WITH_AS(file.values<std::int64_t>("v", {3}), "m.st: tensor 'v' has dtype F64, expected I32 or I64",
                       RunError);
  CHECK_THROWS_WITH_AS(file.tensor("x"), "m.st: no tensor 'x'", RunError);
  CHECK_THROWS_WITH_AS(file.values<float>("x", {1}), "m.st: no tensor 'x'", RunError);
}

TEST_CASE("safetensors: invalid tensors are refused on write") {
  const std::vector<float> v{1, 2, 3};
  const auto encode = [&](TensorView t) { return encode_safetensors({t}, {}); };
  CHECK_THROWS_AS(encode({"a", "F16", {3}, v.data(), 6}), std::invalid_argument);
  CHECK_THROWS_AS(encode({"a", "F32", {2}, v.data(), 12}), std::invalid_argument);
  CHECK_THROWS_AS(encode({"", "F32", {3}, v.data(), 12}), std::invalid_argument);
  CHECK_THROWS_AS(encode({"__metadata__", "F32", {3}, v.data(), 12}), std::invalid_argument);
  CHECK_THROWS_AS(encode({"a", "F32", {3}, nullptr, 12}), std::invalid_argument);
  CHECK_THROWS_AS(encode({"a", "F32", {1ull << 62, 1ull << 62}, v.data(), 12}), std::invalid_argument);
  CHECK_THROWS_AS(encode_safetensors({{"a", "F32", {3}, v.data(), 12}, {"a", "F32", {3}, v.data(), 12}}, {}),
                  std::invalid_argument);
  // a caller's checksum value is replaced by the real one
  const auto file = SafetensorsFile::parse(encode_safetensors({{"a", "F32", {3}, v.data(), 12}}, {{kChecksumKey, "0"}}),
                                           "m", true);
  CHECK(file.metadata().at(kChecksumKey) != "0");
}

TEST_CASE("safetensors: file-level errors name the path") {
  TempDir dir;
  const fs::path missing = dir.path / "missing.safetensors";
  CHECK_THROWS_WITH_AS(SafetensorsFile::read(missing, false),
                       (missing.string() + ": cannot open: No such file or directory").c_str(), RunError);
  CHECK_THROWS_WITH_AS(SafetensorsFile::read(dir.path, false), (dir.path.string() + ": not a regular file").c_str(),
                       RunError);
  const std::vector<float> v{1};
  CHECK_THROWS_AS(write_safetensors(dir.path / "no" / "such" / "dir.safetensors", {{"a", "F32", {1}, v.data(), 4}}),
                  RunError);
  const fs::path short_file = dir.path / "short.safetensors";
  std::ofstream(short_file) << "abc";
  CHECK_THROWS_WITH_AS(SafetensorsFile::read(short_file, false),
                       (short_file.string() + ": file has 3 bytes, fewer than the 8-byte header length").c_str(),
                       RunError);
}

TEST_CASE("safetensors: every malformed header is a RunError saying what is wrong") {
  const std::string d8(8, '\0');  // data for one F64 or two F32
  const auto one = [&](const std::string& entry) { return parse_error(image(R"({"t":)" + entry + "}", d8)); };
  CHECK(parse_error("") == "f: file has 0 bytes, fewer than the 8-byte header length");
  CHECK(parse_error(std::string(8, '\0')) == "f: header length is 0");
  std::string huge = image("{}");
  huge[3] = 0x10;  // 2^28 + 2
  CHECK(parse_error(huge) == "f: header length 268435458 exceeds the 100 MB limit");
  CHECK(parse_error(image("{}").substr(0, 9)) == "f: header length 2 exceeds the 1 bytes after it");
  CHECK(parse_error(image("{\"a\":")).rfind("f: header is not valid JSON: JSON at byte 5: ", 0) == 0);
  CHECK(parse_error(image("[1]")) == "f: header is not a JSON object");
  CHECK(parse_error(image(R"({"a":1,"a":2})")) ==
        "f: header is not valid JSON: JSON: duplicate key \"a\"");
  CHECK(parse_error(image(R"({"__metadata__":[]})")) == "f: __metadata__ is not a JSON object");
  CHECK(parse_error(image(R"({"__metadata__":{"k":1}})")) == "f: __metadata__ value of 'k' is not a string");
  CHECK(one("3") == "f: tensor 't': entry is not a JSON object");
  CHECK(one(R"({"shape":[1],"data_offsets":[0,8]})") == "f: tensor 't': missing \"dtype\"");
  CHECK(one(R"({"dtype":"F64","data_offsets":[0,8]})") == "f: tensor 't': missing \"shape\"");
  CHECK(one(R"({"dtype":"F64","shape":[1]})") == "f: tensor 't': missing \"data_offsets\"");
  CHECK(one(R"({"dtype":64,"shape":[1],"data_offsets":[0,8]})") == "f: tensor 't': \"dtype\" is not a string");
  CHECK(one(R"({"dtype":"F128","shape":[1],"data_offsets":[0,8]})") == "f: tensor 't': unknown dtype 'F128'");
  const std::string bad_shape = "f: tensor 't': \"shape\" is not an array of non-negative integers";
  CHECK(one(R"({"dtype":"F64","shape":1,"data_offsets":[0,8]})") == bad_shape);
  CHECK(one(R"({"dtype":"F64","shape":[-1],"data_offsets":[0,8]})") == bad_shape);
  CHECK(one(R"({"dtype":"F64","shape":[1.0],"data_offsets":[0,8]})") == bad_shape);
  const std::string bad_offsets = "f: tensor 't': \"data_offsets\" is not an array of two non-negative integers";
  CHECK(one(R"({"dtype":"F64","shape":[1],"data_offsets":[8]})") == bad_offsets);
  CHECK(one(R"({"dtype":"F64","shape":[1],"data_offsets":[0,8,8]})") == bad_offsets);
  CHECK(one(R"({"dtype":"F64","shape":[1],"data_offsets":[0,"8"]})") == bad_offsets);
  CHECK(one(R"({"dtype":"F64","shape":[1],"data_offsets":[-8,0]})") == bad_offsets);
  CHECK(one(R"({"dtype":"F64","shape":[0],"data_offsets":[8,0]})") ==
        "f: tensor 't': data_offsets [8, 0] end before begin");
  CHECK(one(R"({"dtype":"F64","shape":[2],"data_offsets":[0,16]})") ==
        "f: tensor 't': data_offsets [0, 16] beyond the data region of 8 bytes");
  CHECK(one(R"({"dtype":"F64","shape":[1],"data_offsets":[0,9223372036854775807]})") ==
        "f: tensor 't': data_offsets [0, 9223372036854775807] beyond the data region of 8 bytes");
  CHECK(one(R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})") ==
        "f: tensor 't': shape [3] of F32 does not fit data_offsets [0, 8] (8 bytes)");
  CHECK(one(R"({"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]})") ==
        "f: tensor 't': shape [4294967296, 4294967296] of F64 does not fit data_offsets [0, 8] (8 bytes)");
  CHECK(one(R"({"dtype":"F64","shape":[4294967296,4294967296,0],"data_offsets":[0,8]})") ==
        "f: tensor 't': shape [4294967296, 4294967296, 0] of F64 does not fit data_offsets [0, 8] (8 bytes)");
  CHECK(parse_error(image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", d8)) ==
        "f: tensors 'a' and 'b' overlap in the data region");
  // gaps, empty tensors anywhere and unknown entry keys are fine
  CHECK(parse_error(image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8],"x":1},)"
                          R"("e":{"dtype":"U8","shape":[0],"data_offsets":[6,6]}})", d8)) == "");
}

TEST_CASE("safetensors: checksums") {
  const std::vector<double> v{1.0, 2.0, 3.0};
  const std::string good = encode_safetensors({{"v", "F64", {3}, v.data(), 24}}, {});
  CHECK(parse_error(good, true) == "");
  std::string flipped = good;
  flipped[flipped.size() - 3] ^= 0x01;
  const std::string error = parse_error(flipped, false);
  CHECK(starts_with(error, "f: checksum mismatch: metadata softmoe.crc32 is '"));
  const std::string unchecked = image(R"({"v":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", std::string(8, 'x'));
  CHECK(parse_error(unchecked, false) == "");
  CHECK(parse_error(unchecked, true) == "f: no softmoe.crc32 checksum in the metadata");
  const std::string wrong =
      image(R"({"__metadata__":{"softmoe.crc32":"CBF43926"},"v":{"dtype":"U8","shape":[9],"data_offsets":[0,9]}})",
            "123456789");
  CHECK(parse_error(wrong) == "f: checksum mismatch: metadata softmoe.crc32 is 'CBF43926', the data region's CRC-32 "
                              "is cbf43926");
}

TEST_CASE("safetensors: truncations and byte flips load or throw RunError, nothing else") {
  Sample sample;
  const std::string good = encode_safetensors(sample.views(), {{"k", "v"}});
  // Every copy helper on every tensor of whatever loads: a bounds violation would show under ASan.
  const auto exercise = [](const std::string& bytes, bool require_checksum) -> int {
    try {
      const auto file = SafetensorsFile::parse(bytes, "fuzz", require_checksum);
      for (const auto& t : file.tensors()) {
        try {
          if (t.dtype == "F32" || t.dtype == "F64") (void)file.values<double>(t.name, t.shape);
          else (void)file.values<std::int64_t>(t.name, t.shape);
        } catch (const RunError&) {
        }
      }
      return 1;
    } catch (const RunError&) {
      return 0;
    }
  };
  int loaded = 0;
  for (std::size_t length = 0; length < good.size(); ++length) loaded += exercise(good.substr(0, length), false);
  CHECK(loaded == 0);  // the last tensor ends at the end of the file: every truncation is detected
  CHECK(exercise(good, true) == 1);

  std::mt19937 rng(1234);
  int flips_loaded = 0, checked_loaded = 0;
  for (int trial = 0; trial < 4000; ++trial) {
    std::string bytes = good;
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < flips; ++k) bytes[rng() % bytes.size()] ^= static_cast<char>(1 + rng() % 255);
    flips_loaded += exercise(bytes, false);
    checked_loaded += exercise(bytes, true);
  }
  MESSAGE("byte flips that still load: " << flips_loaded << " of 4000 without, " << checked_loaded
                                         << " with a required checksum");
  // random header bytes: pure garbage after a plausible length
  for (int trial = 0; trial < 2000; ++trial) {
    std::string bytes = image(std::string(8 + rng() % 64, ' '));
    for (std::size_t i = 8; i < bytes.size(); ++i) bytes[i] = "{}[]\":,0123456789-.eE tfnulrsa\\"[rng() % 32];
    (void)exercise(bytes, false);
  }
}
