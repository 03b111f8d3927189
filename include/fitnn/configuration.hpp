// One scraped training configuration in metal units, before descriptors: what src/scrape/
// produces and src/descriptors/ consumes. Per-configuration heap arrays are fine here (tens of
// thousands of configurations); per-atom objects are not.
#pragma once
#include <array>
#include <string>
#include <vector>

namespace fitnn {

struct Configuration {
  std::string file;        // path of the source file (as found under dataPath)
  int index_in_file = 0;   // position in the file's Data list / XYZ frame number
  std::string group;       // GROUPS name
  int group_index = 0;     // index into GroupSettings::groups
  int natoms = 0;
  std::vector<int> types;                // (natoms) 0-based, BISPECTRUM `type` order
  std::array<double, 9> lattice{};       // row-major; rows are the cell vectors (Angstrom)
  std::vector<double> positions;         // (natoms, 3) Angstrom, original frame
  std::vector<double> forces;            // (natoms, 3) eV/Angstrom, original frame
  double energy = 0.0;                   // total DFT energy, eV (ESHIFT not yet applied)
  bool has_stress = false;
  std::array<double, 9> stress{};        // bar, original frame (unused by the fit)
  double eweight = 1.0, fweight = 1.0, vweight = 1.0;
  bool testing = false;
};

// The cell in LAMMPS's upper-triangular frame and the rotated atoms (lammps-descriptors.md).
struct LammpsFrame {
  std::array<double, 9> cell{};      // row-major C' whose COLUMNS are the rotated cell vectors
  std::array<double, 9> rotation{};  // row-major rot: x' = rot x
  std::vector<double> positions;     // (natoms, 3) rotated and wrapped into the cell
  std::vector<double> forces;        // (natoms, 3) rotated
};

}  // namespace fitnn
