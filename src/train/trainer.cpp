// The epoch loop: batches of the (reshuffled) training order through Backend::train_step,
// the validation loss, the plateau schedule, best and latest checkpoints, early stopping,
// divergence (NaN/Inf: stop, or retry from the best state with half the learning rate) and
// interruption (stop_flag: finish the step, save the latest state, write the outputs).
// Everything the loop depends on lives in TrainState, so resuming from the latest
// checkpoint continues bit-for-bit.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "fitnn/checkpoint.hpp"
#include "fitnn/errors.hpp"
#include "fitnn/log.hpp"
#include "fitnn/outputs.hpp"
#include "train/fit_internal.hpp"

namespace fitnn::detail {
namespace {

enum class EpochResult { done, retry, interrupted };

class Trainer {
 public:
  Trainer(const Config& config, const Dataset& data, Backend& backend, const FitOptions& opt,
          const FitPaths& paths, const Split& split, TrainState state)
      : m_config(config),
        m_t(config.train),
        m_data(data),
        m_backend(backend),
        m_opt(opt),
        m_paths(paths),
        m_split(split),
        m_state(std::move(state)),
        m_sched(m_state.plateau.lr, m_t.lr_factor, m_t.lr_patience, m_t.lr_threshold,
                m_t.lr_min),
        m_rng(rng_from_text(m_state.rng_state)),
        m_has_val(!split.val.empty()),
        m_nbatches((int64_t(split.train.size()) + m_t.batch_size - 1) / m_t.batch_size) {
    m_sched.set_state(m_state.plateau);
  }

  FitSummary run();

 private:
  EpochResult run_epoch();
  void begin_epoch();
  void end_epoch(double train_loss, double val_loss, double seconds);
  void recover(int64_t epoch, const std::string& where, const std::string& what);
  bool stop_requested() const { return m_opt.stop_flag && *m_opt.stop_flag; }
  void sync_from_backend();
  void save_latest();
  void finish(FitSummary& sum);
  bool write_best_outputs();
  bool best_file_missing() const;
  std::string batch_files(int64_t b) const;

  const Config& m_config;
  const TrainSettings& m_t;
  const Dataset& m_data;
  Backend& m_backend;
  const FitOptions& m_opt;
  const FitPaths& m_paths;
  const Split& m_split;
  TrainState m_state;
  PlateauScheduler m_sched;
  std::mt19937_64 m_rng;
  bool m_has_val;
  int64_t m_nbatches;
  bool m_best_written = false;
  std::vector<std::string> m_written;
};

using Clock = std::chrono::steady_clock;

void Trainer::begin_epoch() {
  m_state.order = m_split.train;
  if (m_t.shuffle_flag) shuffle_indices(m_state.order, m_rng);
  m_state.batch_position = 0;
  m_state.partial_loss_sum = 0.0;
}

std::string Trainer::batch_files(int64_t b) const {
  std::string s;
  const int64_t c0 = b * m_t.batch_size;
  const int64_t c1 = std::min<int64_t>(c0 + m_t.batch_size, int64_t(m_state.order.size()));
  for (int64_t k = c0; k < c1; ++k) {
    const int64_t c = m_state.order[k];
    const int32_t f = c < int64_t(m_data.file_index.size()) ? m_data.file_index[c] : -1;
    s += (k > c0 ? ", " : "") + std::to_string(c);
    if (f >= 0 && size_t(f) < m_data.file_names.size()) s += " (" + m_data.file_names[f] + ")";
  }
  return s;
}

EpochResult Trainer::run_epoch() {
  const int64_t epoch = m_state.epoch + 1;
  if (m_state.order.empty()) begin_epoch();
  const auto start = Clock::now();
  const int64_t ntrain = int64_t(m_state.order.size());
  for (int64_t b = m_state.batch_position; b < m_nbatches; ++b) {
    const int64_t c0 = b * m_t.batch_size;
    const int n = int(std::min<int64_t>(m_t.batch_size, ntrain - c0));
    BatchStats st;
    try {
      st = m_backend.train_step(m_state.order.data() + c0, n, m_sched.lr());
    } catch (const NumericError& e) {
      recover(epoch, "batch " + std::to_string(b + 1) + " of " + std::to_string(m_nbatches) +
                         " (configurations " + batch_files(b) + ")",
              e.what());
      return EpochResult::retry;
    }
    if (!std::isfinite(st.loss)) {
      recover(epoch, "batch " + std::to_string(b + 1) + " of " + std::to_string(m_nbatches) +
                         " (configurations " + batch_files(b) + ")",
              "the loss is " + format_exact(st.loss));
      return EpochResult::retry;
    }
    m_state.partial_loss_sum += st.loss;
    m_state.batch_position = b + 1;
    if (stop_requested() && b + 1 < m_nbatches) return EpochResult::interrupted;
  }
  const double train_loss = m_state.partial_loss_sum / double(m_nbatches);
  double val_loss = std::nan("");
  if (m_has_val) {
    try {
      val_loss = mean_batch_loss(m_backend, m_split.val, m_t.batch_size);
    } catch (const NumericError& e) {
      recover(epoch, "validation", e.what());
      return EpochResult::retry;
    }
  }
  if (m_has_val && !std::isfinite(val_loss)) {
    recover(epoch, "validation", "the validation loss is " + format_exact(val_loss));
    return EpochResult::retry;
  }
  end_epoch(train_loss, val_loss, std::chrono::duration<double>(Clock::now() - start).count());
  return EpochResult::done;
}

void Trainer::sync_from_backend() {
  m_backend.get_params(m_state.model.params);
  m_backend.get_adam(m_state.adam);
  m_state.plateau = m_sched.state();
  m_state.rng_state = rng_to_text(m_rng);
}

void Trainer::save_latest() {
  save_checkpoint(m_paths.latest, m_state);
}

void Trainer::end_epoch(double train_loss, double val_loss, double seconds) {
  const int64_t epoch = ++m_state.epoch;
  m_state.order.clear();
  m_state.batch_position = 0;
  m_state.partial_loss_sum = 0.0;
  m_state.history.add(epoch, train_loss, val_loss);
  const double monitored = m_has_val ? val_loss : train_loss;
  if (m_t.lr_plateau && m_sched.step(monitored))
    log_note("epoch " + std::to_string(epoch) + ": no improvement for more than " +
             std::to_string(m_t.lr_patience) + " epochs, learning rate reduced to " +
             format_exact(m_sched.lr()));
  sync_from_backend();
  const bool improved = monitored < m_state.best_loss;
  if (improved) {
    m_state.best_loss = monitored;
    m_state.best_epoch = epoch;
    m_state.best_params = m_state.model.params;
    m_state.best_adam = m_state.adam;
    save_checkpoint(m_paths.best, m_state);
    m_best_written = true;
  }
  save_latest();
  write_loss_history(m_paths.loss, m_state.history);
  // Seconds to 0.1 ms: a small data set's epochs take a few milliseconds.
  char line[160];
  std::snprintf(line, sizeof line, "%lld %.6e %.6e %.4f", (long long)epoch, train_loss,
                val_loss, seconds);
  log_info(line);
}

void Trainer::recover(int64_t epoch, const std::string& where, const std::string& what) {
  const std::string msg = "training diverged in epoch " + std::to_string(epoch) + ", " + where +
                          ": " + what;
  if (m_state.retries_used >= m_t.divergence_retries) {
    const bool metrics = write_best_outputs();
    const std::string kept = "; the best model (epoch " + std::to_string(m_state.best_epoch) +
                             ") is kept in '" + m_paths.best + "'" +
                             (metrics ? " and the metrics describe it" : "");
    throw NumericError(msg + kept +
                       ". Lower [PYTORCH] learning_rate, check the data of that batch, or set "
                       "divergence_retries to retry from the best state with half the "
                       "learning rate");
  }
  m_state.retries_used += 1;
  PlateauState p = m_sched.state();
  p.lr *= 0.5;
  p.bad_epochs = 0;
  m_sched.set_state(p);
  log_warn(msg + "; retry " + std::to_string(m_state.retries_used) + " of " +
           std::to_string(m_t.divergence_retries) + " from the best state (epoch " +
           std::to_string(m_state.best_epoch) + ") with learning rate " + format_exact(p.lr));
  m_state.model.params = m_state.best_params;
  m_state.adam = m_state.best_adam;
  m_backend.set_model(m_state.model);
  m_backend.set_adam(m_state.adam);
  m_state.order.clear();
  m_state.batch_position = 0;
  m_state.partial_loss_sum = 0.0;
}

// True when the best checkpoint on disk is not this run's: nothing written yet, and either a
// fresh fit (a file there is an older run's, replaced under --overwrite) or no file at all.
// A restart keeps the best file of the run it continues until it improves on it.
bool Trainer::best_file_missing() const {
  return !m_best_written &&
         (m_t.save_state_input.empty() || !std::filesystem::exists(m_paths.best));
}

// Divergence without retries left: the files of this run must describe one model, the best
// so far. Its checkpoint is written if best_file_missing() (a fresh fit diverging in its
// first epoch: the starting state, epoch 0), and the metrics and dumps are those of the best
// model. The latest checkpoint stays at the last completed epoch.
bool Trainer::write_best_outputs() {
  if (best_file_missing()) {
    TrainState best = m_state;
    best.model.params = m_state.best_params;
    best.adam = m_state.best_adam;
    best.order.clear();
    best.batch_position = 0;
    best.partial_loss_sum = 0.0;
    save_checkpoint(m_paths.best, best);
    m_best_written = true;
  }
  Model best = m_state.model;
  best.params = m_state.best_params;
  try {
    m_backend.set_model(best);
    write_fit_outputs(m_config, m_paths, m_backend, m_data, m_written);
    return true;
  } catch (const Error& e) {  // e.g. NaN in the data: the divergence report comes first
    log_warn(std::string("the metrics of the best model could not be written: ") + e.what());
    return false;
  }
}

void Trainer::finish(FitSummary& sum) {
  // A run that never improved in this call (num_epochs 0, or a restart without progress)
  // still leaves a best checkpoint when there is none.
  if (best_file_missing()) {
    TrainState best = m_state;
    best.model.params = m_state.best_params;
    best.adam = m_state.best_adam;
    save_checkpoint(m_paths.best, best);
    m_best_written = true;
  }
  if (m_best_written) m_written.push_back(m_paths.best);
  m_written.push_back(m_paths.latest);
  write_loss_history(m_paths.loss, m_state.history);
  m_written.push_back(m_paths.loss);

  Model best = m_state.model;
  best.params = m_state.best_params;
  m_backend.set_model(best);
  write_fit_outputs(m_config, m_paths, m_backend, m_data, m_written);

  sum.last_epoch = m_state.epoch;
  sum.best_val_loss = m_state.best_loss;
  sum.best_epoch = int(m_state.best_epoch);
  sum.has_validation = m_has_val;
  sum.divergence_retries_used = int(m_state.retries_used);
  sum.final_learning_rate = m_sched.lr();
  sum.seed = m_state.seed;
  sum.best_model = std::move(best);
  sum.history = m_state.history;
  sum.written = m_written;
}

FitSummary Trainer::run() {
  FitSummary sum;
  const ModelLayout& L = m_state.model.layout;
  std::string widths;
  for (size_t k = 0; k < L.widths.size(); ++k)
    widths += (k ? "-" : "") + std::to_string(L.widths[k]);
  log_info("training " + widths + " " + activation_name(L.activation) + " (" +
           std::to_string(L.nparams()) + " parameters) on " +
           std::to_string(m_split.train.size()) + " training / " +
           std::to_string(m_split.val.size()) + " validation configurations, batch size " +
           std::to_string(m_t.batch_size) + ", learning rate " + format_exact(m_sched.lr()) +
           ", backend " + m_backend.name());
  m_backend.set_model(m_state.model);
  m_backend.set_adam(m_state.adam);

  const int64_t end_epoch = m_state.epoch + m_t.num_epochs;
  const int64_t first_epoch = m_state.epoch;
  if (m_t.num_epochs > 0) log_info("epoch train_loss val_loss seconds");
  while (m_state.epoch < end_epoch) {
    const EpochResult r = run_epoch();
    if (r == EpochResult::retry) continue;
    if (r == EpochResult::interrupted || stop_requested()) {
      sum.interrupted = true;
      break;
    }
    if (m_t.early_stopping > 0 && m_state.epoch - m_state.best_epoch >= m_t.early_stopping &&
        m_state.epoch < end_epoch) {
      log_note("early stopping after epoch " + std::to_string(m_state.epoch) + ": no " +
               "improvement for " + std::to_string(m_t.early_stopping) +
               " epochs (best: epoch " + std::to_string(m_state.best_epoch) + ")");
      sum.early_stopped = true;
      break;
    }
  }
  if (sum.interrupted) {
    sync_from_backend();
    save_latest();
    log_warn("interrupted after epoch " + std::to_string(m_state.epoch) +
             (m_state.batch_position ? " and " + std::to_string(m_state.batch_position) + " of " +
                                           std::to_string(m_nbatches) + " batches of the next"
                                     : "") +
             ": the latest state is in '" + m_paths.latest +
             "'; set [PYTORCH] save_state_input to it to continue");
  } else if (m_state.epoch == first_epoch) {
    sync_from_backend();
    save_latest();
  }
  sum.epochs_run = int(m_state.epoch - first_epoch);
  finish(sum);
  return sum;
}

}  // namespace

FitSummary train_epochs(const Config& config, const Dataset& data, Backend& backend,
                        const FitOptions& options, const FitPaths& paths, const Split& split,
                        TrainState state) {
  Trainer trainer(config, data, backend, options, paths, split, std::move(state));
  return trainer.run();
}

}  // namespace fitnn::detail
