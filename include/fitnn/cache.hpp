// The descriptor cache (src/dataset/cache.cpp): a Dataset saved as an HDF5 file, keyed by a
// hash of everything that determines its descriptors and targets (see docs/CACHE.md for the
// layout). Same settings: loaded without running LAMMPS; any change: a different key.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fitnn/config.hpp"
#include "fitnn/configuration.hpp"
#include "fitnn/dataset.hpp"

namespace fitnn {

// 64-bit key over BISPECTRUM, REFERENCE, ESHIFT, the LAMMPS version, the derivative storage
// and every configuration's atoms, cell, forces and energy (in the given order).
uint64_t dataset_cache_key(const Config& config, const std::vector<Configuration>& configs,
                           int lammps_version, int derivative_bits);
std::string cache_file_name(uint64_t key);  // "descriptors-<16 hex>.h5"

// Write atomically (temp file + rename). Throws OutputError.
void save_dataset_cache(const std::string& path, const Dataset& data, uint64_t key,
                        int lammps_version);
// nullopt if the file is absent; if it is unreadable, corrupt or for another key, a warning
// is logged and nullopt returned (the caller recomputes).
std::optional<Dataset> load_dataset_cache(const std::string& path, uint64_t key);

// Copy per-configuration bookkeeping (weights, testing flags, group and file names) from the
// scraped configurations onto a (cached) Dataset in the same order.
void apply_configuration_metadata(Dataset& data, const std::vector<Configuration>& configs);

}  // namespace fitnn
