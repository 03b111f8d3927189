// Everything a fit needs to continue bit-for-bit: the model, Adam, the learning-rate schedule,
// the shuffle RNG and the position inside the epoch in progress, the best model so far and the
// loss history. The trainer (src/train/) keeps one TrainState; checkpoints (src/io/checkpoint.cpp,
// docs/CHECKPOINT.md) store exactly this struct, for the best, the latest and evaluation.
#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "fitnn/backend.hpp"
#include "fitnn/model.hpp"

namespace fitnn {

// ReduceLROnPlateau state (PyTorch semantics, mode min, absolute threshold, no cooldown).
struct PlateauState {
  double lr = 0.0;                                        // current learning rate
  double best = std::numeric_limits<double>::infinity();  // best monitored loss seen
  int64_t bad_epochs = 0;                                 // epochs since `best` improved
};

// One row per completed epoch: what loss_vs_epochs.dat holds.
struct LossHistory {
  std::vector<int64_t> epoch;  // 1-based epoch numbers, counting across restarts
  std::vector<double> train;   // mean of the training batch losses
  std::vector<double> val;     // mean of the validation batch losses (NaN: no validation set)
  void add(int64_t e, double train_loss, double val_loss) {
    epoch.push_back(e);
    train.push_back(train_loss);
    val.push_back(val_loss);
  }
  size_t size() const { return epoch.size(); }
};

struct TrainState {
  Model model;                     // current parameters, layout and standardization
  std::vector<std::string> elements;  // element names, in type order
  AdamState adam;                  // moments and step of the current parameters
  PlateauState plateau;            // learning-rate schedule (plateau.lr is the lr in use)
  double initial_lr = 0.0;         // learning_rate the run started with

  uint64_t seed = 0;               // seed of the run (initialization and shuffling)
  std::string rng_state;           // std::mt19937_64 state in the standard's text form
  int64_t epoch = 0;               // completed epochs
  // The epoch in progress (epoch + 1): its training order, how many batches of it are done
  // and the sum of their losses. Empty order and position 0 at an epoch boundary.
  std::vector<int64_t> order;
  int64_t batch_position = 0;
  double partial_loss_sum = 0.0;

  // The best model so far (lowest monitored loss: validation, or training without a
  // validation set). best_epoch 0 = the state the run started from.
  double best_loss = std::numeric_limits<double>::infinity();
  int64_t best_epoch = 0;
  std::vector<double> best_params;
  AdamState best_adam;

  LossHistory history;
  int64_t retries_used = 0;        // divergence retries spent so far
  std::string settings;            // "key=value" lines: what the run was trained with
};

}  // namespace fitnn
