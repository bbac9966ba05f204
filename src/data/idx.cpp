#include "softmoe/data/idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "softmoe/errors.hpp"

namespace softmoe {
namespace {

// A file read through zlib: gzip streams are inflated (CRC and length checked at their end), other
// files are passed through unchanged. Every zlib or system error becomes "PATH: problem".
class GzReader {
 public:
  explicit GzReader(const std::string& path) : path_(path) {
    errno = 0;
    file_ = gzopen(path.c_str(), "rb");
    if (file_ == nullptr) fail(fmt::format("cannot open: {}", std::strerror(errno ? errno : ENOMEM)));
  }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;
  ~GzReader() { gzclose_r(file_); }

  [[noreturn]] void fail(const std::string& what) const { throw RunError(path_ + ": " + what); }

  // Reads up to `size` bytes into dst; fewer only at the end of the data.
  std::size_t read(std::uint8_t* dst, std::size_t size) {
    std::size_t done = 0;
    while (done < size) {
      const auto chunk = static_cast<unsigned>(std::min<std::size_t>(size - done, std::size_t(1) << 24));
      const int got = gzread(file_, dst + done, chunk);
      if (got < 0) fail_with_zlib_error();
      if (got == 0) break;
      done += static_cast<std::size_t>(got);
    }
    if (done < size) check_clean_end();
    return done;
  }

  // Reads to the end of the data (which also verifies a gzip trailer); returns how many bytes were left.
  std::uint64_t skip_rest() {
    std::array<std::uint8_t, 1 << 16> scratch;
    std::uint64_t total = 0;
    for (std::size_t got; (got = read(scratch.data(), scratch.size())) > 0;) total += got;
    return total;
  }

 private:
  // After a short read: zlib reports a gzip stream that stops before its end as Z_BUF_ERROR.
  void check_clean_end() {
    int code = Z_OK;
    gzerror(file_, &code);
    if (code == Z_BUF_ERROR) fail("gzip stream ends early: the compressed file is cut off");
    if (code != Z_OK) fail_with_zlib_error();
  }

  [[noreturn]] void fail_with_zlib_error() {
    int code = Z_OK;
    const char* message = gzerror(file_, &code);
    if (code == Z_ERRNO) fail(fmt::format("cannot read: {}", std::strerror(errno)));
    std::string text = message ? message : "unknown error";
    const std::string prefix = path_ + ": ";  // zlib puts the path in front of its own messages
    if (text.compare(0, prefix.size(), prefix) == 0) text.erase(0, prefix.size());
    if (code == Z_BUF_ERROR) fail("gzip stream ends early: the compressed file is cut off");
    fail(fmt::format("corrupt gzip stream (zlib: {})", text));
  }

  std::string path_;
  gzFile file_ = nullptr;
};

// "28x28". (By hand: fmt 9's fmt::join trips a false -Wstringop-overflow in GCC 12 at -O3.)
std::string join_dims(const std::vector<std::uint32_t>& dims, std::size_t from = 0) {
  std::string text;
  for (std::size_t i = from; i < dims.size(); ++i) text += (i == from ? "" : "x") + std::to_string(dims[i]);
  return text;
}

const char* type_name(std::uint8_t type) {
  switch (type) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "16-bit int";
    case 0x0C: return "32-bit int";
    case 0x0D: return "32-bit float";
    case 0x0E: return "64-bit float";
    default: return "not an IDX type";
  }
}

// What the caller expects: the rank, and words for messages.
struct IdxKind {
  int rank;
  const char* file;   // "an image file"
  const char* items;  // "images"
};

struct IdxArray {
  std::vector<std::uint32_t> dims;
  std::vector<std::uint8_t> data;
};

std::uint32_t big_endian(const std::uint8_t* p) {
  return std::uint32_t(p[0]) << 24 | std::uint32_t(p[1]) << 16 | std::uint32_t(p[2]) << 8 | std::uint32_t(p[3]);
}

// Magic and dims; returns the dims after checking them against kIdxMaxElements.
std::vector<std::uint32_t> read_header(GzReader& in, const IdxKind& kind) {
  std::array<std::uint8_t, 4> magic{};
  const std::size_t got = in.read(magic.data(), magic.size());
  if (got < magic.size()) in.fail(fmt::format("not an IDX file: {} bytes long, shorter than the 4-byte magic", got));
  if (magic[0] != 0 || magic[1] != 0)
    in.fail(fmt::format("not an IDX file: magic begins {:#04x} {:#04x}, expected 0x00 0x00", magic[0], magic[1]));
  if (magic[2] != 0x08)
    in.fail(fmt::format("IDX element type {:#04x} ({}), expected 0x08 (unsigned byte)", magic[2], type_name(magic[2])));
  if (magic[3] != kind.rank)
    in.fail(fmt::format("IDX rank {}, expected {} for {}", magic[3], kind.rank, kind.file));

  std::vector<std::uint8_t> raw(4 * static_cast<std::size_t>(kind.rank));
  const std::size_t header_got = in.read(raw.data(), raw.size());
  if (header_got < raw.size())
    in.fail(fmt::format("truncated header: {} needs {} bytes, file holds {}", kind.file, 4 + raw.size(),
                        4 + header_got));
  std::vector<std::uint32_t> dims(kind.rank);
  std::uint64_t elements = 1;  // clamped, so that it cannot overflow
  bool too_big = false;
  for (int i = 0; i < kind.rank; ++i) {
    dims[i] = big_endian(&raw[4 * i]);
    too_big = too_big || dims[i] >= kIdxMaxElements;
    elements = std::min<std::uint64_t>(elements * dims[i], kIdxMaxElements + 1);
  }
  if (too_big || elements > kIdxMaxElements)
    in.fail(fmt::format("implausible header: dimensions {} are too large (limit 2^31 elements)", join_dims(dims)));
  return dims;
}

// "60000 labels" or "60000 images of 28x28".
std::string describe(const std::vector<std::uint32_t>& dims, const IdxKind& kind) {
  std::string text = fmt::format("{} {}", dims[0], kind.items);
  if (dims.size() > 1) text += fmt::format(" of {}", join_dims(dims, 1));
  return text;
}

IdxArray read_idx(const std::string& path, const IdxKind& kind) {
  GzReader in(path);
  IdxArray idx;
  idx.dims = read_header(in, kind);
  std::size_t expected = 1;
  for (auto d : idx.dims) expected *= d;

  // Reserve at most 64 MiB up front (MNIST's largest file is 47 MB) and grow with the data actually
  // read beyond that, so that a lying header cannot make us allocate 2 GiB for a short file.
  constexpr std::size_t kChunk = std::size_t(1) << 22;
  idx.data.reserve(std::min(expected, std::size_t(1) << 26));
  std::size_t have = 0;
  while (have < expected) {
    const std::size_t want = std::min(kChunk, expected - have);
    idx.data.resize(have + want);
    const std::size_t got = in.read(idx.data.data() + have, want);
    have += got;
    if (got < want) break;
  }
  idx.data.resize(have);
  if (have < expected) {
    if (idx.dims.size() == 1)
      in.fail(fmt::format("truncated: header says {}, file holds {}", describe(idx.dims, kind), have));
    in.fail(fmt::format("truncated: header says {} ({} bytes), file holds {} bytes", describe(idx.dims, kind),
                        expected, have));
  }
  if (const std::uint64_t extra = in.skip_rest(); extra > 0)
    in.fail(fmt::format("trailing bytes: header says {}, file holds {} more byte{} after them",
                        describe(idx.dims, kind), extra, extra == 1 ? "" : "s"));
  return idx;
}

}  // namespace

IdxImages read_idx_images(const std::string& path) {
  IdxArray idx = read_idx(path, {3, "an image file [count, rows, cols]", "images"});
  if (idx.dims[1] == 0 || idx.dims[2] == 0)
    throw RunError(fmt::format("{}: empty images: header says {} rows, {} columns", path, idx.dims[1], idx.dims[2]));
  IdxImages images;
  images.count = static_cast<int>(idx.dims[0]);
  images.rows = static_cast<int>(idx.dims[1]);
  images.cols = static_cast<int>(idx.dims[2]);
  images.pixels = std::move(idx.data);
  return images;
}

std::vector<std::int32_t> read_idx_labels(const std::string& path, int classes) {
  IdxArray idx = read_idx(path, {1, "a label file [count]", "labels"});
  std::vector<std::int32_t> labels(idx.data.begin(), idx.data.end());
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] >= classes)
      throw RunError(fmt::format("{}: label out of range: label {} at index {}, expected 0 to {}", path, labels[i],
                                 i, classes - 1));
  return labels;
}

}  // namespace softmoe
