// The whole run behind the CLI: input -> scrape -> descriptors (cache) -> fit -> outputs.
// Library code (throws typed errors); main() only parses arguments and maps exit codes.
#pragma once
#include <csignal>
#include <string>

#include "fitnn/config.hpp"
#include "fitnn/configuration.hpp"
#include "fitnn/dataset.hpp"

namespace fitnn {

struct PipelineOptions {
  bool overwrite = false;
  bool descriptors_only = false;
  std::string device = "cpu";
  int threads = 0;
  std::string lammps_lib;
  std::string cache_dir = "fitnn_cache";
  bool no_cache = false;
  bool quiet = false;
  std::string export_checkpoint;  // --export CKPT: write the LAMMPS files from it and stop
  const volatile std::sig_atomic_t* stop_flag = nullptr;
};

// Returns the process exit code for a normal finish (0).
int run_pipeline(const std::string& input, const PipelineOptions& options);

// Scraped configurations (sorted by file, then index in file) -> Dataset, through the cache.
Dataset build_dataset(const Config& config, std::vector<Configuration>& configs,
                      const PipelineOptions& options);

std::string describe_input_keys();

}  // namespace fitnn
