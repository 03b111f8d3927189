// RowParts (row_parts.hpp): cutting a planned batch's rows into per-thread parts, and the row
// work of one part (energies, forces, phi, the loss terms and the force adjoints).
#include "cpu/row_parts.hpp"

#include <algorithm>

#include "cpu/ops.hpp"

namespace fitnn {
namespace cpu {

// Cut positions first, in the batch's row order (configurations in order, each its dataset
// rows, sorted by component k), each moved forward to the start of a run; then every part's
// slices. A configuration without rows goes to the part at its position.
void RowParts::plan(const Dataset& data, const int64_t* configs, int nconf,
                    const int64_t* atom_base, int nparts) {
  const int T = nparts, n = nconf;
  const int64_t* cf = configs;
  auto rows_of = [&](int m) { return data.row_offset[cf[m] + 1] - data.row_offset[cf[m]]; };
  int64_t total = 0;
  for (int m = 0; m < n; ++m) total += rows_of(m);
  std::vector<int64_t>& cut = m_cut;
  cut.assign(size_t(T + 1), total);
  cut[0] = 0;
  for (int t = 1; t < T; ++t) {
    int64_t pos = std::max(cut[size_t(t - 1)], total * t / T), g0 = 0;
    int m = 0;
    while (m < n && g0 + rows_of(m) <= pos) g0 += rows_of(m++);
    if (m < n) {
      const int64_t r0 = data.row_offset[cf[m]], r1 = data.row_offset[cf[m] + 1];
      int64_t r = r0 + (pos - g0);
      while (r > r0 && r < r1 && data.row_k[r] == data.row_k[r - 1]) ++r;
      pos = g0 + (r - r0);
    }
    cut[size_t(t)] = pos;
  }
  m_slices.clear();
  m_slice_begin.assign(size_t(T + 1), 0);
  m_lo.assign(size_t(T), 0);
  m_hi.assign(size_t(T), 0);
  for (int t = 0; t < T; ++t) {
    m_slice_begin[size_t(t)] = int(m_slices.size());
    int64_t g0 = 0;
    for (int m = 0; m < n; g0 += rows_of(m++)) {
      const int64_t g1 = g0 + rows_of(m);
      const int64_t a = std::max(g0, cut[size_t(t)]), b = std::min(g1, cut[size_t(t + 1)]);
      const bool empty_here = g0 == g1 && cut[size_t(t)] <= g0 &&
                              (g0 < cut[size_t(t + 1)] || (t == T - 1 && g0 == total));
      if (!(a < b) && !empty_here) continue;
      const int64_t r0 = data.row_offset[cf[m]], r1 = data.row_offset[cf[m] + 1];
      const int ncomp = int(3 * (atom_base[m + 1] - atom_base[m]));
      RowSlice sl;
      sl.m = m;
      sl.r0 = empty_here ? r0 : r0 + (a - g0);
      sl.r1 = empty_here ? r0 : r0 + (b - g0);
      sl.first = sl.r0 == r0;
      sl.k0 = sl.first ? 0 : data.row_k[sl.r0];
      sl.k1 = sl.r1 == r1 ? ncomp : data.row_k[sl.r1];
      if (m_slices.size() == size_t(m_slice_begin[size_t(t)])) m_lo[size_t(t)] = atom_base[m];
      m_hi[size_t(t)] = atom_base[m + 1];
      m_slices.push_back(sl);
    }
  }
  m_slice_begin[size_t(T)] = int(m_slices.size());
}

template <class S, class Dg>
double row_part_cpu(const RowParts& parts, int t, const Dataset& data, Workspace<S>& ws,
                    const Dg* dgrad, double inv_m, S* g) {
  const int d = data.ndesc;
  const int32_t* cols = ws.cols();
  if (g) std::fill(g + parts.lo(t) * d, g + parts.hi(t) * d, S(0));
  double loss = 0.0;
  for (const RowSlice* sl = parts.begin(t); sl != parts.end(t); ++sl) {
    if (sl->first)
      config_energy_cpu(1, ws.atom_base.data() + sl->m, cols, ws.atom_energy.data(),
                        ws.energy.data() + sl->m);
    force_rows_part_cpu(sl->m, ws.configs, sl->r0, sl->r1, sl->k0, sl->k1,
                        data.atom_offset.data(), data.forces.data(), data.fweight.data(),
                        ws.atom_base.data(), cols, data.row_i.data(), data.row_k.data(), dgrad,
                        d, ws.beta.data(), inv_m, ws.forces.data(), ws.phi.data(), g);
    loss += loss_part_cpu(sl->m, ws.configs, sl->k0, sl->k1, sl->first, data.atom_offset.data(),
                          data.energy.data(), data.forces.data(), data.eweight.data(),
                          data.fweight.data(), ws.atom_base.data(), cols, ws.energy.data(),
                          ws.forces.data(), inv_m, ws.eps.data(), g ? ws.eps_col.data() : nullptr);
  }
  return loss;
}

#define FITNN_INSTANTIATE_ROW_PART(S, Dg)                                                  \
  template double row_part_cpu<S, Dg>(const RowParts&, int, const Dataset&, Workspace<S>&, \
                                      const Dg*, double, S*);
FITNN_INSTANTIATE_ROW_PART(double, double)
FITNN_INSTANTIATE_ROW_PART(double, float)
FITNN_INSTANTIATE_ROW_PART(float, double)
FITNN_INSTANTIATE_ROW_PART(float, float)

}  // namespace cpu
}  // namespace fitnn
