// Device helpers shared by the kernels of kernels/: launch-size arithmetic, deterministic warp
// reductions (fixed butterfly order, no atomics), a warp-cooperative binary search over sorted
// keys, and the activations with their first and second derivatives written with the same
// formulas as the CPU reference (src/cpu/activation_ops.cpp), so that float64 results agree
// to a few ulp. Included by the .cu files only.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "fitnn/config.hpp"

namespace fitnn {
namespace cuda {

constexpr int kWarp = 32;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kThreads = 256;          // default block size of the elementwise kernels
constexpr int kWarpsPerBlock = kThreads / kWarp;
constexpr int kMaxGridBlocks = 65535;  // grid-stride kernels never launch more blocks

// Blocks for `work` items at `per_block` items per block, at least 1, capped.
inline int grid_blocks(int64_t work, int64_t per_block, int cap = kMaxGridBlocks) {
  int64_t b = (work + per_block - 1) / per_block;
  if (b < 1) b = 1;
  if (b > cap) b = cap;
  return int(b);
}

// Sum over the 32 lanes with a fixed butterfly: every lane gets the same, reproducible value.
template <class T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int off = kWarp / 2; off > 0; off >>= 1) v += __shfl_xor_sync(kFullMask, v, off);
  return v;
}

// First index p in [lo, hi) where pred(p) is false, for a predicate that is true on a prefix
// of the range (hi when it is true everywhere). All 32 lanes of the warp must call it with the
// same arguments; each round probes 32 points, so a range of 10^4 keys takes three rounds.
template <class Pred>
__device__ __forceinline__ int64_t warp_partition_point(int64_t lo, int64_t hi, Pred pred) {
  const int lane = threadIdx.x & (kWarp - 1);
  while (hi - lo > kWarp) {
    const int64_t span = hi - lo;
    const int64_t p = lo + span * (lane + 1) / (kWarp + 1);
    const unsigned below = __ballot_sync(kFullMask, pred(p));
    const int t = __popc(below);  // probes 0..t-1 satisfy pred
    const int64_t nlo = t > 0 ? lo + span * t / (kWarp + 1) + 1 : lo;
    const int64_t nhi = t < kWarp ? lo + span * (t + 1) / (kWarp + 1) : hi;
    lo = nlo;
    hi = nhi;
  }
  const int64_t p = lo + lane;
  const unsigned below = __ballot_sync(kFullMask, p < hi && pred(p));
  return lo + __popc(below);
}

// Single-thread version: the configuration m of batch atom a, i.e. the largest m with
// atom_base[m] <= a, for a in [0, atom_base[nconf]).
__device__ __forceinline__ int config_of_atom(const int64_t* atom_base, int nconf, int64_t a) {
  int lo = 0, hi = nconf;  // atom_base[lo] <= a < atom_base[hi]
  while (hi - lo > 1) {
    const int mid = (lo + hi) >> 1;
    if (atom_base[mid] <= a)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

// ---- Activations (z -> h, act'(z), act''(z)) -------------------------------------------------

__device__ __forceinline__ double dev_exp(double x) { return exp(x); }
__device__ __forceinline__ float dev_exp(float x) { return expf(x); }
__device__ __forceinline__ double dev_expm1(double x) { return expm1(x); }
__device__ __forceinline__ float dev_expm1(float x) { return expm1f(x); }
__device__ __forceinline__ double dev_log1p(double x) { return log1p(x); }
__device__ __forceinline__ float dev_log1p(float x) { return log1pf(x); }

template <class S>
__device__ __forceinline__ void act_eval(Activation act, S z, S& h, S& a1, S& a2) {
  const S az = z < S(0) ? -z : z;
  switch (act) {
    case Activation::softplus: {
      // softplus = max(z, 0) + log1p(e), e = exp(-|z|); ' = sigmoid(z); '' = e / (1 + e)^2.
      const S e = dev_exp(-az), r = S(1) / (S(1) + e);
      h = (z > S(0) ? z : S(0)) + dev_log1p(e);
      a1 = z >= S(0) ? r : e * r;
      a2 = e * r * r;
      return;
    }
    case Activation::tanh: {
      // tanh = sign(z) (1 - u) / (1 + u), u = exp(-2|z|); ' = 4u / (1 + u)^2; '' = -2 t '.
      const S em1 = dev_expm1(S(-2) * az), u = dev_exp(S(-2) * az);
      const S ta = -em1 / (S(2) + em1);
      const S t = z < S(0) ? -ta : ta;
      const S w = S(1) + u;
      const S d1 = S(4) * u / (w * w);
      h = t;
      a1 = d1;
      a2 = S(-2) * t * d1;
      return;
    }
    case Activation::sigmoid: {
      const S e = dev_exp(-az), r = S(1) / (S(1) + e);
      const S d1 = e * r * r;
      h = z >= S(0) ? r : e * r;
      a1 = d1;
      a2 = d1 * ((z >= S(0) ? e - S(1) : S(1) - e) * r);
      return;
    }
    case Activation::relu:
      h = z > S(0) ? z : S(0);
      a1 = z > S(0) ? S(1) : S(0);
      a2 = S(0);
      return;
    case Activation::linear:
    default:
      h = z;
      a1 = S(1);
      a2 = S(0);
      return;
  }
}

}  // namespace cuda
}  // namespace fitnn
