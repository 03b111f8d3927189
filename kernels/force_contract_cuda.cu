// The derivative-row contractions, twins of force_contract_cpu and force_transpose_cpu, and
// the fused atomic variant. These stream the derivative rows D (nrows x d), the bulk of the
// data: they set the speed of a large batch (docs/CUDA.md, "bandwidth floor").
//
// force_contract_cuda: F_k = sum over the rows of component k of beta_{i_r} . D_r.
//   One warp per force component of the slice. The warp finds its configuration by a binary
//   search of atom_base, then the run of rows of component k by two warp-cooperative searches
//   of row_k (rows are sorted by k inside a configuration), then streams the run as one flat
//   array of (rows x d) values: lane l takes elements l, l+32, ... so every load of D is fully
//   coalesced whatever d is; beta_{i_r} is gathered from the (small, cached) beta columns. Double
//   accumulators, a fixed butterfly reduction: deterministic, no atomics.
// force_transpose_cuda (deterministic): g_i = sum over the rows of atom i of phi_{k_r} D_r.
//   One warp per atom; the atom's rows are located in the per-configuration atom-sorted order
//   built once on the host (build_rows_by_atom). The warp loads 32 row numbers and their phi at
//   once, then walks them in order; each lane owns up to four descriptor components (d <= 128
//   per pass) in double accumulators. Fixed order, no atomics: bitwise reproducible. The rows
//   of one atom are contiguous in D only per row, so this pass reads D with row-granular
//   coalescing instead of streaming it.
// force_contract_transpose_atomic_cuda (fast mode): the contraction warp, having F_k, forms
//   phi_k exactly as loss_cuda does and immediately scatters phi_k D_r into g with atomicAdd
//   while its run of rows is still in L1/L2: D is streamed from memory once per step instead
//   of twice. Atomic float additions make g, hence the gradient, vary in the last bits from run
//   to run.
#include <algorithm>
#include <vector>

#include "cuda_check.hpp"
#include "cuda_context.cuh"
#include "cuda_ops.hpp"
#include "device_math.cuh"

namespace fitnn {
namespace cuda {

namespace {

// The run of rows [lo, hi) of local force component k of configuration c.
__device__ __forceinline__ void component_rows(const int32_t* __restrict__ row_k, int64_t r0,
                                               int64_t r1, int k, int64_t& lo, int64_t& hi) {
  lo = warp_partition_point(r0, r1, [&](int64_t p) { return row_k[p] < k; });
  hi = warp_partition_point(lo, r1, [&](int64_t p) { return row_k[p] <= k; });
}

// sum over rows r in [lo, hi) of beta_{i_r} . D_r, by the calling lane's share of the flat
// (rows x d) array; the caller reduces over the warp.
template <class S, class Dg>
__device__ __forceinline__ double partial_dot(const int32_t* __restrict__ row_i,
                                              const int32_t* __restrict__ col_of,
                                              const Dg* __restrict__ dgrad,
                                              const S* __restrict__ beta, int d, int64_t base,
                                              int64_t lo, int64_t hi, int lane) {
  const int64_t len = (hi - lo) * d;
  const Dg* D = dgrad + lo * d;
  int64_t r = lo + lane / d;
  int q = lane % d;
  double acc = 0.0;
  for (int64_t idx = lane; idx < len; idx += kWarp) {
    const int64_t a = base + row_i[r];
    const int64_t col = col_of ? col_of[a] : a;
    acc += double(beta[col * d + q]) * double(D[idx]);
    q += kWarp;
    while (q >= d) {
      q -= d;
      ++r;
    }
  }
  return acc;
}

template <class S, class Dg>
__global__ void force_contract_kernel(int nconf, const int64_t* __restrict__ configs,
                                      const int64_t* __restrict__ row_offset,
                                      const int64_t* __restrict__ atom_base,
                                      const int32_t* __restrict__ col_of,
                                      const int32_t* __restrict__ row_i,
                                      const int32_t* __restrict__ row_k,
                                      const Dg* __restrict__ dgrad, int d,
                                      const S* __restrict__ beta, S* __restrict__ forces) {
  const int lane = threadIdx.x & (kWarp - 1);
  const int64_t nwarps = int64_t(gridDim.x) * (blockDim.x / kWarp);
  const int64_t ncomp = 3 * atom_base[nconf];
  for (int64_t comp = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / kWarp; comp < ncomp;
       comp += nwarps) {
    const int m = config_of_atom(atom_base, nconf, comp / 3);
    const int64_t base = atom_base[m], c = configs[m];
    const int k = int(comp - 3 * base);
    int64_t lo, hi;
    component_rows(row_k, row_offset[c], row_offset[c + 1], k, lo, hi);
    const double f =
        warp_sum(partial_dot(row_i, col_of, dgrad, beta, d, base, lo, hi, lane));
    if (lane == 0) forces[comp] = S(f);
  }
}

template <class S, class Dg>
__global__ void force_transpose_kernel(int nconf, const int64_t* __restrict__ configs,
                                       const int64_t* __restrict__ row_offset,
                                       const int64_t* __restrict__ atom_base,
                                       const int32_t* __restrict__ col_of,
                                       const int32_t* __restrict__ row_k,
                                       const Dg* __restrict__ dgrad, int d,
                                       const S* __restrict__ phi, S* __restrict__ g,
                                       const int32_t* __restrict__ perm,
                                       const int32_t* __restrict__ sorted_i) {
  const int lane = threadIdx.x & (kWarp - 1);
  const int64_t nwarps = int64_t(gridDim.x) * (blockDim.x / kWarp);
  const int64_t natoms = atom_base[nconf];
  for (int64_t a = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / kWarp; a < natoms;
       a += nwarps) {
    const int m = config_of_atom(atom_base, nconf, a);
    const int64_t base = atom_base[m], c = configs[m];
    const int i = int(a - base);
    const int64_t r0 = row_offset[c], r1 = row_offset[c + 1];
    const int64_t lo = warp_partition_point(r0, r1, [&](int64_t p) { return sorted_i[p] < i; });
    const int64_t hi = warp_partition_point(lo, r1, [&](int64_t p) { return sorted_i[p] <= i; });
    const S* ph = phi + 3 * base;
    S* gi = g + int64_t(col_of ? col_of[a] : a) * d;
    for (int q0 = 0; q0 < d; q0 += 4 * kWarp) {
      double acc[4] = {0.0, 0.0, 0.0, 0.0};
      for (int64_t p0 = lo; p0 < hi; p0 += kWarp) {
        const int cnt = int(min(int64_t(kWarp), hi - p0));
        int64_t my_r = 0;
        double my_phi = 0.0;
        if (lane < cnt) {
          my_r = r0 + perm[p0 + lane];
          my_phi = double(ph[row_k[my_r]]);
        }
        for (int j = 0; j < cnt; ++j) {
          const int64_t r = __shfl_sync(kFullMask, my_r, j);
          const double f = __shfl_sync(kFullMask, my_phi, j);
          const Dg* D = dgrad + r * d;
#pragma unroll
          for (int u = 0; u < 4; ++u) {
            const int q = q0 + u * kWarp + lane;
            if (q < d) acc[u] += f * double(D[q]);
          }
        }
      }
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const int q = q0 + u * kWarp + lane;
        if (q < d) gi[q] = S(acc[u]);
      }
    }
  }
}

__device__ __forceinline__ void atomic_add(double* p, double v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add(float* p, float v) { atomicAdd(p, v); }

template <class S, class Dg>
__global__ void force_contract_transpose_atomic_kernel(
    int nconf, const int64_t* __restrict__ configs, const int64_t* __restrict__ row_offset,
    const int64_t* __restrict__ atom_offset, const double* __restrict__ forces_target,
    const double* __restrict__ fweight, const int64_t* __restrict__ atom_base,
    const int32_t* __restrict__ col_of, const int32_t* __restrict__ row_i,
    const int32_t* __restrict__ row_k, const Dg* __restrict__ dgrad, int d,
    const S* __restrict__ beta, double inv_m, S* __restrict__ forces, S* __restrict__ phi,
    S* g) {
  const int lane = threadIdx.x & (kWarp - 1);
  const int64_t nwarps = int64_t(gridDim.x) * (blockDim.x / kWarp);
  const int64_t ncomp = 3 * atom_base[nconf];
  for (int64_t comp = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / kWarp; comp < ncomp;
       comp += nwarps) {
    const int m = config_of_atom(atom_base, nconf, comp / 3);
    const int64_t base = atom_base[m], c = configs[m];
    const int k = int(comp - 3 * base);
    int64_t lo, hi;
    component_rows(row_k, row_offset[c], row_offset[c + 1], k, lo, hi);
    const S f = S(warp_sum(partial_dot(row_i, col_of, dgrad, beta, d, base, lo, hi, lane)));
    // phi_k as loss_cuda forms it: 2 wF (F_k - f_k) / (3 N M).
    const double nat = double(atom_base[m + 1] - base);
    const double fscale = fweight[c] / (3.0 * nat);
    const double pscale = 2.0 * fscale * inv_m;
    const S p = S(pscale * (double(f) - forces_target[3 * atom_offset[c] + k]));
    if (lane == 0) {
      forces[comp] = f;
      phi[comp] = p;
    }
    // Second sweep over the same rows (now cached): g_{i_r} += phi_k D_r.
    const int64_t len = (hi - lo) * d;
    const Dg* D = dgrad + lo * d;
    int64_t r = lo + lane / d;
    int q = lane % d;
    for (int64_t idx = lane; idx < len; idx += kWarp) {
      const int64_t a = base + row_i[r];
      const int64_t col = col_of ? col_of[a] : a;
      atomic_add(g + col * d + q, p * S(D[idx]));
      q += kWarp;
      while (q >= d) {
        q -= d;
        ++r;
      }
    }
  }
}

int warp_grid(int64_t warps) { return grid_blocks(warps, kWarpsPerBlock, 32768); }

}  // namespace

void build_rows_by_atom(const Dataset& data, std::vector<int32_t>& perm,
                        std::vector<int32_t>& sorted_i) {
  const int64_t nrows = data.nrows();
  perm.assign(size_t(nrows), 0);
  sorted_i.assign(size_t(nrows), 0);
  std::vector<int64_t> start;
  for (int64_t c = 0; c < data.nconfigs(); ++c) {
    const int64_t r0 = data.row_offset[c], r1 = data.row_offset[c + 1];
    const int n = data.natoms_of(c);
    // Counting sort by atom, stable: rows of one atom keep their (k-sorted) order.
    start.assign(size_t(n) + 1, 0);
    for (int64_t r = r0; r < r1; ++r) ++start[size_t(data.row_i[r]) + 1];
    for (int i = 0; i < n; ++i) start[size_t(i) + 1] += start[size_t(i)];
    for (int64_t r = r0; r < r1; ++r) {
      const int32_t i = data.row_i[r];
      const int64_t p = r0 + start[size_t(i)]++;
      perm[size_t(p)] = int32_t(r - r0);
      sorted_i[size_t(p)] = i;
    }
  }
}

template <class S, class Dg>
void force_contract_cuda(const CudaContext& ctx, int nconf, const int64_t* configs,
                         const int64_t* row_offset, const int64_t* atom_base,
                         const int32_t* col_of, const int32_t* row_i, const int32_t* row_k,
                         const Dg* dgrad, int d, const S* beta, S* forces, int64_t natoms) {
  if (nconf <= 0 || natoms <= 0) return;
  force_contract_kernel<S, Dg><<<warp_grid(3 * natoms), kThreads, 0, stream_of(ctx)>>>(
      nconf, configs, row_offset, atom_base, col_of, row_i, row_k, dgrad, d, beta, forces);
  FITNN_CUDA_LAUNCH_CHECK();
}

template <class S, class Dg>
void force_transpose_cuda(const CudaContext& ctx, int nconf, const int64_t* configs,
                          const int64_t* row_offset, const int64_t* atom_base,
                          const int32_t* col_of, const int32_t* row_i, const int32_t* row_k,
                          const Dg* dgrad, int d, const S* phi, S* g, int64_t natoms,
                          const RowsByAtom& by_atom) {
  (void)row_i;  // the atom-sorted order carries it (sorted_i)
  if (nconf <= 0 || natoms <= 0) return;
  if (!by_atom.perm || !by_atom.sorted_i)
    throw DeviceError("CUDA: force_transpose_cuda needs the rows sorted by atom (internal error)");
  force_transpose_kernel<S, Dg><<<warp_grid(natoms), kThreads, 0, stream_of(ctx)>>>(
      nconf, configs, row_offset, atom_base, col_of, row_k, dgrad, d, phi, g, by_atom.perm,
      by_atom.sorted_i);
  FITNN_CUDA_LAUNCH_CHECK();
}

template <class S, class Dg>
void force_contract_transpose_atomic_cuda(
    const CudaContext& ctx, int nconf, const int64_t* configs, const int64_t* row_offset,
    const int64_t* atom_offset, const double* forces_target, const double* fweight,
    const int64_t* atom_base, const int32_t* col_of, const int32_t* row_i,
    const int32_t* row_k, const Dg* dgrad, int d, const S* beta, double inv_m, S* forces,
    S* phi, S* g, int64_t natoms) {
  if (nconf <= 0 || natoms <= 0) return;
  force_contract_transpose_atomic_kernel<S, Dg>
      <<<warp_grid(3 * natoms), kThreads, 0, stream_of(ctx)>>>(
          nconf, configs, row_offset, atom_offset, forces_target, fweight, atom_base, col_of,
          row_i, row_k, dgrad, d, beta, inv_m, forces, phi, g);
  FITNN_CUDA_LAUNCH_CHECK();
}

// (compute, storage): double rows for float64; float rows for float32 compute (converted at
// upload) and for derivative_bits = 32.
#define FITNN_INSTANTIATE_ROWS(S, Dg)                                                            \
  template void force_contract_cuda<S, Dg>(const CudaContext&, int, const int64_t*,              \
                                           const int64_t*, const int64_t*, const int32_t*,       \
                                           const int32_t*, const int32_t*, const Dg*, int,       \
                                           const S*, S*, int64_t);                               \
  template void force_transpose_cuda<S, Dg>(const CudaContext&, int, const int64_t*,             \
                                            const int64_t*, const int64_t*, const int32_t*,      \
                                            const int32_t*, const int32_t*, const Dg*, int,      \
                                            const S*, S*, int64_t, const RowsByAtom&);           \
  template void force_contract_transpose_atomic_cuda<S, Dg>(                                     \
      const CudaContext&, int, const int64_t*, const int64_t*, const int64_t*, const double*,    \
      const double*, const int64_t*, const int32_t*, const int32_t*, const int32_t*, const Dg*,  \
      int, const S*, double, S*, S*, S*, int64_t);

FITNN_INSTANTIATE_ROWS(double, double)
FITNN_INSTANTIATE_ROWS(double, float)
FITNN_INSTANTIATE_ROWS(float, float)

}  // namespace cuda
}  // namespace fitnn
