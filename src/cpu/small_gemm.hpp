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
// AVX-512, 4 vectors of C rows x 6 columns while 4 vectors of rows are left (24 accumulators:
// 10 loads per 24 FMAs, against 10 per 16 for 2 x 8; ~10% faster at M = 64), then 2 vectors
// x kTileN columns (1 vector when fewer rows are left). The last tile of rows is moved back to
// end at M (it overlaps the previous one) and stores only its new rows, so no masked loads are
// needed and nothing outside A's rows is read. M below one vector: plain loops. The vector
// width follows the build: 8 doubles (16 floats) with AVX-512, 4 (8) with AVX2, else 2 (4).
#pragma once
#include <cstdint>
#include <cstring>

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

// One tile: rows [m0, m0 + MV lanes) of columns [j0, j0 + NJ); the first `skip` rows are not
// stored (they belong to the previous, overlapping tile).
template <class S, int MV, int NJ, bool ACC>
inline void tile(int m0, int skip, int j0, int K, const S* A, int64_t lda, const S* B,
                 int64_t bj, int64_t bk, const S* bias, S* C, int64_t ldc) {
  constexpr int W = kLanes<S>;
  Vec<S> c[MV][NJ];
  Vec<S> init[MV] = {};
  if (bias)
    for (int v = 0; v < MV; ++v) init[v] = load(bias + m0 + v * W);
  for (int j = 0; j < NJ; ++j)
    for (int v = 0; v < MV; ++v) c[v][j] = init[v];
  const S* a = A + m0;
  const S* b = B + int64_t(j0) * bj;
  for (int k = 0; k < K; ++k, a += lda, b += bk) {
    Vec<S> x[MV];
    for (int v = 0; v < MV; ++v) x[v] = load(a + v * W);
    for (int j = 0; j < NJ; ++j) {
      const S y = b[j * bj];  // broadcast
      for (int v = 0; v < MV; ++v) c[v][j] += x[v] * y;
    }
  }
  for (int j = 0; j < NJ; ++j) {
    S* cj = C + int64_t(j0 + j) * ldc + m0;
    if (skip == 0) {
      for (int v = 0; v < MV; ++v) {
        if (ACC) c[v][j] += load(cj + v * W);
        store(cj + v * W, c[v][j]);
      }
    } else {
      S t[MV * W];
      for (int v = 0; v < MV; ++v) store(t + v * W, c[v][j]);
      for (int q = skip; q < MV * W; ++q) cj[q] = ACC ? cj[q] + t[q] : t[q];
    }
  }
}

template <class S, int MV, int NJ, bool ACC>
inline void tiles_of_rows(int m0, int skip, int N, int K, const S* A, int64_t lda, const S* B,
                          int64_t bj, int64_t bk, const S* bias, S* C, int64_t ldc) {
  int j0 = 0;
  for (; j0 + NJ <= N; j0 += NJ)
    tile<S, MV, NJ, ACC>(m0, skip, j0, K, A, lda, B, bj, bk, bias, C, ldc);
  switch (N - j0) {
#if defined(__AVX512F__)
    case 7: tile<S, MV, 7, ACC>(m0, skip, j0, K, A, lda, B, bj, bk, bias, C, ldc); break;
    case 6: tile<S, MV, 6, ACC>(m0, skip, j0, K, A, lda, B, bj, bk, bias, C, ldc); break;
#endif
    case 5: tile<S, MV, 5, ACC>(m0, skip, j0, K, A, lda, B, bj, bk, bias, C, ldc); break;
    case 4: tile<S, MV, 4, ACC>(m0, skip, j0, K, A, lda, B, bj, bk, bias, C, ldc); break;
    case 3: tile<S, MV, 3, ACC>(m0, skip, j0, K, A, lda, B, bj, bk, bias, C, ldc); break;
    case 2: tile<S, MV, 2, ACC>(m0, skip, j0, K, A, lda, B, bj, bk, bias, C, ldc); break;
    case 1: tile<S, MV, 1, ACC>(m0, skip, j0, K, A, lda, B, bj, bk, bias, C, ldc); break;
    default: break;
  }
}

// Rows [m_begin, M) in tiles of MV vectors x NJ columns, the last one moved back to end at M
// (M >= MV vectors).
template <class S, int MV, int NJ>
inline void all_rows(int m_begin, int M, int N, int K, const S* A, int64_t lda, const S* B,
                     int64_t bj, int64_t bk, const S* bias, bool accumulate, S* C,
                     int64_t ldc) {
  constexpr int MT = MV * kLanes<S>;
  for (int m0 = m_begin; m0 < M; m0 += MT) {
    const int mt = m0 + MT <= M ? m0 : M - MT;
    const int skip = m0 - mt;
    if (accumulate)
      tiles_of_rows<S, MV, NJ, true>(mt, skip, N, K, A, lda, B, bj, bk, bias, C, ldc);
    else
      tiles_of_rows<S, MV, NJ, false>(mt, skip, N, K, A, lda, B, bj, bk, bias, C, ldc);
  }
}

}  // namespace gemm_detail

// C (+)= bias + A B as above (accumulate: C += ..., else C = ...); bias may be null.
template <class S>
void small_gemm(int M, int N, int K, const S* A, int64_t lda, const S* B, int64_t bj,
                int64_t bk, const S* bias, bool accumulate, S* C, int64_t ldc) {
  using namespace gemm_detail;
  if (M <= 0 || N <= 0) return;
  int m0 = 0;
#if defined(__AVX512F__)
  constexpr int kWide = 4 * kLanes<S>;  // rows of a 4-vector tile
  if (M >= kWide) {
    m0 = M / kWide * kWide;
    all_rows<S, 4, 6>(0, m0, N, K, A, lda, B, bj, bk, bias, accumulate, C, ldc);
  }
#endif
  // The rows left: tiles of 2 vectors, or of 1 when at most one vector of rows is left (when
  // 4-vector tiles ran, M is wide enough for the last tile to be moved back).
  if (m0 == M) return;
  if (M - m0 > kLanes<S> && M >= 2 * kLanes<S>) {
    all_rows<S, 2, kTileN>(m0, M, N, K, A, lda, B, bj, bk, bias, accumulate, C, ldc);
  } else if (M >= kLanes<S>) {
    all_rows<S, 1, kTileN>(m0, M, N, K, A, lda, B, bj, bk, bias, accumulate, C, ldc);
  } else {
    for (int j = 0; j < N; ++j)
      for (int m = 0; m < M; ++m) {
        S s = bias ? bias[m] : S(0);
        for (int k = 0; k < K; ++k) s += A[int64_t(k) * lda + m] * B[j * bj + k * bk];
        S& c = C[int64_t(j) * ldc + m];
        c = accumulate ? c + s : s;
      }
  }
}

}  // namespace cpu
}  // namespace fitnn

#pragma GCC diagnostic pop
