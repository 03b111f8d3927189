// Internal pieces shared by the MLP files of kernels/: typed cuBLAS GEMM wrappers (column-major,
// host scalars, on the context's stream) and the elementwise kernels of the passes
// (kernels/activation_cuda.cu). Matrices are column-major (rows, n) with leading dimension
// `rows`, one column per atom, as everywhere in the MLP ops.
#pragma once
#include <cublas_v2.h>

#include <cstdint>

#include "cuda_check.hpp"
#include "cuda_context.cuh"
#include "cuda_ops.hpp"

namespace fitnn {
namespace cuda {

// C (m, n) = alpha op(A) op(B) + beta C.
inline void gemm(const CudaContext& ctx, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                 int k, double alpha, const double* A, int lda, const double* B, int ldb,
                 double beta, double* C, int ldc) {
  FITNN_CUBLAS_CHECK(
      cublasDgemm(blas_of(ctx), ta, tb, m, n, k, &alpha, A, lda, B, ldb, &beta, C, ldc));
}
inline void gemm(const CudaContext& ctx, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                 int k, float alpha, const float* A, int lda, const float* B, int ldb,
                 float beta, float* C, int ldc) {
  FITNN_CUBLAS_CHECK(
      cublasSgemm(blas_of(ctx), ta, tb, m, n, k, &alpha, A, lda, B, ldb, &beta, C, ldc));
}
// `batch` products C_i = alpha op(A_i) op(B_i) + beta C_i with A_i = A + i strideA, etc.
inline void gemm_strided_batched(const CudaContext& ctx, cublasOperation_t ta,
                                 cublasOperation_t tb, int m, int n, int k, float alpha,
                                 const float* A, int lda, long long sa, const float* B, int ldb,
                                 long long sb, float beta, float* C, int ldc, long long sc,
                                 int batch) {
  FITNN_CUBLAS_CHECK(cublasSgemmStridedBatched(blas_of(ctx), ta, tb, m, n, k, &alpha, A, lda, sa,
                                               B, ldb, sb, &beta, C, ldc, sc, batch));
}

// ---- Elementwise steps (activation_cuda.cu) -------------------------------------------------
// z (out, n) += b (out) per column, then z -> act(z) with a1 = act', a2 = act''.
template <class S>
void bias_activation_cuda(const CudaContext& ctx, Activation act, const S* bias, int out,
                          int64_t n, S* z_to_h, S* a1, S* a2);
// z (out, n) += b per column (the linear output layer).
template <class S>
void bias_add_cuda(const CudaContext& ctx, const S* bias, int out, int64_t n, S* z);
// Every column of m (rows, n) = v (rows) [/ s (rows) when s != nullptr].
template <class S>
void broadcast_columns_cuda(const CudaContext& ctx, const S* v, const S* s, int rows, int64_t n,
                            S* m);
// m (rows, n) row j /= s[j].
template <class S>
void divide_rows_cuda(const CudaContext& ctx, const S* s, int rows, int64_t n, S* m);
template <class S>
void fill_cuda(const CudaContext& ctx, S* p, int64_t len, S value);
// out[i] = a[i] * b[i].
template <class S>
void multiply_cuda(const CudaContext& ctx, const S* a, const S* b, int64_t len, S* out);
// hd = a1 zd; tb = tb a2 zd (the tangent step of one layer).
template <class S>
void tangent_step_cuda(const CudaContext& ctx, const S* a1, const S* a2, const S* zd,
                       int64_t len, S* hd, S* tb);
// zbar = zbar a1 + tb (the reverse step of one hidden layer).
template <class S>
void reverse_step_cuda(const CudaContext& ctx, const S* a1, const S* tb, int64_t len, S* zbar);
// hd0 (in0, n): column c = [g_c / std | 0 (one-hot rows)], g (d, n).
template <class S>
void tangent_input_cuda(const CudaContext& ctx, const S* g, const S* std, int d, int in0,
                        int64_t n, S* hd0);
// grad_b (rows) += sum over the n columns of m (rows, n) (double accumulation, fixed order).
template <class S>
void add_row_sums_cuda(const CudaContext& ctx, const S* m, int rows, int64_t n, S* grad_b);

}  // namespace cuda
}  // namespace fitnn
