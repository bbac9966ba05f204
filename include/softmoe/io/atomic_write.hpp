#pragma once
// Every output file goes through here: written under a temporary name in the same directory, flushed
// to disk, then renamed over the target, so that a crash never leaves a half-written file.
#include <filesystem>
#include <string>
#include <string_view>

namespace softmoe {

// Throws RunError naming `path` when the file cannot be written.
void atomic_write(const std::filesystem::path& path, std::string_view contents);

// Before a long run: checks that `path` could be written (its directory exists and accepts a new file;
// the path is not a directory). Throws UsageError "FLAG PATH: problem". Creates nothing.
void check_writable_output(const std::filesystem::path& path, const std::string& flag);

}  // namespace softmoe
