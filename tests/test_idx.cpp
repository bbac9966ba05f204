// The IDX reader on small synthetic files: good files load, raw and gzip; each kind of damage gives a
// RunError whose message starts with the path and names the problem.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "idx_files.hpp"
#include "softmoe/data/idx.hpp"

using namespace softmoe;
using namespace softmoe::testing;

namespace {

std::vector<std::uint8_t> ramp(std::size_t n, unsigned step = 37) {
  std::vector<std::uint8_t> data(n);
  for (std::size_t i = 0; i < n; ++i) data[i] = static_cast<std::uint8_t>((i * step + i * i / 7) % 256);
  return data;
}

void write(const std::string& path, const std::string& bytes) {
  if (path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0) write_gz(path, bytes);
  else write_raw(path, bytes);
}

// Checks that the message starts with the path and contains `problem`.
void check_message(const std::string& message, const std::string& path, const std::string& problem) {
  CAPTURE(message);
  CHECK(message.rfind(path + ": ", 0) == 0);
  CHECK(message.find(problem) != std::string::npos);
  CHECK(message.find('\n') == std::string::npos);
}

}  // namespace

TEST_CASE("idx: good image and label files load, raw and gzip") {
  TempDir dir;
  for (const std::string suffix : {"", ".gz"}) {
    CAPTURE(suffix);
    const auto pixels = ramp(3 * 4 * 5);
    write(dir / ("images" + suffix), idx_bytes({3, 4, 5}, pixels));
    write(dir / ("labels" + suffix), idx_bytes({3}, {2, 0, 9}));
    const IdxImages images = read_idx_images(dir / ("images" + suffix));
    CHECK(images.count == 3);
    CHECK(images.rows == 4);
    CHECK(images.cols == 5);
    CHECK(images.pixels == pixels);
    CHECK(read_idx_labels(dir / ("labels" + suffix), 10) == std::vector<std::int32_t>{2, 0, 9});
  }
}

TEST_CASE("idx: an empty label file (count 0) is valid") {
  TempDir dir;
  write_gz(dir / "labels.gz", idx_bytes({0}, {}));
  CHECK(read_idx_labels(dir / "labels.gz", 10).empty());
}

TEST_CASE("idx: truncated data and trailing bytes") {
  TempDir dir;
  for (const std::string suffix : {"", ".gz"}) {
    CAPTURE(suffix);
    const std::string labels = dir / ("labels" + suffix), images = dir / ("images" + suffix);
    write(labels, idx_bytes({6}, {1, 2, 3, 4, 5}));
    check_message(run_error([&] { read_idx_labels(labels, 10); }), labels,
                  "truncated: header says 6 labels, file holds 5");
    write(labels, idx_bytes({6}, {1, 2, 3, 4, 5, 6, 7, 8}));
    check_message(run_error([&] { read_idx_labels(labels, 10); }), labels,
                  "trailing bytes: header says 6 labels, file holds 2 more bytes after them");
    write(images, idx_bytes({2, 3, 3}, ramp(17)));
    check_message(run_error([&] { read_idx_images(images); }), images,
                  "truncated: header says 2 images of 3x3 (18 bytes), file holds 17 bytes");
    write(images, idx_bytes({2, 3, 3}, ramp(19)));
    check_message(run_error([&] { read_idx_images(images); }), images,
                  "trailing bytes: header says 2 images of 3x3, file holds 1 more byte after them");
  }
}

TEST_CASE("idx: truncated header") {
  TempDir dir;
  const std::string path = dir / "images";
  write_raw(path, idx_bytes({2, 3, 3}, {}).substr(0, 10));
  check_message(run_error([&] { read_idx_images(path); }), path, "truncated header");
  write_raw(path, std::string(2, '\0'));
  check_message(run_error([&] { read_idx_images(path); }), path, "shorter than the 4-byte magic");
  write_raw(path, "");
  check_message(run_error([&] { read_idx_images(path); }), path, "not an IDX file");
}

TEST_CASE("idx: wrong magic, element type and rank") {
  TempDir dir;
  const std::string path = dir / "file.gz";
  std::string bytes = idx_bytes({2}, {0, 1});
  bytes[1] = '\x12';
  write_gz(path, bytes);
  check_message(run_error([&] { read_idx_labels(path, 10); }), path, "not an IDX file: magic begins 0x00 0x12");

  bytes = idx_bytes({2}, {0, 1});
  bytes[2] = '\x0D';
  write_gz(path, bytes);
  check_message(run_error([&] { read_idx_labels(path, 10); }), path,
                "IDX element type 0x0d (32-bit float), expected 0x08 (unsigned byte)");

  write_gz(path, idx_bytes({2}, {0, 1}));
  check_message(run_error([&] { read_idx_images(path); }), path, "IDX rank 1, expected 3");
  write_gz(path, idx_bytes({1, 2, 2}, {0, 1, 2, 3}));
  check_message(run_error([&] { read_idx_labels(path, 10); }), path, "IDX rank 3, expected 1");
}

TEST_CASE("idx: implausible dimensions are refused before allocating") {
  TempDir dir;
  const std::string path = dir / "images";
  write_raw(path, idx_bytes({0xFFFFFFFFu, 28, 28}, ramp(100)));
  check_message(run_error([&] { read_idx_images(path); }), path, "implausible header: dimensions 4294967295x28x28");
  write_raw(path, idx_bytes({70000, 200, 200}, ramp(100)));
  check_message(run_error([&] { read_idx_images(path); }), path, "are too large (limit 2^31 elements)");
  write_raw(path, idx_bytes({0x80000000u, 0, 1}, {}));
  check_message(run_error([&] { read_idx_images(path); }), path, "implausible header");
  write_raw(path, idx_bytes({2, 0, 3}, {}));
  check_message(run_error([&] { read_idx_images(path); }), path, "empty images: header says 0 rows, 3 columns");
  // A large but plausible header over a short file is reported as truncated, not allocated in full.
  write_raw(path, idx_bytes({60000, 28, 28}, ramp(1000)));
  check_message(run_error([&] { read_idx_images(path); }), path,
                "truncated: header says 60000 images of 28x28 (47040000 bytes), file holds 1000 bytes");
}

TEST_CASE("idx: label out of range") {
  TempDir dir;
  const std::string path = dir / "labels.gz";
  write_gz(path, idx_bytes({4}, {0, 9, 10, 3}));
  check_message(run_error([&] { read_idx_labels(path, 10); }), path,
                "label out of range: label 10 at index 2, expected 0 to 9");
  CHECK(read_idx_labels(path, 11).size() == 4);
}

TEST_CASE("idx: corrupt and cut-off gzip streams") {
  TempDir dir;
  const std::string good = dir / "good.gz", path = dir / "bad.gz";
  write_gz(good, idx_bytes({5, 28, 28}, ramp(5 * 28 * 28, 101)));
  const std::string bytes = read_raw(good);
  REQUIRE(bytes.size() > 200);

  std::string damaged = bytes;
  for (std::size_t i = bytes.size() / 2; i < bytes.size() / 2 + 16; ++i) damaged[i] = '\xFF';
  write_raw(path, damaged);
  check_message(run_error([&] { read_idx_images(path); }), path, "corrupt gzip stream (zlib: ");

  damaged = bytes;
  damaged[damaged.size() - 8] ^= 0x5A;  // the CRC in the gzip trailer
  write_raw(path, damaged);
  check_message(run_error([&] { read_idx_images(path); }), path, "corrupt gzip stream (zlib: incorrect data check)");

  write_raw(path, bytes.substr(0, bytes.size() / 2));
  check_message(run_error([&] { read_idx_images(path); }), path, "gzip stream ends early");
  write_raw(path, bytes.substr(0, bytes.size() - 4));  // only the trailer's length field is missing
  check_message(run_error([&] { read_idx_images(path); }), path, "gzip stream ends early");
}

TEST_CASE("idx: missing file and directory") {
  TempDir dir;
  const std::string path = dir / "nothing-here.gz";
  check_message(run_error([&] { read_idx_labels(path, 10); }), path, "cannot open: No such file or directory");
  check_message(run_error([&] { read_idx_labels(dir.str(), 10); }), dir.str(), "cannot read: Is a directory");
}
