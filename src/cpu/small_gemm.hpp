// small_gemm: the dense products of the MLP ops (mlp_ops.cpp) for the shapes of a training
// step: M and K are layer widths (tens), N is the atoms of a block (tens to hundreds). A
// general GEMM (Eigen's) packs both operands into panels on every call, which costs as much as
// the arithmetic at these sizes; these kernels read the operands in place:
//
//   C[j*ldc + m] (+)= bias[m] + sum_k A[k*lda + m] * B[j*bj + k*bk],  m < M, j < N, k < K.
//
// A's k-th vector of M values is contiguous (a row of W^T, of W, or a column of h); C's j-th
// column is contiguous; B is read one scalar at a time (broadcast), so any strides work.
// Register tiles, the K loop innermost, accumulators in registers, one store per tile: with
// AVX-512, 4 vectors of C rows x 6 columns (24 accumulators: 10 loads per 24 FMAs, against 10
// per 16 for 2 x 8; ~10% faster at M = 64), else 2 vectors x kTileN columns. The rows left
// after the whole blocks (M = 30: all of them) take one tile of as many vectors as they need,
// its last vector moved back to end at M (it overlaps the one before and stores only its new
// rows), so nothing outside A's rows is read and no masked loads are needed (GCC 12 keeps the
// accumulators in memory around a masked load: 2x slower). At M = 30 this is 1.3-1.45x faster
// than two overlapping 2-vector tiles. The vector width follows the build: 8 doubles (16
// floats) with AVX-512, 4 (8) with AVX2, else 2 (4). M below one vector (the output layer):
// scalar FMA chains, 8 columns at a time. Every entry of C is one chain of FMAs in k order,
// whichever tile computes it.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

// The vector helpers are internal and inlined; their by-value vector ABI is irrelevant.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"

namespace fitnn {
namespace cpu {
namespace gemm_detail {

#if defined(__AVX512F__)
constexpr int kVecBytes = 64;
constexpr int kTileN = 8;  // 16 of the 32 vector registers hold the tile
#elif defined(__AVX__)
constexpr int kVecBytes = 32;
constexpr int kTileN = 6;  // 12 of the 16 vector registers hold the tile
#else
constexpr int kVecBytes = 16;
constexpr int kTileN = 6;
#endif

template <class S>
struct VecOf {
  typedef S type __attribute__((vector_size(kVecBytes)));
};
template <class S>
using Vec = typename VecOf<S>::type;
template <class S>
constexpr int kLanes = int(kVecBytes / sizeof(S));

template <class S>
inline Vec<S> load(const S* p) {
  Vec<S> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class S>
inline void store(S* p, Vec<S> v) {
  std::memcpy(p, &v, sizeof v);
}

// a b + c in one rounding where the build has FMA (as the vector tiles' FMAs).
template <class S>
inline S fma_of(S a, S b, S c) {
#if defined(__FMA__)
  return std::fma(a, b, c);
#else
  return a * b + c;
#endif
}

// Lanes [shift, W) of v stored at p[shift..W) (C += v there with ACC); p[0..shift) untouched.
template <class S, bool ACC>
inline void store_tail(S* p, Vec<S> v, int shift) {
#if defined(__AVX512F__)
  if (ACC) v += load(p);
  if constexpr (sizeof(S) == 8) {
    __m512d t;
    std::memcpy(&t, &v, sizeof t);
    _mm512_mask_storeu_pd(p, __mmask8(0xffu << shift), t);
  } else {
    __m512 t;
    std::memcpy(&t, &v, sizeof t);
    _mm512_mask_storeu_ps(p, __mmask16(0xffffu << shift), t);
  }
#else
  S t[kLanes<S>];
  store(t, v);
  for (int q = shift; q < kLanes<S>; ++q) p[q] = ACC ? p[q] + t[q] : t[q];
#endif
}

// One tile: columns [j0, j0 + NJ) of rows [m0, m0 + MV W), except that the last vector is
// moved back by `shift` lanes (rows [m0 + (MV - 1) W - shift, m0 + MV W - shift)) and stores
// only the rows the one before did not.
template <class S, int MV, int NJ, bool ACC>
inline void tile(int m0, int shift, int j0, int K, const S* A, int64_t lda, const S* B,
                 int64_t bj, int64_t bk, const S* bias, S* C, int64_t ldc) {
  constexpr int W = kLanes<S>;
  auto row = [shift](int v) { return v * W - (v == MV - 1 ? shift : 0); };
  Vec<S> c[MV][NJ];
  Vec<S> init[MV] = {};
  if (bias)
    for (int v = 0; v < MV; ++v) init[v] = load(bias + m0 + row(v));
  for (int j = 0; j < NJ; ++j)
    for (int v = 0; v < MV; ++v) c[v][j] = init[v];
  const S* a = A + m0;
  const S* b = B + int64_t(j0) * bj;
  for (int k = 0; k < K; ++k, a += lda, b += bk) {
    Vec<S> x[MV];
    for (int v = 0; v < MV; ++v) x[v] = load(a + row(v));
    for (int j = 0; j < NJ; ++j) {
      const S y = b[j * bj];  // broadcast
      for (int v = 0; v < MV; ++v) c[v][j] += x[v] * y;
    }
  }
  for (int j = 0; j < NJ; ++j) {
    S* cj = C + int64_t(j0 + j) * ldc + m0;
    for (int v = 0; v < MV; ++v) {
      if (v == MV - 1 && shift > 0) {
        store_tail<S, ACC>(cj + row(v), c[v][j], shift);
      } else {
        if (ACC) c[v][j] += load(cj + row(v));
        store(cj + row(v), c[v][j]);
      }
    }
  }
}

// Every column of one block of rows (tile's m0, MV, shift): NJ at a time, then the remainder.
template <class S, int MV, int NJ, bool ACC>
inline void tiles_of_rows(int m0, int shift, int N, int K, const S* A, int64_t lda, const S* B,
                          int64_t bj, int64_t bk, const S* bias, S* C, int64_t ldc) {
  int j0 = 0;
  for (; j0 + NJ <= N; j0 += NJ)
    tile<S, MV, NJ, ACC>(m0, shift, j0, K, A, lda, B, bj, bk, bias, C, ldc);
  switch (N - j0) {
#if defined(__AVX512F__)
    case 7: tile<S, MV, 7, ACC>(m0, shift, j0, K, A, lda, B, bj, bk, bias, C, ldc); break;
    case 6: tile<S, MV, 6, ACC>(m0, shift, j0, K, A, lda, B, bj, bk, bias, C, ldc); break;
#endif
    case 5: tile<S, MV, 5, ACC>(m0, shift, j0, K, A, lda, B, bj, bk, bias, C, ldc); break;
    case 4: tile<S, MV, 4, ACC>(m0, shift, j0, K, A, lda, B, bj, bk, bias, C, ldc); break;
    case 3: tile<S, MV, 3, ACC>(m0, shift, j0, K, A, lda, B, bj, bk, bias, C, ldc); break;
    case 2: tile<S, MV, 2, ACC>(m0, shift, j0, K, A, lda, B, bj, bk, bias, C, ldc); break;
    case 1: tile<S, MV, 1, ACC>(m0, shift, j0, K, A, lda, B, bj, bk, bias, C, ldc); break;
    default: break;
  }
}

// Blocks of MV vectors of rows starting at m0, m0 + MV W, ... below m1 (m1 - m0 a multiple of
// MV W), or with shift > 0 the one block at m0 whose last vector is moved back.
template <class S, int MV, int NJ>
inline void row_blocks(int m0, int m1, int shift, int N, int K, const S* A, int64_t lda,
                       const S* B, int64_t bj, int64_t bk, const S* bias, bool accumulate, S* C,
                       int64_t ldc) {
  constexpr int MT = MV * kLanes<S>;
  for (; m0 < m1; m0 += MT) {
    if (accumulate)
      tiles_of_rows<S, MV, NJ, true>(m0, shift, N, K, A, lda, B, bj, bk, bias, C, ldc);
    else
      tiles_of_rows<S, MV, NJ, false>(m0, shift, N, K, A, lda, B, bj, bk, bias, C, ldc);
  }
}

// M below one vector (the output layer: M = 1): each entry a scalar FMA chain in k order,
// kC columns at a time (independent chains: one chain alone waits on the FMA latency).
template <class S>
inline void narrow_rows(int M, int N, int K, const S* A, int64_t lda, const S* B, int64_t bj,
                        int64_t bk, const S* bias, bool accumulate, S* C, int64_t ldc) {
  constexpr int kC = 8;
  for (int m = 0; m < M; ++m)
    for (int j0 = 0; j0 < N; j0 += kC) {
      const int nc = N - j0 < kC ? N - j0 : kC;
      const S* b = B + int64_t(j0) * bj;
      S s[kC];
      for (int c = 0; c < kC; ++c) s[c] = bias ? bias[m] : S(0);
      if (nc == kC) {
        for (int k = 0; k < K; ++k) {
          const S a = A[int64_t(k) * lda + m];
          for (int c = 0; c < kC; ++c) s[c] = fma_of(a, b[c * bj + k * bk], s[c]);
        }
      } else {
        for (int k = 0; k < K; ++k) {
          const S a = A[int64_t(k) * lda + m];
          for (int c = 0; c < nc; ++c) s[c] = fma_of(a, b[c * bj + k * bk], s[c]);
        }
      }
      for (int c = 0; c < nc; ++c) {
        S& out = C[int64_t(j0 + c) * ldc + m];
        out = accumulate ? out + s[c] : s[c];
      }
    }
}

}  // namespace gemm_detail

// C (+)= bias + A B as above (accumulate: C += ..., else C = ...); bias may be null.
template <class S>
void small_gemm(int M, int N, int K, const S* A, int64_t lda, const S* B, int64_t bj,
                int64_t bk, const S* bias, bool accumulate, S* C, int64_t ldc) {
  using namespace gemm_detail;
  if (M <= 0 || N <= 0) return;
  constexpr int W = kLanes<S>;
  if (M < W) {
    narrow_rows(M, N, K, A, lda, B, bj, bk, bias, accumulate, C, ldc);
    return;
  }
#if defined(__AVX512F__)
  constexpr int kBlock = 4;  // vectors of rows per whole block
  const int whole = M / (kBlock * W) * (kBlock * W);
  row_blocks<S, 4, 6>(0, whole, 0, N, K, A, lda, B, bj, bk, bias, accumulate, C, ldc);
#else
  constexpr int kBlock = 2;
  const int whole = M / (kBlock * W) * (kBlock * W);
  row_blocks<S, 2, kTileN>(0, whole, 0, N, K, A, lda, B, bj, bk, bias, accumulate, C, ldc);
#endif
  // The rest: one block of as many vectors as it needs (M >= W, so the moved-back last vector
  // starts inside A's rows).
  const int rest = M - whole;
  if (rest == 0) return;
  const int nv = (rest + W - 1) / W, shift = nv * W - rest, end = whole + nv * W;
  switch (nv) {
#if defined(__AVX512F__)
    case 4:
      row_blocks<S, 4, 6>(whole, end, shift, N, K, A, lda, B, bj, bk, bias, accumulate, C, ldc);
      break;
    case 3:
      row_blocks<S, 3, 8>(whole, end, shift, N, K, A, lda, B, bj, bk, bias, accumulate, C, ldc);
      break;
#endif
    case 2:
      row_blocks<S, 2, kTileN>(whole, end, shift, N, K, A, lda, B, bj, bk, bias, accumulate, C,
                               ldc);
      break;
    default:
      row_blocks<S, 1, kTileN>(whole, end, shift, N, K, A, lda, B, bj, bk, bias, accumulate, C,
                               ldc);
      break;
  }
}

}  // namespace cpu
}  // namespace fitnn

#pragma GCC diagnostic pop
