// Pieces of run_fit shared between the files of src/train/ (not a public header): output
// paths, the train/validation split, the starting TrainState (fresh or from a checkpoint),
// batch evaluation helpers, the evaluation mode and the epoch loop.
#pragma once
#include <string>
#include <vector>

#include "fitnn/backend.hpp"
#include "fitnn/config.hpp"
#include "fitnn/dataset.hpp"
#include "fitnn/train_state.hpp"
#include "fitnn/trainer.hpp"

namespace fitnn::detail {

struct FitPaths {
  std::string metrics, loss, best, latest, peratom, perconfig;
};
FitPaths fit_paths(const Config& config, const std::string& output_dir);

// Configuration indices, ascending: training (testing == 0) and validation (testing != 0).
struct Split {
  std::vector<int64_t> train, val;
};
Split split_configs(const Dataset& data);

// Element names of the dataset, one per type ("type1", ... when the dataset has none).
std::vector<std::string> element_names(const Dataset& data);

// The settings a run is trained with, as "key=value" lines (stored in checkpoints and
// compared on restart); includes a checksum of the training data.
std::string run_settings(const Config& config, const Dataset& data, const Split& split,
                         uint64_t seed);

// manual_seed_flag: TrainSettings::seed; otherwise a random seed, logged so it can be reused.
uint64_t choose_seed(const TrainSettings& t);

// A new run: initialized parameters, standardization from the training atoms, zero moments.
TrainState fresh_state(const Config& config, const Dataset& data, const Split& split);

// A checkpoint whose network matches the input (CheckpointError naming both otherwise).
TrainState load_compatible_checkpoint(const Config& config, const Dataset& data,
                                      const std::string& path);

// Continue from a checkpoint: reconciles it with changed settings or data (logged).
TrainState restart_state(const Config& config, const Dataset& data, const Split& split,
                         const std::string& path);

// Mean of the batch losses of `ids` taken in order, `batch_size` at a time (0 when empty).
double mean_batch_loss(Backend& backend, const std::vector<int64_t>& ids, int batch_size);

// Predictions of every configuration, in dataset order.
Predictions predict_all(Backend& backend, const Dataset& data, int batch_size);

// Metrics (and peratom/perconfig when EXTRAS asks) for the model now in the backend.
// Appends the files written to `written`.
void write_fit_outputs(const Config& config, const FitPaths& paths, Backend& backend,
                       const Dataset& data, std::vector<std::string>& written);

// save_state_input with num_epochs = 1: errors of the loaded model, no parameter changes.
FitSummary run_evaluation(const Config& config, const Dataset& data, Backend& backend,
                          const FitPaths& paths, const Split& split);

// The epoch loop from `state` (backend already holds the uploaded data).
FitSummary train_epochs(const Config& config, const Dataset& data, Backend& backend,
                        const FitOptions& options, const FitPaths& paths, const Split& split,
                        TrainState state);

// energy_offset.cpp: last-layer bias from the least-squares energy per atom of each element.
std::vector<double> per_element_energy(const Dataset& data, const std::vector<int64_t>& train);
double choose_output_scale(const TrainSettings& t, const Dataset& data,
                           const std::vector<int64_t>& train);
void initialize_energy_offset(Model& model, const Dataset& data,
                              const std::vector<int64_t>& train);

}  // namespace fitnn::detail
