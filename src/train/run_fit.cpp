// run_fit, the entry point of a fit (include/fitnn/trainer.hpp): refuse to overwrite outputs
// unless asked, apply the global weights, split the data, pick the mode (fresh, restart,
// evaluation), upload to the Backend and hand over to the epoch loop. Also planned_outputs,
// the list of files a fit writes, for the CLI's check before any work.
#include <filesystem>

#include "fitnn/errors.hpp"
#include "fitnn/log.hpp"
#include "fitnn/outputs.hpp"
#include "train/fit_internal.hpp"

namespace fitnn {

bool is_evaluation_run(const TrainSettings& t) {
  return !t.save_state_input.empty() && t.num_epochs == 1;
}

std::vector<std::string> planned_outputs(const Config& config, const std::string& output_dir) {
  const detail::FitPaths p = detail::fit_paths(config, output_dir);
  std::vector<std::string> out{p.metrics};
  if (!is_evaluation_run(config.train)) {
    out.push_back(p.loss);
    out.push_back(p.best);
    out.push_back(p.latest);
  }
  if (config.extras.dump_peratom) out.push_back(p.peratom);
  if (config.extras.dump_perconfig) out.push_back(p.perconfig);
  return out;
}

FitSummary run_fit(const Config& config, Dataset& data, Backend& backend,
                   const FitOptions& options) {
  const TrainSettings& t = config.train;
  if (t.batch_size < 1)
    throw InputError("[PYTORCH] batch_size must be at least 1 (it is " +
                     std::to_string(t.batch_size) + ") in '" + config.input_path + "'");
  if (t.num_epochs < 0)
    throw InputError("[PYTORCH] num_epochs must not be negative in '" + config.input_path + "'");
  if (!options.overwrite) {
    for (const std::string& f : planned_outputs(config, options.output_dir))
      if (std::filesystem::exists(f))
        throw OutputError("output '" + f + "' exists: remove it, choose another name, or run "
                          "with --overwrite");
  }
  if (!options.output_dir.empty()) std::filesystem::create_directories(options.output_dir);

  if (apply_global_weights(t, data))
    log_info("global weights: energy_weight " + format_exact(*t.energy_weight) +
             " and force_weight " + format_exact(*t.force_weight) +
             " replace the GROUPS weights of every configuration");
  const detail::Split split = detail::split_configs(data);
  const detail::FitPaths paths = detail::fit_paths(config, options.output_dir);

  const ModelLayout layout = ModelLayout::from_settings(data.ndesc, data.ntypes, t);
  backend.upload(data, layout);
  if (is_evaluation_run(t)) return detail::run_evaluation(config, data, backend, paths, split);

  if (split.train.empty())
    throw DataError("no training configurations (" + std::to_string(data.nconfigs()) +
                    " configurations, all marked for testing): check the GROUPS training "
                    "sizes or [PYTORCH] training_fraction in '" + config.input_path + "'");
  if (split.val.empty())
    log_note("no validation configurations: the best model, the learning-rate schedule and "
             "early stopping use the training loss; the validation loss is written as nan");
  TrainState state = t.save_state_input.empty()
                         ? detail::fresh_state(config, data, split)
                         : detail::restart_state(config, data, split, t.save_state_input);
  return detail::train_epochs(config, data, backend, options, paths, split, std::move(state));
}

}  // namespace fitnn
