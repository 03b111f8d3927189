// The training loop (src/train/): epochs of shuffled batches through a Backend, Adam with a
// ReduceLROnPlateau schedule, optional early stopping, best/latest checkpoints, restart and
// evaluation from a checkpoint, divergence handling, and the outputs of a fit. It never knows
// which Backend (CPU or CUDA) it drives.
#pragma once
#include <csignal>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "fitnn/backend.hpp"
#include "fitnn/config.hpp"
#include "fitnn/dataset.hpp"
#include "fitnn/model.hpp"
#include "fitnn/train_state.hpp"

namespace fitnn {

struct FitOptions {
  bool overwrite = false;         // false: refuse (OutputError) if any planned output exists
  std::string output_dir = ".";   // relative output names are placed here
  int threads = 0;                // for the CLI's make_backend (informational here)
  std::string device = "cpu";     // idem
  Precision precision = Precision::f64;  // idem
  // Set by SIGINT/SIGTERM: the trainer finishes the current step, writes the latest
  // checkpoint and the outputs (with the best model so far), and returns with
  // FitSummary::interrupted = true.
  const volatile std::sig_atomic_t* stop_flag = nullptr;
};

struct FitSummary {
  int epochs_run = 0;           // epochs completed by this call
  int64_t last_epoch = 0;       // epoch number reached, counting across restarts
  double best_val_loss = 0.0;   // monitored loss of the best model (validation, or training
                                // without a validation set); evaluation: validation loss
  int best_epoch = 0;           // epoch of the best model (0: the starting state)
  bool interrupted = false;     // stop_flag was raised
  bool early_stopped = false;
  bool evaluation_only = false; // save_state_input with num_epochs = 1
  bool has_validation = false;
  int divergence_retries_used = 0;
  double final_learning_rate = 0.0;
  uint64_t seed = 0;
  Model best_model;             // what exports should write
  LossHistory history;          // every epoch, restarts included
  std::vector<std::string> written;  // files written by this call
};

// Runs the fit described by `config` on `data` (train/validation split = data.testing).
// `data` must be valid (Dataset::validate(), which the producer of the dataset calls).
// Rewrites data.eweight/fweight when the global energy_weight/force_weight are set.
// Modes: fresh fit; restart from train.save_state_input (num_epochs more epochs);
// evaluation (save_state_input and num_epochs = 1: errors of the loaded model, no training).
// Throws InputError, DataError, CheckpointError, NumericError (divergence, naming epoch and
// batch; the best checkpoint is kept), OutputError.
FitSummary run_fit(const Config& config, Dataset& data, Backend& backend,
                   const FitOptions& options);

// Every file run_fit will write for this config (paths joined with output_dir when
// relative), so a caller can refuse before any work when one exists. LAMMPS exports are not
// included (src/export/ names them).
std::vector<std::string> planned_outputs(const Config& config,
                                         const std::string& output_dir = ".");

// Before any work (the CLI calls it before scraping): when [PYTORCH] save_state_input is set,
// loads it and checks that its network is the one `config` asks for (the descriptor count
// and elements of [BISPECTRUM], layer_sizes, activation, multi_element_option). Throws
// CheckpointError naming the file (and both networks when they differ).
void check_restart_checkpoint(const Config& config);

// True when save_state_input is set and num_epochs == 1 (FitSNAP's evaluation recipe).
bool is_evaluation_run(const TrainSettings& t);

// ReduceLROnPlateau with PyTorch's rules: mode min, threshold_mode abs (improvement means
// loss < best - threshold), no cooldown; after more than `patience` epochs without
// improvement lr becomes max(lr * factor, min_lr) (skipped when the change is below 1e-8).
class PlateauScheduler {
 public:
  PlateauScheduler(double lr, double factor, int patience, double threshold, double min_lr);
  // Feeds the monitored loss of one epoch; returns true when the learning rate was reduced.
  bool step(double loss);
  double lr() const { return m_state.lr; }
  const PlateauState& state() const { return m_state; }
  void set_state(const PlateauState& s) { m_state = s; }

 private:
  PlateauState m_state;
  double m_factor, m_threshold, m_min_lr;
  int m_patience;
};

// Portable randomness for the shuffle: the same numbers on every platform and compiler
// (std::uniform_int_distribution and std::shuffle are implementation-defined).
uint64_t uniform_below(std::mt19937_64& rng, uint64_t bound);    // in [0, bound), bound > 0
void shuffle_indices(std::vector<int64_t>& v, std::mt19937_64& rng);  // Fisher-Yates
std::mt19937_64 shuffle_rng(uint64_t seed);  // the shuffle generator of a run's seed
std::string rng_to_text(const std::mt19937_64& rng);
std::mt19937_64 rng_from_text(const std::string& text);  // throws CheckpointError

// Global energy_weight/force_weight (both set) replace every configuration's weights.
// Returns true when they did.
bool apply_global_weights(const TrainSettings& t, Dataset& data);

}  // namespace fitnn
