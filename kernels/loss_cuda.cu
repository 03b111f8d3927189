// config_energy_cuda and loss_cuda, the twins of config_energy_cpu and loss_cpu: the
// configuration energies, FitSNAP's documented batch loss (per-atom energies) and the adjoints
// that start the reverse pass, eps_m = dL/dE_m (also spread to the atoms' columns) and
// phi_mk = dL/dF_mk. Sums and residuals in double whatever the compute precision.
//
// Work mapping: one warp per configuration (grid-stride over configurations). For the loss a
// warp's lanes stride over the 3N force components, a fixed butterfly reduces them, and lane 0
// keeps the warp's running sum of configuration terms. Each block then writes the sum of its
// warps, in warp order, to a slot of the context's scratch, and a one-warp kernel adds the
// slots in block order to the device accumulator *loss_acc. The grid depends only on nconf, so
// the loss is bitwise reproducible, and nothing is read back here: the backend copies *loss_acc
// to the host once per step.
#include "cuda_check.hpp"
#include "cuda_context.cuh"
#include "cuda_ops.hpp"
#include "device_math.cuh"

namespace fitnn {
namespace cuda {

namespace {

constexpr int kMaxLossBlocks = 1024;

template <class S>
__global__ void config_energy_kernel(int nconf, const int64_t* __restrict__ atom_base,
                                     const int32_t* __restrict__ col_of,
                                     const S* __restrict__ atom_energy,
                                     double* __restrict__ energy) {
  const int lane = threadIdx.x & (kWarp - 1);
  const int nwarps = gridDim.x * (blockDim.x / kWarp);
  for (int m = (blockIdx.x * blockDim.x + threadIdx.x) / kWarp; m < nconf; m += nwarps) {
    double e = 0.0;
    for (int64_t a = atom_base[m] + lane; a < atom_base[m + 1]; a += kWarp)
      e += double(atom_energy[col_of ? col_of[a] : a]);
    e = warp_sum(e);
    if (lane == 0) energy[m] = e;
  }
}

template <class S>
__global__ void loss_kernel(int nconf, const int64_t* __restrict__ configs,
                            const int64_t* __restrict__ atom_offset,
                            const double* __restrict__ energy_target,
                            const double* __restrict__ forces_target,
                            const double* __restrict__ eweight,
                            const double* __restrict__ fweight,
                            const int64_t* __restrict__ atom_base,
                            const int32_t* __restrict__ col_of,
                            const double* __restrict__ energy, const S* __restrict__ forces,
                            double inv_m, double* __restrict__ eps, S* __restrict__ phi,
                            S* __restrict__ eps_col, double* __restrict__ block_sums) {
  __shared__ double warp_sums[kWarpsPerBlock];
  const int lane = threadIdx.x & (kWarp - 1);
  const int wib = threadIdx.x / kWarp;
  const int nwarps = gridDim.x * kWarpsPerBlock;
  double mine = 0.0;  // this warp's sum of term / M
  for (int m = blockIdx.x * kWarpsPerBlock + wib; m < nconf; m += nwarps) {
    const int64_t c = configs[m], base = atom_base[m];
    const int64_t natoms = atom_base[m + 1] - base;
    if (natoms <= 0) {  // never for a real configuration (upload rejects them)
      if (lane == 0) eps[m] = 0.0;
      continue;
    }
    const double nat = double(natoms);
    // Energy term: wE (E/N - e/N)^2.
    const double de = (energy[m] - energy_target[c]) / nat;
    double term = eweight[c] * de * de;
    const double em = 2.0 * eweight[c] * de / nat * inv_m;
    // Force term: wF / (3N) sum_k (F_k - f_k)^2.
    const double* ft = forces_target + 3 * atom_offset[c];
    const S* fp = forces + 3 * base;
    S* ph = phi + 3 * base;
    const double fscale = fweight[c] / (3.0 * nat);
    const double pscale = 2.0 * fscale * inv_m;
    double fsum = 0.0;
    for (int64_t k = lane; k < 3 * natoms; k += kWarp) {
      const double df = double(fp[k]) - ft[k];
      fsum += df * df;
      ph[k] = S(pscale * df);
    }
    fsum = warp_sum(fsum);
    term += fscale * fsum;
    mine += term * inv_m;
    if (lane == 0) eps[m] = em;
    if (eps_col) {
      const S e = S(em);
      for (int64_t a = base + lane; a < base + natoms; a += kWarp)
        eps_col[col_of ? col_of[a] : a] = e;
    }
  }
  if (lane == 0) warp_sums[wib] = mine;
  __syncthreads();
  if (threadIdx.x == 0) {
    double s = 0.0;
    for (int w = 0; w < kWarpsPerBlock; ++w) s += warp_sums[w];
    block_sums[blockIdx.x] = s;
  }
}

// *acc += sum of the nblocks block sums (one warp, fixed order).
__global__ void add_block_sums_kernel(const double* __restrict__ block_sums, int nblocks,
                                      double* __restrict__ acc) {
  double s = 0.0;
  for (int b = threadIdx.x; b < nblocks; b += kWarp) s += block_sums[b];
  s = warp_sum(s);
  if (threadIdx.x == 0) *acc += s;
}

}  // namespace

size_t loss_scratch_bytes() { return size_t(kMaxLossBlocks) * sizeof(double); }

template <class S>
void config_energy_cuda(const CudaContext& ctx, int nconf, const int64_t* atom_base,
                        const int32_t* col_of, const S* atom_energy, double* energy) {
  if (nconf <= 0) return;
  config_energy_kernel<S><<<grid_blocks(nconf, kWarpsPerBlock, 8192), kThreads, 0,
                            stream_of(ctx)>>>(nconf, atom_base, col_of, atom_energy, energy);
  FITNN_CUDA_LAUNCH_CHECK();
}

template <class S>
void loss_cuda(const CudaContext& ctx, int nconf, const int64_t* configs,
               const int64_t* atom_offset, const double* energy_target,
               const double* forces_target, const double* eweight, const double* fweight,
               const int64_t* atom_base, const int32_t* col_of, const double* energy,
               const S* forces, double inv_m, double* eps, S* phi, S* eps_col,
               double* loss_acc) {
  if (nconf <= 0) return;
  const int blocks = grid_blocks(nconf, kWarpsPerBlock, kMaxLossBlocks);
  double* block_sums = static_cast<double*>(ctx.scratch(loss_scratch_bytes()));
  loss_kernel<S><<<blocks, kThreads, 0, stream_of(ctx)>>>(
      nconf, configs, atom_offset, energy_target, forces_target, eweight, fweight, atom_base,
      col_of, energy, forces, inv_m, eps, phi, eps_col, block_sums);
  FITNN_CUDA_LAUNCH_CHECK();
  add_block_sums_kernel<<<1, kWarp, 0, stream_of(ctx)>>>(block_sums, blocks, loss_acc);
  FITNN_CUDA_LAUNCH_CHECK();
}

#define FITNN_INSTANTIATE_LOSS(S)                                                            \
  template void config_energy_cuda<S>(const CudaContext&, int, const int64_t*,               \
                                      const int32_t*, const S*, double*);                    \
  template void loss_cuda<S>(const CudaContext&, int, const int64_t*, const int64_t*,        \
                             const double*, const double*, const double*, const double*,     \
                             const int64_t*, const int32_t*, const double*, const S*, double, \
                             double*, S*, S*, double*);

FITNN_INSTANTIATE_LOSS(double)
FITNN_INSTANTIATE_LOSS(float)

}  // namespace cuda
}  // namespace fitnn
