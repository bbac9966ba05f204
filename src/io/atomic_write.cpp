#include "softmoe/io/atomic_write.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "softmoe/errors.hpp"

namespace softmoe {
namespace fs = std::filesystem;
namespace {

fs::path directory_of(const fs::path& path) {
  return path.has_parent_path() ? path.parent_path() : fs::path(".");
}

fs::path temporary_name(const fs::path& path) {
  return directory_of(path) / fmt::format(".{}.tmp.{}", path.filename().string(), ::getpid());
}

}  // namespace

void atomic_write(const fs::path& path, std::string_view contents) {
  const fs::path temp = temporary_name(path);
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw RunError(fmt::format("{}: cannot write: {}", path.string(), std::strerror(errno)));
  const char* data = contents.data();
  std::size_t left = contents.size();
  int error = 0;
  while (left > 0 && error == 0) {
    const ssize_t written = ::write(fd, data, left);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) error = errno ? errno : EIO;
    else {
      data += written;
      left -= static_cast<std::size_t>(written);
    }
  }
  if (error == 0 && ::fsync(fd) != 0) error = errno;
  if (::close(fd) != 0 && error == 0) error = errno;
  if (error == 0 && ::rename(temp.c_str(), path.c_str()) != 0) error = errno;
  if (error != 0) {
    ::unlink(temp.c_str());
    throw RunError(fmt::format("{}: cannot write: {}", path.string(), std::strerror(error)));
  }
}

void check_writable_output(const fs::path& path, const std::string& flag) {
  const auto fail = [&](const std::string& why) {
    throw UsageError(fmt::format("{} {}: {}", flag, path.string(), why));
  };
  if (path.empty()) fail("empty path");
  std::error_code ec;
  if (fs::is_directory(path, ec)) fail("is a directory, expected a file name");
  const fs::path dir = directory_of(path);
  if (!fs::is_directory(dir, ec)) fail(fmt::format("directory {} does not exist", dir.string()));
  // Permission bits do not tell for root or read-only mounts: try to create a file.
  const fs::path probe = temporary_name(path);
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) fail(fmt::format("cannot write in {}: {}", dir.string(), std::strerror(errno)));
  ::close(fd);
  ::unlink(probe.c_str());
}

}  // namespace softmoe
