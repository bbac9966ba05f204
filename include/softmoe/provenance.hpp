#pragma once
// Where a result came from, for the files a run writes.
#include <string>

namespace softmoe {

// The git commit softmoe was built from ("" when not built from a checkout), with "-dirty" when the
// checkout had uncommitted changes to tracked files at build time.
const std::string& build_commit();

// Now, in UTC, as ISO 8601: 2026-12-01T22:56:16Z.
std::string utc_timestamp();

}  // namespace softmoe
