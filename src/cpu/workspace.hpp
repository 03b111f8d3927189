// Preallocated work arrays of one CPU worker: everything a chunk of up to `capacity` atoms
// needs on its way through the ops (ops.hpp), plus the chunk's plan (which configurations,
// which column each atom goes to, one block per net). Sized once at upload; the hot path never
// allocates.
#pragma once
#include <cstdint>
#include <vector>

#include "cpu/aligned_vector.hpp"

#include "cpu/ops.hpp"
#include "fitnn/dataset.hpp"
#include "fitnn/model.hpp"

namespace fitnn {
namespace cpu {

template <class S>
class Workspace {
 public:
  // capacity: atoms of the largest chunk; max_configs: configurations in a chunk.
  void allocate(const ModelLayout& layout, int64_t capacity, int64_t max_configs);
  int64_t capacity() const { return m_capacity; }

  // Plan a chunk of `nconf` configurations (dataset indices): batch-atom offsets, the column
  // of every atom (grouped by element for option 2), and the blocks of the nets.
  void plan(const Dataset& data, const ModelLayout& layout, const int64_t* configs,
            int nconf);

  // Columns [c0, c0 + n) of the current plan as a block of their own (the layer arrays keep
  // each block's [h | hd] together), e.g. to split one net's block between threads.
  MlpBlock<S> view(const ModelLayout& layout, int64_t c0, int64_t n);

  // The plan of the current chunk.
  int nconf = 0;
  const int64_t* configs = nullptr;
  int64_t natoms = 0;
  std::vector<int64_t> atom_base;  // (max_configs + 1) first batch atom of each configuration
  std::vector<int32_t> col_of;     // (capacity) column of each batch atom (option 2)
  bool identity_columns = true;    // col_of is the identity (options 1 and 3)
  std::vector<int64_t> atoms;      // (capacity) dataset atom of each column
  std::vector<int64_t> seg_start;  // (nnets + 1) first column of each net's block
  std::vector<MlpBlock<S>> blocks;  // (nnets) block views for the current plan
  const int32_t* cols() const { return identity_columns ? nullptr : col_of.data(); }

  // Per-chunk arrays (column order unless said otherwise).
  AlignedVector<S> atom_energy;   // (capacity)
  AlignedVector<S> beta;          // (ndesc, capacity)
  AlignedVector<S> g;             // (ndesc, capacity) force adjoint
  AlignedVector<S> forces;        // (3 capacity) batch-atom order
  AlignedVector<S> phi;           // (3 capacity) batch-atom order
  AlignedVector<S> eps_col;       // (capacity)
  AlignedVector<double> energy;   // (max_configs)
  AlignedVector<double> eps;      // (max_configs)

 private:
  int64_t m_capacity = 0;
  AlignedVector<S> m_mlp;                // all layer arrays of the MLP, capacity columns
  std::vector<int64_t> m_hh, m_a, m_bar;  // offsets of hh[l], a1/a2/tb[l], bar[l] in m_mlp
  std::vector<int64_t> m_count;        // (nelements) scratch for the element grouping
};

}  // namespace cpu
}  // namespace fitnn
