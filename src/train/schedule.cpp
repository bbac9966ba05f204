#include "softmoe/train/schedule.hpp"

#include <cmath>

namespace softmoe {

double cosine_lr(double base_lr, long step, long warmup_steps, long total_steps, double min_lr) {
  if (step < 0) step = 0;
  if (warmup_steps > 0 && step < warmup_steps)
    return base_lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  const long decay = total_steps - (warmup_steps > 0 ? warmup_steps : 0);
  if (decay <= 0) return base_lr;
  const long into = step - (warmup_steps > 0 ? warmup_steps : 0);
  if (into >= decay) return min_lr;
  const double progress = static_cast<double>(into) / static_cast<double>(decay);
  return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

}  // namespace softmoe
