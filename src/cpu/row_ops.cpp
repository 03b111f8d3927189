// The derivative-row contractions: forces from beta (F_k = sum_r beta_{i_r} . D_r over the
// rows of component k) and its transpose, the force adjoint per atom (g_i = sum_r phi_{k_r} D_r
// over the rows of atom i), separately and fused into one pass over the rows.
//
// Rows are sorted by k inside a configuration, so the contraction is a segmented reduction
// over "runs" of rows with the same k. The rows are the one large array of a training step
// (read from memory, not cache), so the fused op reads each row once: F_k of a run, then
// phi_k (which depends on F_k only), then phi_k D_r into g while the run is still in L1.
// Inner loops work on fixed blocks of 8 descriptor components (vectorized, in registers); the
// last d % 8 components are, for the dot products, one more block that ends at the row's end
// with the overlap masked, and scalar for the updates of g.
#include <algorithm>
#include <cstring>
#include <type_traits>

#include "cpu/ops.hpp"

// The vector helpers below are internal (inlined); their by-value vector ABI is irrelevant.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace fitnn {
namespace cpu {

namespace {

constexpr int kB = 8;  // components per block

// 8 components as one GCC/Clang vector (one AVX-512 register, two AVX or four SSE ones).
template <class T>
struct V8t;
template <>
struct V8t<double> {
  typedef double type __attribute__((vector_size(8 * sizeof(double))));
};
template <>
struct V8t<float> {
  typedef float type __attribute__((vector_size(8 * sizeof(float))));
};
template <class T>
using V8 = typename V8t<T>::type;

// Unaligned load of 8 values of type Dg as a vector of S.
template <class S, class Dg>
inline V8<S> load8(const Dg* p) {
  V8<Dg> v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::is_same_v<S, Dg>)
    return v;
  else
    return __builtin_convertvector(v, V8<S>);
}
template <class S>
inline void store8(S* p, V8<S> v) {
  std::memcpy(p, &v, sizeof v);
}
template <class S>
inline S hsum8(V8<S> v) {
  S t = S(0);
  for (int j = 0; j < kB; ++j) t += v[j];
  return t;
}

// The rows are streamed from memory once per step: ask for the row kPrefetchRows ahead
// (~10% faster than the hardware prefetcher alone on a 2-core Xeon; a prefetch never faults,
// so running past the end of the rows is harmless).
constexpr int kPrefetchRows = 16;
template <class Dg>
inline void prefetch_row(const Dg* row, int d) {
  const char* p = reinterpret_cast<const char*>(row);
  for (int o = 0; o < int(sizeof(Dg)) * d; o += 64) __builtin_prefetch(p + o);
}

// Mask of the tail block [d - 8, d): 1 for components not covered by the full blocks.
template <class S>
struct TailMask {
  V8<S> m;
  TailMask(int d, int nfull) {
    for (int j = 0; j < kB; ++j) m[j] = (d - kB + j >= nfull * kB) ? S(1) : S(0);
  }
};

// Kernels for NB full blocks (d >= 8): sum_s beta_s . D_s over a run, and g_s += p D_s.
template <class S, class Dg, int NB>
struct Blocks {
  static S dot_run(int64_t r, int64_t re, int64_t base, const int32_t* col_of,
                   const int32_t* row_i, const Dg* dgrad, int d, const S* beta,
                   const TailMask<S>& tail) {
    V8<S> acc[NB + 1] = {};
    const bool has_tail = d > NB * kB;
    for (int64_t s = r; s < re; ++s) {
      const int64_t a = base + row_i[s];
      const S* b = beta + int64_t(col_of ? col_of[a] : a) * d;
      const Dg* D = dgrad + s * d;
      prefetch_row(D + kPrefetchRows * d, d);
      for (int k = 0; k < NB; ++k) acc[k] += load8<S, S>(b + k * kB) * load8<S, Dg>(D + k * kB);
      if (has_tail)
        acc[NB] += load8<S, S>(b + d - kB) * load8<S, Dg>(D + d - kB) * tail.m;
    }
    for (int k = 1; k <= NB; ++k) acc[0] += acc[k];
    return hsum8<S>(acc[0]);
  }

  static void scatter_run(int64_t r, int64_t re, int64_t base, const int32_t* col_of,
                          const int32_t* row_i, const Dg* dgrad, int d, S p, S* g,
                          const TailMask<S>&) {
    const bool has_tail = d > NB * kB;
    for (int64_t s = r; s < re; ++s) {
      const int64_t a = base + row_i[s];
      S* gi = g + int64_t(col_of ? col_of[a] : a) * d;
      const Dg* D = dgrad + s * d;
      // The tail is scalar: a vector store overlapping the last full block would defeat
      // store-to-load forwarding when the next row (or run) updates the same atom.
      for (int k = 0; k < NB; ++k)
        store8<S>(gi + k * kB, load8<S, S>(gi + k * kB) + p * load8<S, Dg>(D + k * kB));
      if (has_tail)
        for (int q = NB * kB; q < d; ++q) gi[q] += p * S(D[q]);
    }
  }
};

// Wide rows (d >= 72, e.g. twojmax 8 with chemflag): the block count is a run-time loop, four
// accumulators break the dependency chain of the long dot products.
template <class S, class Dg>
struct WideBlocks {
  static S dot_run(int64_t r, int64_t re, int64_t base, const int32_t* col_of,
                   const int32_t* row_i, const Dg* dgrad, int d, const S* beta,
                   const TailMask<S>& tail) {
    V8<S> acc[4] = {};
    const int nb = d / kB;
    for (int64_t s = r; s < re; ++s) {
      const int64_t a = base + row_i[s];
      const S* b = beta + int64_t(col_of ? col_of[a] : a) * d;
      const Dg* D = dgrad + s * d;
      prefetch_row(D + kPrefetchRows * d, d);
      for (int k = 0; k < nb; ++k) acc[k & 3] += load8<S, S>(b + k * kB) * load8<S, Dg>(D + k * kB);
      if (d > nb * kB) acc[3] += load8<S, S>(b + d - kB) * load8<S, Dg>(D + d - kB) * tail.m;
    }
    return hsum8<S>((acc[0] + acc[1]) + (acc[2] + acc[3]));
  }
  static void scatter_run(int64_t r, int64_t re, int64_t base, const int32_t* col_of,
                          const int32_t* row_i, const Dg* dgrad, int d, S p, S* g,
                          const TailMask<S>&) {
    const int nb = d / kB;
    for (int64_t s = r; s < re; ++s) {
      const int64_t a = base + row_i[s];
      S* gi = g + int64_t(col_of ? col_of[a] : a) * d;
      const Dg* D = dgrad + s * d;
      for (int k = 0; k < nb; ++k)
        store8<S>(gi + k * kB, load8<S, S>(gi + k * kB) + p * load8<S, Dg>(D + k * kB));
      for (int q = nb * kB; q < d; ++q) gi[q] += p * S(D[q]);
    }
  }
};

// Narrow rows (d < 8): plain loops. Not inlined: the compiler may contract or vectorize plain
// loops differently in each caller, and the fused pass must give the separate ones' bits.
template <class S, class Dg>
struct AnyWidth {
  __attribute__((noinline)) static S dot_run(int64_t r, int64_t re, int64_t base, const int32_t* col_of,
                   const int32_t* row_i, const Dg* dgrad, int d, const S* beta,
                   const TailMask<S>&) {
    S total = S(0);
    for (int64_t s = r; s < re; ++s) {
      const int64_t a = base + row_i[s];
      const S* b = beta + int64_t(col_of ? col_of[a] : a) * d;
      const Dg* D = dgrad + s * d;
      prefetch_row(D + kPrefetchRows * d, d);
      S acc = S(0);
      for (int q = 0; q < d; ++q) acc += b[q] * S(D[q]);
      total += acc;
    }
    return total;
  }
  __attribute__((noinline)) static void scatter_run(int64_t r, int64_t re, int64_t base,
                                                    const int32_t* col_of,
                                                    const int32_t* row_i, const Dg* dgrad,
                                                    int d, S p, S* g, const TailMask<S>&) {
    for (int64_t s = r; s < re; ++s) {
      const int64_t a = base + row_i[s];
      S* gi = g + int64_t(col_of ? col_of[a] : a) * d;
      const Dg* D = dgrad + s * d;
      for (int q = 0; q < d; ++q) gi[q] += p * S(D[q]);
    }
  }
};

template <class S>
void zero_columns(int nconf, const int64_t* atom_base, const int32_t* col_of, int d, S* g) {
  for (int m = 0; m < nconf; ++m)
    for (int64_t a = atom_base[m]; a < atom_base[m + 1]; ++a) {
      const int64_t col = col_of ? col_of[a] : a;
      std::fill(g + col * d, g + (col + 1) * d, S(0));
    }
}

// End of the run of rows starting at r (same k).
inline int64_t run_end(const int32_t* row_k, int64_t r, int64_t r1) {
  const int32_t k = row_k[r];
  int64_t re = r + 1;
  while (re < r1 && row_k[re] == k) ++re;
  return re;
}

// The three ops for one kernel family K.
template <class S, class Dg, class K>
struct RowOps {
  static void contract(int nconf, const int64_t* configs, const int64_t* row_offset,
                       const int64_t* atom_base, const int32_t* col_of, const int32_t* row_i,
                       const int32_t* row_k, const Dg* dgrad, int d, const S* beta, S* forces) {
    const TailMask<S> tail(d, d / kB);
    for (int m = 0; m < nconf; ++m) {
      const int64_t c = configs[m], base = atom_base[m], r1 = row_offset[c + 1];
      S* f = forces + 3 * base;
      std::fill(f, f + 3 * (atom_base[m + 1] - base), S(0));
      for (int64_t r = row_offset[c]; r < r1;) {
        const int64_t re = run_end(row_k, r, r1);
        // += : should rows of one k come in several runs, they still add up.
        f[row_k[r]] += K::dot_run(r, re, base, col_of, row_i, dgrad, d, beta, tail);
        r = re;
      }
    }
  }

  static void transpose(int nconf, const int64_t* configs, const int64_t* row_offset,
                        const int64_t* atom_base, const int32_t* col_of, const int32_t* row_i,
                        const int32_t* row_k, const Dg* dgrad, int d, const S* phi, S* g) {
    const TailMask<S> tail(d, d / kB);
    zero_columns(nconf, atom_base, col_of, d, g);
    for (int m = 0; m < nconf; ++m) {
      const int64_t c = configs[m], base = atom_base[m], r1 = row_offset[c + 1];
      const S* p = phi + 3 * base;
      for (int64_t r = row_offset[c]; r < r1;) {
        const int64_t re = run_end(row_k, r, r1);
        K::scatter_run(r, re, base, col_of, row_i, dgrad, d, p[row_k[r]], g, tail);
        r = re;
      }
    }
  }

  // Configuration c (batch atoms from `base`), rows [r0, r1) (starts of runs) and force
  // components [k0, k1): F_k and phi_k of those components, and phi_k D_r added into g
  // (skipped when g is null).
  static void fused_part(int64_t c, int64_t base, int64_t natoms, int64_t r0, int64_t r1,
                         int k0, int k1, const int64_t* atom_offset,
                         const double* forces_target, const double* fweight,
                         const int32_t* col_of, const int32_t* row_i, const int32_t* row_k,
                         const Dg* dgrad, int d, const S* beta, double inv_m, S* forces, S* phi,
                         S* g) {
    const TailMask<S> tail(d, d / kB);
    S* f = forces + 3 * base;
    S* p = phi + 3 * base;
    const double* ft = forces_target + 3 * atom_offset[c];
    const double pscale = force_adjoint_scale(fweight[c], natoms, inv_m);
    for (int k = k0; k < k1; ++k) {
      f[k] = S(0);
      p[k] = S(pscale * (0.0 - ft[k]));
    }
    for (int64_t r = r0; r < r1;) {
      const int64_t re = run_end(row_k, r, r1);
      const int32_t k = row_k[r];
      f[k] = K::dot_run(r, re, base, col_of, row_i, dgrad, d, beta, tail);
      p[k] = S(pscale * (double(f[k]) - ft[k]));
      if (g) K::scatter_run(r, re, base, col_of, row_i, dgrad, d, p[k], g, tail);
      r = re;
    }
  }

  static void fused(int nconf, const int64_t* configs, const int64_t* row_offset,
                    const int64_t* atom_offset, const double* forces_target,
                    const double* fweight, const int64_t* atom_base, const int32_t* col_of,
                    const int32_t* row_i, const int32_t* row_k, const Dg* dgrad, int d,
                    const S* beta, double inv_m, S* forces, S* phi, S* g) {
    zero_columns(nconf, atom_base, col_of, d, g);
    for (int m = 0; m < nconf; ++m) {
      const int64_t c = configs[m], natoms = atom_base[m + 1] - atom_base[m];
      fused_part(c, atom_base[m], natoms, row_offset[c], row_offset[c + 1], 0, int(3 * natoms),
                 atom_offset, forces_target, fweight, col_of, row_i, row_k, dgrad, d, beta,
                 inv_m, forces, phi, g);
    }
  }
};

// Dispatch on the number of full blocks (d / 8) so that the block loops are unrolled.
template <class S, class Dg, template <class, class, class> class Op, class... Args>
void dispatch(int d, Args... args) {
  switch (d >= kB ? d / kB : -1) {
    case 1: Op<S, Dg, Blocks<S, Dg, 1>>::run(args...); return;
    case 2: Op<S, Dg, Blocks<S, Dg, 2>>::run(args...); return;
    case 3: Op<S, Dg, Blocks<S, Dg, 3>>::run(args...); return;
    case 4: Op<S, Dg, Blocks<S, Dg, 4>>::run(args...); return;
    case 5: Op<S, Dg, Blocks<S, Dg, 5>>::run(args...); return;
    case 6: Op<S, Dg, Blocks<S, Dg, 6>>::run(args...); return;
    case 7: Op<S, Dg, Blocks<S, Dg, 7>>::run(args...); return;
    case 8: Op<S, Dg, Blocks<S, Dg, 8>>::run(args...); return;
    case -1: Op<S, Dg, AnyWidth<S, Dg>>::run(args...); return;
    default: Op<S, Dg, WideBlocks<S, Dg>>::run(args...); return;
  }
}

template <class S, class Dg, class K>
struct ContractOp {
  template <class... A>
  static void run(A... a) { RowOps<S, Dg, K>::contract(a...); }
};
template <class S, class Dg, class K>
struct TransposeOp {
  template <class... A>
  static void run(A... a) { RowOps<S, Dg, K>::transpose(a...); }
};
template <class S, class Dg, class K>
struct FusedOp {
  template <class... A>
  static void run(A... a) { RowOps<S, Dg, K>::fused(a...); }
};
template <class S, class Dg, class K>
struct FusedPartOp {
  template <class... A>
  static void run(A... a) { RowOps<S, Dg, K>::fused_part(a...); }
};

}  // namespace

template <class S, class Dg>
void force_contract_cpu(int nconf, const int64_t* configs, const int64_t* row_offset,
                        const int64_t* atom_base, const int32_t* col_of, const int32_t* row_i,
                        const int32_t* row_k, const Dg* dgrad, int d, const S* beta,
                        S* forces) {
  dispatch<S, Dg, ContractOp>(d, nconf, configs, row_offset, atom_base, col_of, row_i, row_k,
                              dgrad, d, beta, forces);
}

template <class S, class Dg>
void force_transpose_cpu(int nconf, const int64_t* configs, const int64_t* row_offset,
                         const int64_t* atom_base, const int32_t* col_of, const int32_t* row_i,
                         const int32_t* row_k, const Dg* dgrad, int d, const S* phi, S* g) {
  dispatch<S, Dg, TransposeOp>(d, nconf, configs, row_offset, atom_base, col_of, row_i, row_k,
                               dgrad, d, phi, g);
}

template <class S, class Dg>
void force_contract_transpose_cpu(int nconf, const int64_t* configs, const int64_t* row_offset,
                                  const int64_t* atom_offset, const double* forces_target,
                                  const double* fweight, const int64_t* atom_base,
                                  const int32_t* col_of, const int32_t* row_i,
                                  const int32_t* row_k, const Dg* dgrad, int d, const S* beta,
                                  double inv_m, S* forces, S* phi, S* g) {
  dispatch<S, Dg, FusedOp>(d, nconf, configs, row_offset, atom_offset, forces_target, fweight,
                           atom_base, col_of, row_i, row_k, dgrad, d, beta, inv_m, forces, phi,
                           g);
}

template <class S, class Dg>
void force_rows_part_cpu(int m, const int64_t* configs, int64_t r0, int64_t r1, int k0, int k1,
                         const int64_t* atom_offset, const double* forces_target,
                         const double* fweight, const int64_t* atom_base, const int32_t* col_of,
                         const int32_t* row_i, const int32_t* row_k, const Dg* dgrad, int d,
                         const S* beta, double inv_m, S* forces, S* phi, S* g) {
  dispatch<S, Dg, FusedPartOp>(d, configs[m], atom_base[m], atom_base[m + 1] - atom_base[m], r0,
                               r1, k0, k1, atom_offset, forces_target, fweight, col_of, row_i,
                               row_k, dgrad, d, beta, inv_m, forces, phi, g);
}

#define FITNN_INSTANTIATE_ROWS(S, Dg)                                                        \
  template void force_contract_cpu<S, Dg>(int, const int64_t*, const int64_t*,               \
                                          const int64_t*, const int32_t*, const int32_t*,    \
                                          const int32_t*, const Dg*, int, const S*, S*);     \
  template void force_transpose_cpu<S, Dg>(int, const int64_t*, const int64_t*,              \
                                           const int64_t*, const int32_t*, const int32_t*,   \
                                           const int32_t*, const Dg*, int, const S*, S*);    \
  template void force_contract_transpose_cpu<S, Dg>(                                         \
      int, const int64_t*, const int64_t*, const int64_t*, const double*, const double*,     \
      const int64_t*, const int32_t*, const int32_t*, const int32_t*, const Dg*, int,        \
      const S*, double, S*, S*, S*);                                                        \
  template void force_rows_part_cpu<S, Dg>(                                                  \
      int, const int64_t*, int64_t, int64_t, int, int, const int64_t*, const double*,        \
      const double*, const int64_t*, const int32_t*, const int32_t*, const int32_t*,         \
      const Dg*, int, const S*, double, S*, S*, S*);

FITNN_INSTANTIATE_ROWS(double, double)
FITNN_INSTANTIATE_ROWS(double, float)
FITNN_INSTANTIATE_ROWS(float, double)
FITNN_INSTANTIATE_ROWS(float, float)

}  // namespace cpu
}  // namespace fitnn
