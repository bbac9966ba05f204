#pragma once
// The two kinds of user-facing failure. Each carries one line for stderr; main maps them to exit codes.
#include <stdexcept>

namespace softmoe {

// A bad command line: wrong flag value, impossible combination, unwritable output path. Exit code 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A failure at run time: corrupt or missing file, diverged training. Exit code 1.
struct RunError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace softmoe
