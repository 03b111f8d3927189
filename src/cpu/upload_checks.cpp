// Backend upload checks shared by the CPU and CUDA backends (upload_checks.hpp).
#include "cpu/upload_checks.hpp"

#include <algorithm>
#include <climits>

#include "fitnn/errors.hpp"

namespace fitnn {
namespace cpu {

int64_t check_upload(const Dataset& data, const ModelLayout& layout, const std::string& backend,
                     int max_layers) {
  const int64_t nconf = data.nconfigs(), natoms = data.natoms(), nrows = data.nrows();
  const int d = data.ndesc;
  auto fail = [&](const std::string& what) { throw DataError(backend + ": " + what); };
  if (layout.widths.size() < 2 || layout.widths.back() != 1 || layout.ndesc < 1 ||
      layout.widths[0] != layout.input_width() || layout.nlayers() > max_layers)
    throw InputError(backend + ": the model layout is malformed");
  if (layout.ndesc != d)
    throw InputError(backend + ": the model expects " + std::to_string(layout.ndesc) +
                     " descriptors per atom but the dataset has " + std::to_string(d));
  if (data.row_offset.size() != data.atom_offset.size())
    fail("atom_offset and row_offset differ in length");
  if (int64_t(data.descriptors.size()) != natoms * d) fail("descriptors are not (natoms, ndesc)");
  if (int64_t(data.atom_type.size()) != natoms) fail("atom_type is not (natoms)");
  if (int64_t(data.forces.size()) != 3 * natoms) fail("forces are not (natoms, 3)");
  if (int64_t(data.energy.size()) != nconf || int64_t(data.eweight.size()) != nconf ||
      int64_t(data.fweight.size()) != nconf)
    fail("energy/eweight/fweight are not (nconfigs)");
  if (int64_t(data.row_i.size()) != nrows || int64_t(data.row_k.size()) != nrows)
    fail("row_i/row_k are not (nrows)");
  if (data.derivative_bits == 64) {
    if (int64_t(data.dgrad64.size()) != nrows * d) fail("dgrad64 is not (nrows, ndesc)");
  } else if (data.derivative_bits == 32) {
    if (int64_t(data.dgrad32.size()) != nrows * d) fail("dgrad32 is not (nrows, ndesc)");
  } else {
    fail("derivative_bits must be 64 or 32");
  }
  int64_t max_atoms = 1;
  for (int64_t c = 0; c < nconf; ++c) {
    const int64_t na = data.atom_offset[c + 1] - data.atom_offset[c];
    if (na < 1) fail("configuration " + std::to_string(c) + " has no atoms");
    if (data.row_offset[c + 1] < data.row_offset[c])
      fail("row_offset decreases at configuration " + std::to_string(c));
    if (data.row_offset[c + 1] - data.row_offset[c] > int64_t(INT32_MAX))
      fail("configuration " + std::to_string(c) + " has more than 2^31 derivative rows");
    max_atoms = std::max(max_atoms, na);
    for (int64_t r = data.row_offset[c]; r < data.row_offset[c + 1]; ++r) {
      if (data.row_i[r] < 0 || data.row_i[r] >= na || data.row_k[r] < 0 ||
          data.row_k[r] >= 3 * na)
        fail("derivative row " + std::to_string(r) + " of configuration " +
             std::to_string(c) + " indexes outside its " + std::to_string(na) + " atoms");
      if (r > data.row_offset[c] && data.row_k[r] < data.row_k[r - 1])
        fail("derivative rows of configuration " + std::to_string(c) +
             " are not sorted by force component k = 3 j + a (row " + std::to_string(r) +
             "); rebuild the descriptor cache");
    }
  }
  if (layout.option != 1)
    for (int64_t a = 0; a < natoms; ++a)
      if (data.atom_type[a] < 0 || data.atom_type[a] >= layout.nelements)
        fail("atom " + std::to_string(a) + " has element " + std::to_string(data.atom_type[a]) +
             " but the model has " + std::to_string(layout.nelements) + " elements");
  return max_atoms;
}

}  // namespace cpu
}  // namespace fitnn
