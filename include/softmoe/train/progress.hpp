#pragma once
// Progress on stderr for long runs: a redrawn bar when stderr is a terminal, otherwise nothing until
// the epoch's summary line; silent when quiet.
#include <chrono>
#include <string>

namespace softmoe {

class Progress {
 public:
  Progress(bool quiet, int epochs, int examples_per_epoch);

  // During an epoch: examples done so far and their mean loss (redraws at most ten times a second,
  // terminals only).
  void update(int epoch, int examples_done, double loss);
  // After an epoch: one summary line.
  void epoch_done(int epoch, const std::string& summary);
  void message(const std::string& line);

 private:
  bool quiet_, terminal_;
  int epochs_, examples_;
  std::chrono::steady_clock::time_point epoch_start_, last_draw_;
  bool drawn_ = false;
};

}  // namespace softmoe
