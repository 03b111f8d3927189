// The training set as flat arrays: descriptors, derivative rows, targets, weights and the
// per-configuration offsets that make a batch a contiguous slice. No per-atom or per-row heap
// objects. Built by src/descriptors/, stored by src/dataset/cache.cpp, read by the trainer.
//
// Derivative rows are sorted by configuration, then by force component k = 3 j + a, then by i.
// Row r belongs to configuration c when row_offset[c] <= r < row_offset[c+1]; its indices are
// LOCAL to that configuration (0 <= i, j < natoms of c). D_r = -dB_i/dr_{j,a} (LAMMPS's sign).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace fitnn {

struct Dataset {
  int ndesc = 0;       // descriptors per atom
  int ntypes = 1;      // number of elements
  std::vector<std::string> type_names;  // (ntypes)
  int derivative_bits = 64;             // 64: dgrad64 holds the rows; 32: dgrad32 does

  // Per configuration (nconfigs)
  std::vector<int64_t> atom_offset;     // (nconfigs + 1) first atom of each configuration
  std::vector<int64_t> row_offset;      // (nconfigs + 1) first derivative row
  std::vector<double> energy;           // target: E_DFT + ESHIFT - E_ref (total, eV)
  std::vector<double> ref_energy;       // E_ref from LAMMPS (eV)
  std::vector<double> eweight, fweight, vweight;
  std::vector<uint8_t> testing;         // 1: validation/test configuration
  std::vector<int32_t> group;           // index into group_names
  std::vector<int32_t> file_index;      // index into file_names
  std::vector<int32_t> index_in_file;   // configuration number inside its file
  std::vector<std::string> group_names;
  std::vector<std::string> file_names;

  // Per atom (natoms)
  std::vector<double> descriptors;      // (natoms, ndesc) B_i
  std::vector<int32_t> atom_type;       // (natoms) 0-based element
  std::vector<double> forces;           // (natoms, 3) target: F_DFT (rotated) - F_ref
  std::vector<double> ref_forces;       // (natoms, 3) F_ref (rotated frame)

  // Per derivative row (nrows)
  std::vector<int32_t> row_i;           // (nrows) local atom whose descriptor is differentiated
  std::vector<int32_t> row_k;           // (nrows) local force component 3 j + a
  std::vector<double> dgrad64;          // (nrows, ndesc) when derivative_bits == 64
  std::vector<float> dgrad32;           // (nrows, ndesc) when derivative_bits == 32

  int64_t nconfigs() const { return atom_offset.empty() ? 0 : (int64_t)atom_offset.size() - 1; }
  int64_t natoms() const { return atom_offset.empty() ? 0 : atom_offset.back(); }
  int64_t nrows() const { return row_offset.empty() ? 0 : row_offset.back(); }
  int natoms_of(int64_t c) const { return int(atom_offset[c + 1] - atom_offset[c]); }
  // Bytes held by the arrays (for the memory report).
  int64_t array_bytes() const;
  // Throws DataError if offsets, sizes or indices are inconsistent.
  void validate() const;
  // Derivative value (row r, component d) in double, whichever storage is used.
  double dgrad(int64_t r, int d) const {
    return derivative_bits == 64 ? dgrad64[r * ndesc + d] : double(dgrad32[r * ndesc + d]);
  }
};

}  // namespace fitnn
