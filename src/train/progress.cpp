#include "softmoe/train/progress.hpp"

#include <unistd.h>

#include <fmt/format.h>

namespace softmoe {

Progress::Progress(bool quiet, int epochs, int examples_per_epoch)
    : quiet_(quiet), terminal_(::isatty(STDERR_FILENO) == 1), epochs_(epochs), examples_(examples_per_epoch) {}

void Progress::update(int epoch, int done, double loss) {
  if (quiet_ || !terminal_) return;
  const auto now = std::chrono::steady_clock::now();
  if (done <= 0 || !drawn_) epoch_start_ = now;
  if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100) && done < examples_) return;
  last_draw_ = now;
  drawn_ = true;
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(static_cast<long>(kWidth) * done / examples_);
  const double seconds = std::chrono::duration<double>(now - epoch_start_).count();
  fmt::print(stderr, "\repoch {}/{} [{}{}] {}/{} loss {:.4f} {:.0f} samples/s ", epoch, epochs_,
             std::string(filled, '='), std::string(kWidth - filled, ' '), done, examples_, loss,
             seconds > 0 ? done / seconds : 0.0);
}

void Progress::epoch_done(int epoch, const std::string& summary) {
  if (quiet_) return;
  fmt::print(stderr, "{}epoch {}/{}: {}\n", terminal_ ? "\r\033[K" : "", epoch, epochs_, summary);
  drawn_ = false;
}

void Progress::message(const std::string& line) {
  if (!quiet_) fmt::print(stderr, "{}\n", line);
}

}  // namespace softmoe
