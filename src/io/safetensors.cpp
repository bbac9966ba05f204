#include "softmoe/io/safetensors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <numeric>
#include <set>
#include <stdexcept>
#include <type_traits>

#include <fmt/format.h>

#include "softmoe/errors.hpp"
#include "softmoe/io/atomic_write.hpp"
#include "softmoe/io/json.hpp"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little-endian; so is this code");

namespace softmoe {
namespace {

constexpr std::size_t kMaxHeaderBytes = 100u << 20;  // 100 MB, as the reference implementation
constexpr char kMetadataKey[] = "__metadata__";

// Bytes per element; 0 for an unknown dtype.
std::size_t dtype_size(const std::string& dtype) {
  static const std::map<std::string, std::size_t> sizes = {
      {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"I64", 8},
      {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U64", 8},  {"U32", 4},     {"U16", 2},     {"U8", 1},  {"BOOL", 1}};
  const auto it = sizes.find(dtype);
  return it == sizes.end() ? 0 : it->second;
}

bool writable_dtype(const std::string& dtype) {
  return dtype == "F32" || dtype == "F64" || dtype == "I32" || dtype == "I64";
}

// product(shape), or false on overflow of size_t.
bool element_count(const std::vector<std::size_t>& shape, std::size_t& count) {
  count = 1;
  if (std::find(shape.begin(), shape.end(), std::size_t{0}) != shape.end()) {
    count = 0;
    return true;
  }
  for (std::size_t dim : shape) {
    if (count > std::numeric_limits<std::size_t>::max() / dim) return false;
    count *= dim;
  }
  return true;
}

// 8 lowercase hex digits. (By hand: fmt 9's "{:08x}" trips a GCC 12 -Wstringop-overflow false positive.)
std::string hex8(std::uint32_t value) {
  std::string out(8, '0');
  for (int i = 7; i >= 0; --i, value >>= 4) out[i] = "0123456789abcdef"[value & 0xF];
  return out;
}

}  // namespace

std::string shape_string(const std::vector<std::size_t>& shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) out += (i > 0 ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

std::uint32_t crc32_of(const void* data, std::size_t bytes) {
  uLong crc = ::crc32(0L, Z_NULL, 0);
  const auto* p = static_cast<const Bytef*>(data);
  while (bytes > 0) {  // zlib takes uInt lengths
    const auto chunk = static_cast<uInt>(std::min<std::size_t>(bytes, 1u << 30));
    crc = ::crc32(crc, p, chunk);
    p += chunk;
    bytes -= chunk;
  }
  return static_cast<std::uint32_t>(crc);
}

// ---------------------------------------------------------------------------------------------------
// Writing

// File image: u64 LE header length N | N bytes of JSON header padded with spaces to a multiple of 8 |
// the tensors' bytes, back to back in the order given.
std::string encode_safetensors(const std::vector<TensorView>& tensors, std::map<std::string, std::string> metadata) {
  std::set<std::string> names;
  std::size_t data_bytes = 0;
  for (const auto& t : tensors) {
    const auto bad = [&](const std::string& why) {
      throw std::invalid_argument(fmt::format("safetensors: tensor '{}': {}", t.name, why));
    };
    if (t.name.empty() || t.name == kMetadataKey) bad("reserved or empty name");
    if (!names.insert(t.name).second) bad("duplicate name");
    if (!writable_dtype(t.dtype)) bad("dtype must be F32, F64, I32 or I64, not '" + t.dtype + "'");
    std::size_t count = 0;
    if (!element_count(t.shape, count) || count > t.bytes || count * dtype_size(t.dtype) != t.bytes)
      bad(fmt::format("shape {} of dtype {} does not match {} bytes", shape_string(t.shape), t.dtype, t.bytes));
    if (t.bytes > 0 && t.data == nullptr) bad("null data");
    data_bytes += t.bytes;
  }

  std::string data;
  data.reserve(data_bytes);
  json::Value entries = json::Value::object();
  for (const auto& t : tensors) {
    json::Value shape = json::Value::array();
    for (std::size_t dim : t.shape) shape.push_back(dim);
    const std::size_t begin = data.size();
    if (t.bytes > 0) data.append(static_cast<const char*>(t.data), t.bytes);
    json::Value entry = json::Value::object();
    entry["dtype"] = t.dtype;
    entry["shape"] = std::move(shape);
    entry["data_offsets"] = json::Value::array({begin, data.size()});
    entries[t.name] = std::move(entry);
  }
  metadata[kChecksumKey] = hex8(crc32_of(data.data(), data.size()));
  json::Value header = json::Value::object();  // the metadata first, then the tensors in their order
  header[kMetadataKey] = json::Value::object();
  for (const auto& [key, value] : metadata) header[kMetadataKey][key] = value;
  for (auto& [name, entry] : entries.items()) header[name] = std::move(entry);

  std::string text = json::serialize(header);
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string image(8, '\0');
  for (int i = 0; i < 8; ++i) image[i] = static_cast<char>((static_cast<std::uint64_t>(text.size()) >> (8 * i)) & 0xFF);
  image += text;
  image += data;
  return image;
}

void write_safetensors(const std::filesystem::path& path, const std::vector<TensorView>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  atomic_write(path, encode_safetensors(tensors, metadata));
}

// ---------------------------------------------------------------------------------------------------
// Reading

namespace {

std::string read_whole_file(const std::filesystem::path& path) {
  const auto fail = [&](const std::string& why) { throw RunError(fmt::format("{}: {}", path.string(), why)); };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(fmt::format("cannot open: {}", std::strerror(errno)));
  struct stat st {};
  std::string image;
  int error = 0;
  if (::fstat(fd, &st) != 0) error = errno;
  else if (!S_ISREG(st.st_mode)) error = EISDIR;
  else image.resize(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  while (error == 0 && done < image.size()) {
    const ssize_t got = ::read(fd, image.data() + done, image.size() - done);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) error = errno;
    else if (got == 0) image.resize(done);  // shrank while reading
    else done += static_cast<std::size_t>(got);
  }
  ::close(fd);
  if (error == EISDIR) fail("not a regular file");
  if (error != 0) fail(fmt::format("cannot read: {}", std::strerror(error)));
  return image;
}

// A JSON array of non-negative integers, or false.
bool size_list(const json::Value& value, std::vector<std::size_t>& out) {
  if (!value.is_array()) return false;
  out.clear();
  for (const auto& item : value) {
    if (!item.is_number_integer() || (!item.is_number_unsigned() && item.get<std::int64_t>() < 0)) return false;
    out.push_back(item.get<std::size_t>());
  }
  return true;
}

}  // namespace

SafetensorsFile SafetensorsFile::read(const std::filesystem::path& path, bool require_checksum) {
  return parse(read_whole_file(path), path.string(), require_checksum);
}

// image: u64 LE N | N bytes of JSON header | data region. Validates the length, the header, every entry's
// dtype/shape/offsets against the data region, overlaps, then the checksum; keeps the image.
SafetensorsFile SafetensorsFile::parse(std::string image, const std::string& source, bool require_checksum) {
  const auto fail = [&](const std::string& why) { throw RunError(fmt::format("{}: {}", source, why)); };
  if (image.size() < 8) fail(fmt::format("file has {} bytes, fewer than the 8-byte header length", image.size()));
  std::uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | static_cast<unsigned char>(image[i]);
  if (header_bytes == 0) fail("header length is 0");
  if (header_bytes > kMaxHeaderBytes) fail(fmt::format("header length {} exceeds the 100 MB limit", header_bytes));
  if (header_bytes > image.size() - 8)
    fail(fmt::format("header length {} exceeds the {} bytes after it", header_bytes, image.size() - 8));

  json::Value header;
  try {
    header = json::parse(std::string_view(image).substr(8, header_bytes));
  } catch (const json::ParseError& e) {
    fail(fmt::format("header is not valid JSON: {}", e.what()));
  }
  if (!header.is_object()) fail("header is not a JSON object");

  SafetensorsFile file;
  file.source_ = source;
  file.data_start_ = 8 + header_bytes;
  const std::size_t data_bytes = image.size() - file.data_start_;
  for (const auto& [name, entry] : header.items()) {
    if (name == kMetadataKey) {
      if (!entry.is_object()) fail("__metadata__ is not a JSON object");
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string()) fail(fmt::format("__metadata__ value of '{}' is not a string", key));
        file.metadata_[key] = value.get<std::string>();
      }
      continue;
    }
    const auto bad = [&](const std::string& why) { fail(fmt::format("tensor '{}': {}", name, why)); };
    if (!entry.is_object()) bad("entry is not a JSON object");
    TensorInfo info;
    info.name = name;
    const json::Value* dtype = json::find(entry, "dtype");
    const json::Value* shape = json::find(entry, "shape");
    const json::Value* offsets = json::find(entry, "data_offsets");
    if (!dtype) bad("missing \"dtype\"");
    if (!shape) bad("missing \"shape\"");
    if (!offsets) bad("missing \"data_offsets\"");
    if (!dtype->is_string()) bad("\"dtype\" is not a string");
    info.dtype = dtype->get<std::string>();
    const std::size_t element_bytes = dtype_size(info.dtype);
    if (element_bytes == 0) bad(fmt::format("unknown dtype '{}'", info.dtype));
    if (!size_list(*shape, info.shape)) bad("\"shape\" is not an array of non-negative integers");
    std::vector<std::size_t> range;
    if (!size_list(*offsets, range) || range.size() != 2)
      bad("\"data_offsets\" is not an array of two non-negative integers");
    info.begin = range[0];
    info.end = range[1];
    const std::string offsets_text = fmt::format("data_offsets [{}, {}]", info.begin, info.end);
    if (info.end < info.begin) bad(offsets_text + " end before begin");
    if (info.end > data_bytes) bad(fmt::format("{} beyond the data region of {} bytes", offsets_text, data_bytes));
    std::size_t count = 0;
    if (!element_count(info.shape, count) || count > data_bytes || count * element_bytes != info.end - info.begin)
      bad(fmt::format("shape {} of {} does not fit {} ({} bytes)", shape_string(info.shape), info.dtype,
                      offsets_text, info.end - info.begin));
    file.tensors_.push_back(std::move(info));
  }

  std::vector<const TensorInfo*> by_offset;
  for (const auto& t : file.tensors_)
    if (t.end > t.begin) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
  for (std::size_t i = 1; i < by_offset.size(); ++i)
    if (by_offset[i]->begin < by_offset[i - 1]->end)
      fail(fmt::format("tensors '{}' and '{}' overlap in the data region", by_offset[i - 1]->name, by_offset[i]->name));

  const auto checksum = file.metadata_.find(kChecksumKey);
  if (checksum == file.metadata_.end()) {
    if (require_checksum) fail(fmt::format("no {} checksum in the metadata", kChecksumKey));
  } else {
    const std::string actual = hex8(crc32_of(image.data() + file.data_start_, data_bytes));
    if (checksum->second != actual)
      fail(fmt::format("checksum mismatch: metadata {} is '{}', the data region's CRC-32 is {}", kChecksumKey,
                       checksum->second, actual));
  }
  file.image_ = std::move(image);
  return file;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  for (const auto& t : tensors_) out.push_back(t.name);
  return out;
}

bool SafetensorsFile::contains(const std::string& name) const {
  return std::any_of(tensors_.begin(), tensors_.end(), [&](const TensorInfo& t) { return t.name == name; });
}

const TensorInfo& SafetensorsFile::tensor(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return t;
  throw RunError(fmt::format("{}: no tensor '{}'", source_, name));
}

const void* SafetensorsFile::data(const TensorInfo& info) const { return image_.data() + data_start_ + info.begin; }

namespace {

// Element i of a little-endian array of S at `bytes`, which may be unaligned.
template <class S>
S load(const char* bytes, std::size_t i) {
  S value;
  std::memcpy(&value, bytes + i * sizeof(S), sizeof(S));
  return value;
}

}  // namespace

template <class T>
void SafetensorsFile::copy_to(const std::string& name, const std::vector<std::size_t>& expected_shape, T* out) const {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, std::int32_t> ||
                std::is_same_v<T, std::int64_t>);
  const TensorInfo& info = tensor(name);
  const auto fail = [&](const std::string& why) {
    throw RunError(fmt::format("{}: tensor '{}' {}", source_, name, why));
  };
  if (info.shape != expected_shape)
    fail(fmt::format("has shape {}, expected {}", shape_string(info.shape), shape_string(expected_shape)));
  const char* bytes = static_cast<const char*>(data(info));
  const std::size_t count = (info.end - info.begin) / dtype_size(info.dtype);
  if constexpr (std::is_floating_point_v<T>) {
    if (info.dtype == "F32") {
      for (std::size_t i = 0; i < count; ++i) out[i] = static_cast<T>(load<float>(bytes, i));
    } else if (info.dtype == "F64") {
      for (std::size_t i = 0; i < count; ++i) out[i] = static_cast<T>(load<double>(bytes, i));
    } else {
      fail(fmt::format("has dtype {}, expected F32 or F64", info.dtype));
    }
  } else {
    if (info.dtype == "I32") {
      for (std::size_t i = 0; i < count; ++i) out[i] = static_cast<T>(load<std::int32_t>(bytes, i));
    } else if (info.dtype == "I64") {
      for (std::size_t i = 0; i < count; ++i) {
        const auto value = load<std::int64_t>(bytes, i);
        if constexpr (sizeof(T) < sizeof(std::int64_t))
          if (value < std::numeric_limits<T>::min() || value > std::numeric_limits<T>::max())
            fail(fmt::format("value {} at index {} does not fit in 32 bits", value, i));
        out[i] = static_cast<T>(value);
      }
    } else {
      fail(fmt::format("has dtype {}, expected I32 or I64", info.dtype));
    }
  }
}

template <class T>
std::vector<T> SafetensorsFile::values(const std::string& name, const std::vector<std::size_t>& expected_shape) const {
  std::size_t count = 0;
  if (!element_count(expected_shape, count)) throw std::invalid_argument("safetensors: expected shape overflows");
  std::vector<T> out(count);
  copy_to(name, expected_shape, out.data());
  return out;
}

template void SafetensorsFile::copy_to(const std::string&, const std::vector<std::size_t>&, float*) const;
template void SafetensorsFile::copy_to(const std::string&, const std::vector<std::size_t>&, double*) const;
template void SafetensorsFile::copy_to(const std::string&, const std::vector<std::size_t>&, std::int32_t*) const;
template void SafetensorsFile::copy_to(const std::string&, const std::vector<std::size_t>&, std::int64_t*) const;
template std::vector<float> SafetensorsFile::values(const std::string&, const std::vector<std::size_t>&) const;
template std::vector<double> SafetensorsFile::values(const std::string&, const std::vector<std::size_t>&) const;
template std::vector<std::int32_t> SafetensorsFile::values(const std::string&, const std::vector<std::size_t>&) const;
template std::vector<std::int64_t> SafetensorsFile::values(const std::string&, const std::vector<std::size_t>&) const;

}  // namespace softmoe
