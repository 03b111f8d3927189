// Workspace: one contiguous allocation for the MLP arrays of `capacity` atoms, carved per
// layer, and the chunk plan that maps atoms to columns and columns to nets.
#include "cpu/workspace.hpp"

#include <algorithm>

namespace fitnn {
namespace cpu {

template <class S>
void Workspace<S>::allocate(const ModelLayout& layout, int64_t capacity, int64_t max_configs) {
  const int L = layout.nlayers();
  const auto& w = layout.widths;
  m_capacity = capacity;
  m_hh.assign(size_t(L), 0);
  m_a.assign(size_t(3 * L), 0);
  m_bar.assign(size_t(L + 1), 0);
  int64_t off = 0;
  for (int l = 0; l < L; ++l) {
    m_hh[l] = off;
    off += int64_t(w[l]) * 2 * capacity;
  }
  for (int l = 1; l < L; ++l)
    for (int k = 0; k < 3; ++k) {
      m_a[3 * l + k] = off;
      off += int64_t(w[l]) * capacity;
    }
  for (int l = 1; l <= L; ++l) {
    m_bar[l] = off;
    off += int64_t(w[l]) * 2 * capacity;
  }
  m_mlp.assign(size_t(off), S(0));

  const int d = layout.ndesc;
  atom_base.assign(size_t(max_configs + 1), 0);
  col_of.assign(size_t(capacity), 0);
  atoms.assign(size_t(capacity), 0);
  seg_start.assign(size_t(layout.nnets() + 1), 0);
  blocks.assign(size_t(layout.nnets()), MlpBlock<S>());
  m_count.assign(size_t(std::max(1, layout.nelements)), 0);
  atom_energy.assign(size_t(capacity), S(0));
  beta.assign(size_t(d * capacity), S(0));
  g.assign(size_t(d * capacity), S(0));
  forces.assign(size_t(3 * capacity), S(0));
  phi.assign(size_t(3 * capacity), S(0));
  eps_col.assign(size_t(capacity), S(0));
  energy.assign(size_t(max_configs), 0.0);
  eps.assign(size_t(max_configs), 0.0);
}

template <class S>
void Workspace<S>::plan(const Dataset& data, const ModelLayout& layout,
                        const int64_t* chunk_configs, int n) {
  nconf = n;
  configs = chunk_configs;
  atom_base[0] = 0;
  for (int m = 0; m < n; ++m) atom_base[m + 1] = atom_base[m] + data.natoms_of(configs[m]);
  natoms = atom_base[n];
  const int nnets = layout.nnets();
  if (layout.option != 2) {
    identity_columns = true;
    int64_t col = 0;
    for (int m = 0; m < n; ++m) {
      const int64_t a0 = data.atom_offset[configs[m]];
      for (int64_t i = 0; i < atom_base[m + 1] - atom_base[m]; ++i) atoms[col++] = a0 + i;
    }
    seg_start[0] = 0;
    seg_start[1] = natoms;
  } else {
    // One contiguous block of columns per element, configurations in order inside it.
    identity_columns = false;
    std::fill(m_count.begin(), m_count.end(), 0);
    for (int m = 0; m < n; ++m) {
      const int64_t a0 = data.atom_offset[configs[m]], a1 = data.atom_offset[configs[m] + 1];
      for (int64_t a = a0; a < a1; ++a) ++m_count[data.atom_type[a]];
    }
    seg_start[0] = 0;
    for (int e = 0; e < nnets; ++e) seg_start[e + 1] = seg_start[e] + m_count[e];
    for (int e = 0; e < nnets; ++e) m_count[e] = seg_start[e];  // next free column
    int64_t b = 0;
    for (int m = 0; m < n; ++m) {
      const int64_t a0 = data.atom_offset[configs[m]], a1 = data.atom_offset[configs[m] + 1];
      for (int64_t a = a0; a < a1; ++a, ++b) {
        const int64_t col = m_count[data.atom_type[a]]++;
        col_of[b] = int32_t(col);
        atoms[col] = a;
      }
    }
  }
  // Block views: net e owns columns [seg_start[e], seg_start[e+1]).
  for (int e = 0; e < nnets; ++e)
    blocks[e] = view(layout, seg_start[e], seg_start[e + 1] - seg_start[e]);
}

template <class S>
MlpBlock<S> Workspace<S>::view(const ModelLayout& layout, int64_t c0, int64_t n) {
  // Every layer array is stored block after block ([h | hd] of a block together), so columns
  // [c0, c0 + n) of the plan are a block of their own.
  const int L = layout.nlayers();
  const auto& w = layout.widths;
  S* base = m_mlp.data();
  MlpBlock<S> blk;
  blk.n = n;
  for (int l = 0; l < L; ++l) blk.hh[l] = base + m_hh[l] + int64_t(w[l]) * 2 * c0;
  for (int l = 1; l < L; ++l) {
    blk.a1[l] = base + m_a[3 * l] + int64_t(w[l]) * c0;
    blk.a2[l] = base + m_a[3 * l + 1] + int64_t(w[l]) * c0;
    blk.tb[l] = base + m_a[3 * l + 2] + int64_t(w[l]) * c0;
  }
  for (int l = 1; l <= L; ++l) blk.bar[l] = base + m_bar[l] + int64_t(w[l]) * 2 * c0;
  blk.energy = atom_energy.data() + c0;
  return blk;
}

template class Workspace<double>;
template class Workspace<float>;

}  // namespace cpu
}  // namespace fitnn
