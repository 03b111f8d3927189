// Shared by the scraper fuzz targets: the element settings they read with, and the
// invariants every accepted Configuration must satisfy (a violation traps, which libFuzzer
// reports as a crash).
#pragma once
#include <cmath>

#include "fitnn/config.hpp"
#include "fitnn/configuration.hpp"
#include "fitnn/descriptors.hpp"
#include "fitnn/errors.hpp"

namespace fitnn_fuzz {

inline fitnn::BispectrumSettings three_elements() {
  fitnn::BispectrumSettings b;
  b.num_types = 3;
  b.types = {"Ta", "W", "Be"};
  return b;
}

inline void check_configuration_and_frame(const fitnn::Configuration& c,
                                          const fitnn::BispectrumSettings& b) {
  const size_t n = size_t(c.natoms);
  if (c.natoms < 1 || c.positions.size() != 3 * n || c.forces.size() != 3 * n ||
      c.types.size() != n || !std::isfinite(c.energy))
    __builtin_trap();
  for (int t : c.types)
    if (t < 0 || t >= b.num_types) __builtin_trap();
  for (double x : c.positions)
    if (!std::isfinite(x)) __builtin_trap();
  try {
    // An accepted cell must give LAMMPS finite, wrapped coordinates.
    const fitnn::LammpsFrame f = fitnn::lammps_frame(c);
    if (f.positions.size() != 3 * n || f.forces.size() != 3 * n) __builtin_trap();
    for (double x : f.cell)
      if (!std::isfinite(x)) __builtin_trap();
    for (double x : f.positions)
      if (!std::isfinite(x)) __builtin_trap();
  } catch (const fitnn::DataError&) {
  }
}

}  // namespace fitnn_fuzz
