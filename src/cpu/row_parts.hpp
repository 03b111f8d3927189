// RowParts: the derivative rows of one planned batch cut into one part per thread, for the
// row phase of CpuBackend::run_split (a small batch of one net split by atoms and by rows).
// A cut falls on the start of a run of rows of one force component k, so that every F_k is
// summed whole by one part; a configuration cut in two gives each part the components of its
// runs. Part t scatters its force adjoints into its own buffer, columns [lo[t], hi[t]), which
// the atom phase after it sums per column.
#pragma once
#include <cstdint>
#include <vector>

#include "cpu/workspace.hpp"
#include "fitnn/dataset.hpp"

namespace fitnn {
namespace cpu {

// The rows of one configuration that fall in one part.
struct RowSlice {
  int m;           // batch configuration
  int64_t r0, r1;  // its dataset rows in this part
  int k0, k1;      // its force components in this part
  bool first;      // the part holding m's first row: energy term, E_m and eps_m
};

class RowParts {
 public:
  // Cuts the rows of `nconf` configurations (dataset indices `configs`, batch atoms from
  // atom_base[m]) into `nparts` parts of about equal rows.
  void plan(const Dataset& data, const int64_t* configs, int nconf, const int64_t* atom_base,
            int nparts);

  int64_t lo(int t) const { return m_lo[size_t(t)]; }  // first column of part t's buffer
  int64_t hi(int t) const { return m_hi[size_t(t)]; }  // end of part t's columns
  const RowSlice* begin(int t) const { return m_slices.data() + m_slice_begin[size_t(t)]; }
  const RowSlice* end(int t) const { return m_slices.data() + m_slice_begin[size_t(t + 1)]; }

 private:
  std::vector<RowSlice> m_slices;
  std::vector<int> m_slice_begin;  // (nparts + 1) first slice of each part
  std::vector<int64_t> m_cut;      // (nparts + 1) cuts in the batch's row order
  std::vector<int64_t> m_lo, m_hi;  // (nparts) columns of each part's buffer
};

// Part t of the rows of the batch planned in `ws`: its slices' energies, forces, phi, eps and
// loss terms, and with g (the part's (ndesc, capacity) buffer, zeroed here over its columns)
// the force adjoints. Returns the part's loss terms.
template <class S, class Dg>
double row_part_cpu(const RowParts& parts, int t, const Dataset& data, Workspace<S>& ws,
                    const Dg* dgrad, double inv_m, S* g);

}  // namespace cpu
}  // namespace fitnn
