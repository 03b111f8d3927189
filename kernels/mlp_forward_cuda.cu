// The primal side of the cuBLAS MLP path, twins of the CPU ops of the same names:
//   standardize_cuda   h_0 = (x - mean) / std, then the one-hot entries (option 3);
//   mlp_forward_cuda   z_l = W_l h_{l-1} + b_l, h_l = act(z_l) with act' and act'' kept; E = z_L;
//   mlp_beta_cuda      beta = dE/dx by delta_L = 1, tbar_l = W_{l+1}^T delta_{l+1},
//                      delta_l = act'(z_l) tbar_l, beta = (W_1^T delta_1)[0:d] / std, keeping
//                      tbar_l (tb[l]) and delta_l (tangent half of bar[l]) where the CPU keeps
//                      them, for the tangent and reverse passes (mlp_reverse_cuda.cu).
//
// Work mapping: standardize is one thread per element (c, k) of the (d + onehot, n)
// column-major h_0, grid-stride (consecutive threads read consecutive descriptors of one atom:
// coalesced). Every product is one cuBLAS GEMM over all n atoms of the block, (out, in) x
// (in, n) forward and (in, out) x (out, n) backward; bias + activation, the products with act'
// and the division by std are elementwise grid-stride kernels (activation_cuda.cu). The output
// layer's W_L^T times a row of ones is a column broadcast. Nothing synchronizes with the host.
#include <climits>
#include <string>

#include "device_math.cuh"
#include "mlp_internal.cuh"

namespace fitnn {
namespace cuda {

namespace {

template <class S>
__global__ void standardize_kernel(int64_t n, const int64_t* __restrict__ atoms,
                                   const double* __restrict__ x, int d,
                                   const double* __restrict__ mean,
                                   const double* __restrict__ std,
                                   const int32_t* __restrict__ atom_type, int onehot, S* h0) {
  const int ld = d + onehot;
  const int64_t len = n * ld;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < len;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = i / ld;
    const int k = int(i - c * ld);
    const int64_t a = atoms[c];
    S v = S(0);
    if (a >= 0) {  // a < 0: a padding column, left at zero
      if (k < d)
        v = S((x[a * d + k] - mean[k]) / std[k]);
      else
        v = (k - d == atom_type[a]) ? S(1) : S(0);
    }
    h0[i] = v;
  }
}

}  // namespace

// cuBLAS takes int sizes; a block never comes close, but say so clearly if it did.
void check_gemm_columns(int64_t cols, const char* what) {
  if (cols > int64_t(INT_MAX))
    throw DeviceError(std::string("CUDA: ") + what + ": " + std::to_string(cols) +
                      " columns exceed cuBLAS's int range; use a smaller batch_size");
}

template <class S>
void standardize_cuda(const CudaContext& ctx, int64_t n, const int64_t* atoms, const double* x,
                      int d, const double* mean, const double* std, const int32_t* atom_type,
                      int onehot, S* h0) {
  const int64_t len = n * (d + onehot);
  if (len <= 0) return;
  standardize_kernel<S><<<grid_blocks(len, kThreads, 8192), kThreads, 0, stream_of(ctx)>>>(
      n, atoms, x, d, mean, std, atom_type, onehot, h0);
  FITNN_CUDA_LAUNCH_CHECK();
}

template <class S>
void mlp_forward_cuda(const CudaContext& ctx, const MlpNet<S>& net, const MlpBlock<S>& blk) {
  const int L = net.nlayers;
  const int64_t n = blk.n;
  if (n == 0) return;
  check_gemm_columns(2 * n, "mlp_forward_cuda");
  for (int l = 1; l <= L; ++l) {
    const int in = net.widths[l - 1], out = net.widths[l];
    const S* W = net.params + net.weight(l);
    const S* b = net.params + net.bias(l);
    S* z = l < L ? blk.hh[l] : blk.energy;  // primal half of [h_l | hd_l], or E
    // z (out, n) = W (out, in) h (in, n): W is (in, out) column-major, hence op T.
    gemm(ctx, CUBLAS_OP_T, CUBLAS_OP_N, out, int(n), in, S(1), W, in, blk.hh[l - 1], in, S(0), z,
         out);
    if (l < L)
      bias_activation_cuda(ctx, net.act_of(l), b, out, n, z, blk.a1[l], blk.a2[l]);
    else
      bias_add_cuda(ctx, b, out, n, z);
  }
}

template <class S>
void mlp_beta_cuda(const CudaContext& ctx, const MlpNet<S>& net, const MlpBlock<S>& blk, int d,
                   const S* std, S* beta) {
  const int L = net.nlayers;
  const int64_t n = blk.n;
  if (n == 0) return;
  check_gemm_columns(2 * n, "mlp_beta_cuda");
  // delta_L = 1 (the output layer is linear and E_i = z_L): the tangent half of bar[L].
  fill_cuda(ctx, blk.bar[L] + n, n, S(1));
  for (int l = L; l >= 2; --l) {
    const int in = net.widths[l - 1], out = net.widths[l];
    const S* W = net.params + net.weight(l);
    S* tbar = blk.tb[l - 1];  // (in, n)
    if (l == L) {
      // W_L^T times a row of ones: every column is the single row of W_L.
      broadcast_columns_cuda<S>(ctx, W, nullptr, in, n, tbar);
    } else {
      // tbar (in, n) = W_l^T (in, out) delta_l (out, n); W_l is (in, out) column-major.
      gemm(ctx, CUBLAS_OP_N, CUBLAS_OP_N, in, int(n), out, S(1), W, in, blk.bar[l] + out * n, out,
           S(0), tbar, in);
    }
    // delta_{l-1} = act'(z_{l-1}) tbar_{l-1}: the tangent half of bar[l-1].
    multiply_cuda(ctx, blk.a1[l - 1], tbar, int64_t(in) * n, blk.bar[l - 1] + int64_t(in) * n);
  }
  const int in0 = net.widths[0];
  const S* W1 = net.params + net.weight(1);
  if (L == 1) {
    // No hidden layer: beta = W_1[0, 0:d] / std for every atom.
    broadcast_columns_cuda(ctx, W1, std, d, n, beta);
    return;
  }
  const int w1 = net.widths[1];
  // beta (d, n) = W_1[:, 0:d]^T (d, w1) delta_1 (w1, n): the first d rows of W_1 as (in0, w1).
  gemm(ctx, CUBLAS_OP_N, CUBLAS_OP_N, d, int(n), w1, S(1), W1, in0, blk.bar[1] + int64_t(w1) * n,
       w1, S(0), beta, d);
  divide_rows_cuda(ctx, std, d, n, beta);
}

#define FITNN_INSTANTIATE_FORWARD(S)                                                          \
  template void standardize_cuda<S>(const CudaContext&, int64_t, const int64_t*, const double*, \
                                    int, const double*, const double*, const int32_t*, int,    \
                                    S*);                                                       \
  template void mlp_forward_cuda<S>(const CudaContext&, const MlpNet<S>&, const MlpBlock<S>&);  \
  template void mlp_beta_cuda<S>(const CudaContext&, const MlpNet<S>&, const MlpBlock<S>&, int, \
                                 const S*, S*);

FITNN_INSTANTIATE_FORWARD(double)
FITNN_INSTANTIATE_FORWARD(float)

}  // namespace cuda
}  // namespace fitnn
