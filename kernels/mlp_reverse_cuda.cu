// The reverse side of the cuBLAS MLP path, twins of the CPU ops of the same names:
//   mlp_tangent_cuda   the forward-mode pass along the force adjoint g that turns the
//                      Hessian-vector product of loss-and-gradients.md into plain products:
//                      hd_0 = g / std (one-hot rows 0), zd_l = W_l hd_{l-1}, hd_l = act'(z_l) zd_l,
//                      and the curvature term tb_l <- tbar_l act''(z_l) zd_l; zd_l is kept in the
//                      primal half of bar[l] until the reverse pass overwrites it, as on the CPU;
//   mlp_reverse_cuda   the reverse pass over the primal and the tangent together, eps = dL/dE_i:
//                      zbar_L = eps; zbar_l = (W_{l+1}^T zbar_{l+1}) act'(z_l) + tb_l;
//                      dW_l += [zbar_l | delta_l] [h_{l-1} | hd_{l-1}]^T (ONE GEMM, primal and
//                      tangent stacked); db_l += sum over atoms of zbar_l.
//
// Work mapping: zd_l and zbar_l are one cuBLAS GEMM each over the block's n atoms plus an
// elementwise update (one thread per element). The weight gradient is a GEMM whose inner
// dimension is 2n (all atoms, twice), the long sum of the pass:
//   float64: one DGEMM accumulating straight into the gradient (beta = 1);
//   float32: the 2n columns are cut into chunks of kChunkCols; one strided-batched SGEMM forms
//     the chunks' partial products (each a float sum of at most kChunkCols terms) in scratch,
//     and a reduction kernel adds the partials to the gradient in double, in chunk order. This
//     bounds the float rounding of a long sum by that of a short one (docs/CUDA.md).
// The bias gradient is a per-row sum with double accumulators (add_row_sums_cuda). Every sum
// is in a fixed order: the result is bitwise reproducible run to run.
#include <algorithm>

#include "device_math.cuh"
#include "mlp_internal.cuh"

namespace fitnn {
namespace cuda {

void check_gemm_columns(int64_t cols, const char* what);  // mlp_forward_cuda.cu

namespace {

constexpr int64_t kChunkCols = 2048;  // float32 partial products sum at most this many terms

// grad[e] += sum over chunks q of part[q * len + e], in double, chunk by chunk.
template <class S>
__global__ void add_chunk_partials_kernel(const float* __restrict__ part, int nchunks,
                                          int64_t len, S* grad) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < len;
       e += int64_t(gridDim.x) * blockDim.x) {
    double acc = 0.0;
    for (int q = 0; q < nchunks; ++q) acc += double(part[q * len + e]);
    grad[e] = S(double(grad[e]) + acc);
  }
}

// dW (in, out column-major = (out, in) row-major) += hh (in, 2n) bar (out, 2n)^T.
void weight_gradient(const CudaContext& ctx, int in, int out, int64_t n, const double* hh,
                     const double* bar, double* dW) {
  gemm(ctx, CUBLAS_OP_N, CUBLAS_OP_T, in, out, int(2 * n), 1.0, hh, in, bar, out, 1.0, dW, in);
}

void weight_gradient(const CudaContext& ctx, int in, int out, int64_t n, const float* hh,
                     const float* bar, float* dW) {
  const int64_t K = 2 * n;
  const int64_t full = K / kChunkCols, rem = K - full * kChunkCols;
  const int nchunks = int(full + (rem > 0 ? 1 : 0));
  const int64_t len = int64_t(in) * out;
  float* part = static_cast<float*>(ctx.scratch(size_t(nchunks) * size_t(len) * sizeof(float)));
  if (full > 0)
    gemm_strided_batched(ctx, CUBLAS_OP_N, CUBLAS_OP_T, in, out, int(kChunkCols), 1.0f, hh, in,
                         (long long)(kChunkCols * in), bar, out, (long long)(kChunkCols * out),
                         0.0f, part, in, (long long)len, int(full));
  if (rem > 0)
    gemm(ctx, CUBLAS_OP_N, CUBLAS_OP_T, in, out, int(rem), 1.0f, hh + full * kChunkCols * in, in,
         bar + full * kChunkCols * out, out, 0.0f, part + full * len, in);
  add_chunk_partials_kernel<float><<<grid_blocks(len, kThreads, 4096), kThreads, 0,
                                     stream_of(ctx)>>>(part, nchunks, len, dW);
  FITNN_CUDA_LAUNCH_CHECK();
}

}  // namespace

template <class S>
void mlp_tangent_cuda(const CudaContext& ctx, const MlpNet<S>& net, const MlpBlock<S>& blk,
                      int d, const S* std, const S* g) {
  const int L = net.nlayers;
  const int64_t n = blk.n;
  if (n == 0) return;
  check_gemm_columns(2 * n, "mlp_tangent_cuda");
  const int in0 = net.widths[0];
  // hd_0 = g / std; the one-hot entries (option 3) are constants: tangent 0.
  tangent_input_cuda(ctx, g, std, d, in0, n, blk.hh[0] + int64_t(in0) * n);
  for (int l = 1; l <= L - 1; ++l) {
    const int in = net.widths[l - 1], out = net.widths[l];
    const S* W = net.params + net.weight(l);
    const S* hd_prev = blk.hh[l - 1] + int64_t(in) * n;
    S* zd = blk.bar[l];  // zd_l lives in the zbar slot until the reverse pass
    gemm(ctx, CUBLAS_OP_T, CUBLAS_OP_N, out, int(n), in, S(1), W, in, hd_prev, in, S(0), zd, out);
    tangent_step_cuda(ctx, blk.a1[l], blk.a2[l], zd, int64_t(out) * n,
                      blk.hh[l] + int64_t(out) * n, blk.tb[l]);
  }
}

template <class S>
size_t mlp_reverse_scratch_bytes(const MlpNet<S>& net, int64_t n) {
  if (sizeof(S) == sizeof(double)) return 0;
  const int64_t nchunks = (2 * n + kChunkCols - 1) / kChunkCols;
  int64_t m = 0;
  for (int l = 1; l <= net.nlayers; ++l)
    m = std::max(m, int64_t(net.widths[l]) * net.widths[l - 1]);
  return size_t(std::max<int64_t>(nchunks, 1) * m) * sizeof(float);
}

template <class S>
void mlp_reverse_cuda(const CudaContext& ctx, const MlpNet<S>& net, const MlpBlock<S>& blk,
                      const S* eps, S* grad) {
  const int L = net.nlayers;
  const int64_t n = blk.n;
  if (n == 0) return;
  check_gemm_columns(2 * n, "mlp_reverse_cuda");
  // zbar_L = eps; delta_L = 1 is already in the tangent half (mlp_beta_cuda).
  FITNN_CUDA_CHECK(cudaMemcpyAsync(blk.bar[L], eps, size_t(n) * sizeof(S),
                                   cudaMemcpyDeviceToDevice, stream_of(ctx)));
  for (int l = L; l >= 1; --l) {
    const int in = net.widths[l - 1], out = net.widths[l];
    if (l < L) {
      // zbar_l (out, n) = W_{l+1}^T (out, up) zbar_{l+1} (up, n), then * act' + tb.
      const int up = net.widths[l + 1];
      gemm(ctx, CUBLAS_OP_N, CUBLAS_OP_N, out, int(n), up, S(1), net.params + net.weight(l + 1),
           out, blk.bar[l + 1], up, S(0), blk.bar[l], out);
      reverse_step_cuda(ctx, blk.a1[l], blk.tb[l], int64_t(out) * n, blk.bar[l]);
    }
    weight_gradient(ctx, in, out, n, blk.hh[l - 1], blk.bar[l], grad + net.weight(l));
    add_row_sums_cuda(ctx, blk.bar[l], out, n, grad + net.bias(l));
  }
}

template void mlp_tangent_cuda<double>(const CudaContext&, const MlpNet<double>&,
                                       const MlpBlock<double>&, int, const double*,
                                       const double*);
template void mlp_tangent_cuda<float>(const CudaContext&, const MlpNet<float>&,
                                      const MlpBlock<float>&, int, const float*, const float*);
template size_t mlp_reverse_scratch_bytes<double>(const MlpNet<double>&, int64_t);
template size_t mlp_reverse_scratch_bytes<float>(const MlpNet<float>&, int64_t);
template void mlp_reverse_cuda<double>(const CudaContext&, const MlpNet<double>&,
                                       const MlpBlock<double>&, const double*, double*);
template void mlp_reverse_cuda<float>(const CudaContext&, const MlpNet<float>&,
                                      const MlpBlock<float>&, const float*, float*);

}  // namespace cuda
}  // namespace fitnn
