// One worker's SNAP calculator: a LAMMPS instance set up per shared/docs/lammps-descriptors.md
// ("Commands for one configuration") that turns a Configuration into its descriptors, the
// non-zero derivative rows (sorted by k = 3 j + a, then i) and the reference energy/forces.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "descriptors/lammps_library.hpp"
#include "fitnn/config.hpp"
#include "fitnn/configuration.hpp"

namespace fitnn {

// What one configuration yields. Vectors keep their capacity between configurations.
struct SnapResult {
  int natoms = 0;
  double ref_energy = 0.0;           // E_ref (eV), last row of the compute snap array
  std::vector<double> descriptors;   // (natoms, ndesc)
  std::vector<double> ref_forces;    // (natoms, 3) rotated frame
  std::vector<double> dft_forces;    // (natoms, 3) DFT forces in the rotated frame
  std::vector<int32_t> row_i;        // (nrows)
  std::vector<int32_t> row_k;        // (nrows) 3 j + a
  std::vector<double> dgrad;         // (nrows, ndesc) -dB_i/dr_{j,a}
  int64_t nrows() const { return int64_t(row_i.size()); }
};

// Bytes LAMMPS allocates for one configuration's dense compute snap arrays (the local and the
// reduced copy of N + 3 N^2 + 1 rows by ndesc + 3 columns), plus our copy of the kept rows.
double snap_array_bytes(int64_t natoms, int ndesc);
// Above this many bytes per configuration a warning is logged; above snap_array_limit() the
// configuration is refused with a DataError before any LAMMPS work starts.
constexpr double kSnapArrayWarnBytes = 1e9;
// Half of the physical memory, divided among the workers that may hold such an array at once.
double snap_array_limit(int workers);

// How consecutive configurations share the LAMMPS instance.
//   reuse: box, pair style and neighbour settings stay; per configuration `uncompute`,
//          `delete_atoms`, `change_box`, new atoms, a new compute snap (its array shape is fixed
//          at creation), `run 0`. About 0.4 ms cheaper per configuration than `clear`.
//   clear: `clear` and the full command list for every configuration (the reference path;
//          used automatically if a reuse step fails on this LAMMPS version).
// Both give bit-identical results (tested).
enum class InstanceReuse { reuse, clear };

class SnapCalculator {
 public:
  // Opens a LAMMPS instance from `lib` and checks the version and ML-SNAP.
  SnapCalculator(const LammpsLibrary& lib, const BispectrumSettings& bispectrum,
                 const ReferenceSettings& reference,
                 InstanceReuse reuse = InstanceReuse::reuse);
  ~SnapCalculator();
  // Fills `out` for `cfg`. Errors (DataError for the input, LammpsError from LAMMPS) name the
  // configuration's file and index.
  void compute(const Configuration& cfg, SnapResult& out);
  int ndesc() const { return m_ndesc; }
  int version() const;

 private:
  void compute_unchecked(const Configuration& cfg, SnapResult& out);
  void load_configuration(const Configuration& cfg, const LammpsFrame& frame);
  bool reload_configuration(const Configuration& cfg, const LammpsFrame& frame);
  std::unique_ptr<LammpsInstance> m_lmp;
  InstanceReuse m_reuse;
  bool m_loaded = false;     // the instance holds a box, styles and a compute snap
  BispectrumSettings m_bispectrum;
  int m_ndesc = 0;
  std::string m_before_box;  // units ... boundary (after `clear`)
  std::string m_styles;      // mass, pair_style, pair_coeff
  std::string m_compute;     // compute snap ...
  std::string m_neighbor;    // neighbor, neigh_modify
  std::vector<int> m_types;  // scratch: 1-based LAMMPS types
  std::vector<char> m_keep;  // scratch: non-zero rows among the 3N rows of one j
};

// The `compute snap ...` command for these settings (exposed for tests and messages).
std::string compute_snap_command(const BispectrumSettings& b);

}  // namespace fitnn
