// The run behind `fitnn INPUT` (pipeline.hpp).
#include "cli/pipeline.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <sstream>
#include <thread>

#include "config/key_table.hpp"
#include "fitnn/backend.hpp"
#include "fitnn/cache.hpp"
#include "fitnn/descriptors.hpp"
#include "fitnn/errors.hpp"
#include "fitnn/exports.hpp"
#include "fitnn/log.hpp"
#include "fitnn/scrape.hpp"
#include "fitnn/trainer.hpp"

namespace fs = std::filesystem;

namespace fitnn {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string fmt(const char* f, double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, x);
  return buf;
}

// Before any work: every planned output can be written (its folder exists, it is not a
// folder itself) and none exists unless --overwrite (FitSNAP's behaviour). A run that fails
// here, or later before training starts, leaves every file as it was, --overwrite or not.
void check_outputs(const std::vector<std::string>& planned, bool overwrite) {
  std::vector<std::string> existing;
  for (const std::string& f : planned) {
    std::error_code ec;
    if (fs::is_directory(f, ec))
      throw OutputError("output '" + f + "' is a directory: remove it or choose another name "
                        "in the input script");
    fs::path parent = fs::path(f).parent_path();
    if (!parent.empty() && !fs::is_directory(parent, ec))
      throw OutputError("output '" + f + "': folder '" + parent.string() +
                        "' does not exist; create it or choose another name");
    if (fs::exists(fs::symlink_status(f, ec))) existing.push_back(f);
  }
  if (!existing.empty() && !overwrite) {
    std::string list;
    for (auto& f : existing) list += (list.empty() ? "" : ", ") + f;
    throw OutputError("output files already exist: " + list +
                      " (use --overwrite to replace them)");
  }
}

}  // namespace

std::string describe_input_keys() { return describe_keys(); }

Dataset build_dataset(const Config& config, std::vector<Configuration>& configs,
                      const PipelineOptions& opt) {
  std::stable_sort(configs.begin(), configs.end(), [](const Configuration& a,
                                                      const Configuration& b) {
    return a.file != b.file ? a.file < b.file : a.index_in_file < b.index_in_file;
  });
  const int bits = config.train.derivative_precision;
  if (bits != 32 && bits != 64)
    throw InputError(config.input_path + ": [PYTORCH] derivative_precision must be 32 or 64");
  std::string lib = find_lammps_library(opt.lammps_lib);
  int version = lammps_version_of(lib);
  uint64_t key = dataset_cache_key(config, configs, version, bits);
  std::string cache_path = (fs::path(opt.cache_dir) / cache_file_name(key)).string();
  auto t0 = std::chrono::steady_clock::now();
  if (!opt.no_cache) {
    if (auto cached = load_dataset_cache(cache_path, key)) {
      Dataset d = std::move(*cached);
      apply_configuration_metadata(d, configs);
      d.validate();
      log_info("descriptors: loaded from cache " + cache_path + " (" +
               fmt("%.2f", seconds_since(t0)) + " s)");
      return d;
    }
  }
  LammpsOptions lo;
  lo.library_path = lib;
  lo.workers = opt.threads;
  lo.derivative_bits = bits;
  lo.stop_flag = opt.stop_flag;
  log_info("descriptors: LAMMPS " + std::to_string(version) + " from " + lib);
  Dataset d = compute_dataset(config, configs, lo);
  apply_configuration_metadata(d, configs);
  d.validate();
  log_info("descriptors: " + std::to_string(d.nconfigs()) + " configurations, " +
           std::to_string(d.natoms()) + " atoms, " + std::to_string(d.nrows()) +
           " derivative rows, " + fmt("%.3f", d.array_bytes() / 1e9) + " GB, " +
           fmt("%.2f", seconds_since(t0)) + " s");
  if (!opt.no_cache) {
    save_dataset_cache(cache_path, d, key, version);
    log_info("descriptors: cached in " + cache_path);
  }
  return d;
}

int run_pipeline(const std::string& input, const PipelineOptions& opt) {
  auto t_start = std::chrono::steady_clock::now();
  Config config = parse_config_file(input);
  for (auto& n : config.notes) log_note(n);

  if (!opt.export_checkpoint.empty()) {
    check_outputs(planned_exports(config), opt.overwrite);
    for (auto& f : export_lammps_from_checkpoint(config, opt.export_checkpoint, "."))
      log_info("wrote " + f);
    if (torchscript_available())
      log_info("wrote " + export_torchscript_from_checkpoint(config, opt.export_checkpoint, "."));
    return 0;
  }

  if (!opt.descriptors_only) {
    std::vector<std::string> planned = planned_outputs(config);
    for (auto& f : planned_exports(config)) planned.push_back(f);
    check_outputs(planned, opt.overwrite);
    check_restart_checkpoint(config);  // a bad save_state_input fails now, not after LAMMPS
  }
  if (!opt.no_cache && fs::exists(opt.cache_dir) && !fs::is_directory(opt.cache_dir))
    throw OutputError("--cache-dir '" + opt.cache_dir + "' is not a folder (use another "
                      "--cache-dir, or --no-cache)");

  auto t0 = std::chrono::steady_clock::now();
  std::vector<Configuration> configs = scrape(config);
  int64_t ntest = std::count_if(configs.begin(), configs.end(),
                                [](const Configuration& c) { return c.testing; });
  log_info("scrape: " + std::to_string(configs.size()) + " configurations (" +
           std::to_string(configs.size() - ntest) + " training, " + std::to_string(ntest) +
           " validation) from " + config.resolved_data_path() + " in " +
           fmt("%.2f", seconds_since(t0)) + " s");
  Dataset data = build_dataset(config, configs, opt);
  configs.clear();
  configs.shrink_to_fit();
  if (opt.descriptors_only) {
    log_info("--descriptors-only: done in " + fmt("%.2f", seconds_since(t_start)) + " s");
    return 0;
  }
  if (opt.stop_flag && *opt.stop_flag)
    throw Interrupted("interrupted before training; the descriptors are " +
                      std::string(opt.no_cache ? "not cached (--no-cache)" : "cached") +
                      " and no output was written");

  Precision precision = opt.device == "cuda" ? Precision::f32 : Precision::f64;
  if (config.train.dtype_setting == 1) precision = Precision::f32;
  if (config.train.dtype_setting == 2) precision = Precision::f64;
  std::unique_ptr<Backend> backend = make_backend(opt.device, precision, opt.threads);
  log_info("backend: " + backend->name() +
           (config.train.dtype_setting ? " (from dtype_setting)" : " (default precision)"));

  FitOptions fo;
  fo.overwrite = opt.overwrite;
  fo.threads = opt.threads;
  fo.device = opt.device;
  fo.precision = precision;
  fo.stop_flag = opt.stop_flag;
  FitSummary summary = run_fit(config, data, *backend, fo);
  // LAMMPS files from the best model (the one the metrics describe).
  for (auto& f : export_lammps(config, summary.best_model, "."))
    log_info("wrote " + f);
  if (torchscript_available())
    log_info("wrote " + export_torchscript(config, summary.best_model, "."));
  log_info("total wall time " + fmt("%.2f", seconds_since(t_start)) + " s");
  return 0;
}

}  // namespace fitnn
