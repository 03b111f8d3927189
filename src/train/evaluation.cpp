// Evaluating a model through the Backend without training: batch losses, predictions of the
// whole dataset, the error outputs of a fit (metrics, peratom, perconfig), and FitSNAP's
// evaluation recipe (save_state_input with num_epochs = 1: the loaded model's errors on the
// given groups, parameters untouched, no checkpoint written).
#include <algorithm>
#include <cmath>

#include "fitnn/errors.hpp"
#include "fitnn/log.hpp"
#include "fitnn/outputs.hpp"
#include "train/fit_internal.hpp"

namespace fitnn::detail {

// The mean of the losses of consecutive batches of `batch_size` (FitSNAP's validation loss).
// A batch's loss is the mean of its configurations' terms, so all full batches together have
// the mean of their configurations' terms as their mean loss: they go to the backend in large
// calls (fewer, larger GEMMs), the last, partial batch on its own.
double mean_batch_loss(Backend& backend, const std::vector<int64_t>& ids, int batch_size) {
  if (ids.empty()) return 0.0;
  constexpr int64_t kBatchesPerCall = 64;
  const int64_t n = int64_t(ids.size()), bs = batch_size;
  const int64_t nfull = n / bs, nbatches = (n + bs - 1) / bs;
  double sum = 0.0;  // sum of batch losses
  for (int64_t b = 0; b < nfull; b += kBatchesPerCall) {
    const int64_t nb = std::min(kBatchesPerCall, nfull - b);
    sum += double(nb) * backend.evaluate(ids.data() + b * bs, int(nb * bs), nullptr).loss;
  }
  if (nfull < nbatches)
    sum += backend.evaluate(ids.data() + nfull * bs, int(n - nfull * bs), nullptr).loss;
  return sum / double(nbatches);
}

Predictions predict_all(Backend& backend, const Dataset& data, int batch_size) {
  Predictions all, part;
  all.energy.reserve(size_t(data.nconfigs()));
  all.atom_energy.reserve(size_t(data.natoms()));
  all.forces.reserve(size_t(3 * data.natoms()));
  std::vector<int64_t> ids;
  for (int64_t c0 = 0; c0 < data.nconfigs(); c0 += batch_size) {
    const int64_t c1 = std::min(data.nconfigs(), c0 + batch_size);
    ids.clear();
    for (int64_t c = c0; c < c1; ++c) ids.push_back(c);
    part = Predictions{};
    backend.evaluate(ids.data(), int(ids.size()), &part);
    const int64_t natoms = data.atom_offset[c1] - data.atom_offset[c0];
    if (int64_t(part.energy.size()) != c1 - c0 || int64_t(part.forces.size()) != 3 * natoms)
      throw Error("internal error: backend '" + backend.name() + "' returned predictions for " +
                  std::to_string(part.energy.size()) + " configurations, expected " +
                  std::to_string(c1 - c0));
    all.energy.insert(all.energy.end(), part.energy.begin(), part.energy.end());
    all.atom_energy.insert(all.atom_energy.end(), part.atom_energy.begin(),
                           part.atom_energy.end());
    all.forces.insert(all.forces.end(), part.forces.begin(), part.forces.end());
  }
  for (double e : all.energy)
    if (!std::isfinite(e))
      throw NumericError("the model predicts a non-finite energy: the metrics cannot be "
                         "computed; check the descriptors (NaN/Inf) or the checkpoint");
  return all;
}

void write_fit_outputs(const Config& config, const FitPaths& paths, Backend& backend,
                       const Dataset& data, std::vector<std::string>& written) {
  const Predictions pred = predict_all(backend, data, config.train.batch_size);
  write_metrics(paths.metrics, compute_errors(data, pred));
  written.push_back(paths.metrics);
  if (config.extras.dump_peratom) {
    write_peratom(paths.peratom, data, pred);
    written.push_back(paths.peratom);
  }
  if (config.extras.dump_perconfig) {
    write_perconfig(paths.perconfig, data, pred);
    written.push_back(paths.perconfig);
  }
}

FitSummary run_evaluation(const Config& config, const Dataset& data, Backend& backend,
                          const FitPaths& paths, const Split& split) {
  const std::string& input = config.train.save_state_input;
  TrainState s = load_compatible_checkpoint(config, data, input);
  log_info("evaluation: the model of '" + input + "' (epoch " + std::to_string(s.epoch) +
           ") on " + std::to_string(split.train.size()) + " training and " +
           std::to_string(split.val.size()) +
           " validation configurations on backend " + backend.name() +
           "; no training (num_epochs = 1 with save_state_input)");
  backend.set_model(s.model);
  const int bs = config.train.batch_size;
  const double train_loss = mean_batch_loss(backend, split.train, bs);
  const double val_loss = mean_batch_loss(backend, split.val, bs);
  log_info("loss: training " + format_exact(train_loss) +
           (split.val.empty() ? ", no validation configurations"
                              : ", validation " + format_exact(val_loss)));

  FitSummary sum;
  sum.evaluation_only = true;
  sum.has_validation = !split.val.empty();
  sum.best_val_loss = split.val.empty() ? train_loss : val_loss;
  sum.best_epoch = int(s.epoch);
  sum.last_epoch = s.epoch;
  sum.seed = s.seed;
  sum.final_learning_rate = s.plateau.lr;
  sum.history = s.history;
  write_fit_outputs(config, paths, backend, data, sum.written);
  sum.best_model = std::move(s.model);
  return sum;
}

}  // namespace fitnn::detail
