#pragma once
// Learning-rate schedules, as functions of the update count.
#include "softmoe/names.hpp"

namespace softmoe {

enum class Schedule { constant, cosine };
inline constexpr EnumName<Schedule> kScheduleNames[] = {{Schedule::constant, "constant"}, {Schedule::cosine, "cosine"}};
inline const char* to_string(Schedule value) { return name_of(value, kScheduleNames); }

// The learning rate of update `step` (0-based) of `total_steps`: a linear warm-up over the first
// warmup_steps updates, base_lr (step + 1) / warmup_steps, so that the first update is not wasted and
// update warmup_steps - 1 uses base_lr; then a half cosine from base_lr at step = warmup_steps down to
// min_lr at step = total_steps:
//   min_lr + (base_lr - min_lr) (1 + cos(pi (step - warmup_steps) / (total_steps - warmup_steps))) / 2.
// Steps at or past total_steps get min_lr. warmup_steps <= 0 means no warm-up; with total_steps <=
// warmup_steps there is no decay and the steps after the warm-up keep base_lr. Negative steps count as 0.
double cosine_lr(double base_lr, long step, long warmup_steps, long total_steps, double min_lr = 0);

}  // namespace softmoe
