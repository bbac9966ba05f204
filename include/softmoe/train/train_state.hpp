#pragma once
// optimizer.safetensors, the resumable training state written beside model.safetensors after every
// epoch: the parameters, the optimiser's moments, and as metadata the completed epoch, the update
// count, the run's settings and its train.csv so far. It alone decides where a resumed run restarts,
// so a crash between the writes of an epoch's files can never mix two epochs.
#include <filesystem>
#include <string>

#include "softmoe/optim.hpp"
#include "softmoe/params.hpp"

namespace softmoe {

struct TrainProgress {
  int epoch = 0;          // completed epochs
  std::string settings;   // the run's settings, compact JSON
  std::string csv;        // train.csv as written after `epoch`
};

void save_train_state(const std::filesystem::path& path, const ParamBuffer<float>& params,
                      Optimizer<float>& optimizer, const TrainProgress& progress);

// Restores params and optimizer; RunError naming the file for anything missing, corrupt or mis-sized.
TrainProgress load_train_state(const std::filesystem::path& path, ParamBuffer<float>& params,
                               Optimizer<float>& optimizer);

}  // namespace softmoe
