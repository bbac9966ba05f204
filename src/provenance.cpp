#include "softmoe/provenance.hpp"

#include <ctime>

namespace softmoe {

extern const char* const kBuildCommit;  // generated at build time (CMakeLists.txt, cmake/commit.cmake)

const std::string& build_commit() {
  static const std::string commit = kBuildCommit;
  return commit;
}

std::string utc_timestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

}  // namespace softmoe
