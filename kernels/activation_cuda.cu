// activation_cuda (the twin of activation_cpu) and the other elementwise steps of the MLP
// passes used by the cuBLAS path (mlp_internal.cuh): bias + activation with act' and act'',
// broadcasts, the tangent and reverse updates, the tangent input g / std and the bias-gradient
// row sums.
//
// Thread mapping: the elementwise kernels are grid-stride loops, one thread per element of a
// column-major (rows, n) array (row j = i % rows), 256 threads per block, at most 65535
// blocks. add_row_sums: one block per row j (grid-stride over rows), its 256 threads stride over
// the n columns with double accumulators, then a fixed-order block reduction (deterministic).
#include "device_math.cuh"
#include "mlp_internal.cuh"

namespace fitnn {
namespace cuda {

namespace {

template <class S>
__global__ void activation_kernel(Activation act, S* z, S* a1, S* a2, int64_t len) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < len;
       i += int64_t(gridDim.x) * blockDim.x) {
    S h, d1, d2;
    act_eval<S>(act, z[i], h, d1, d2);
    z[i] = h;
    a1[i] = d1;
    a2[i] = d2;
  }
}

template <class S>
__global__ void bias_activation_kernel(Activation act, const S* __restrict__ bias, int out,
                                       int64_t len, S* z, S* a1, S* a2) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < len;
       i += int64_t(gridDim.x) * blockDim.x) {
    S h, d1, d2;
    act_eval<S>(act, z[i] + bias[i % out], h, d1, d2);
    z[i] = h;
    a1[i] = d1;
    a2[i] = d2;
  }
}

template <class S>
__global__ void bias_add_kernel(const S* __restrict__ bias, int out, int64_t len, S* z) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < len;
       i += int64_t(gridDim.x) * blockDim.x)
    z[i] += bias[i % out];
}

template <class S>
__global__ void broadcast_columns_kernel(const S* __restrict__ v, const S* __restrict__ s,
                                         int rows, int64_t len, S* m) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < len;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int j = int(i % rows);
    m[i] = s ? v[j] / s[j] : v[j];
  }
}

template <class S>
__global__ void divide_rows_kernel(const S* __restrict__ s, int rows, int64_t len, S* m) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < len;
       i += int64_t(gridDim.x) * blockDim.x)
    m[i] /= s[i % rows];
}

template <class S>
__global__ void fill_kernel(S* p, int64_t len, S value) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < len;
       i += int64_t(gridDim.x) * blockDim.x)
    p[i] = value;
}

template <class S>
__global__ void multiply_kernel(const S* a, const S* b, int64_t len, S* out) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < len;
       i += int64_t(gridDim.x) * blockDim.x)
    out[i] = a[i] * b[i];
}

template <class S>
__global__ void tangent_step_kernel(const S* __restrict__ a1, const S* __restrict__ a2,
                                    const S* __restrict__ zd, int64_t len, S* hd, S* tb) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < len;
       i += int64_t(gridDim.x) * blockDim.x) {
    const S z = zd[i];
    hd[i] = a1[i] * z;
    tb[i] = tb[i] * a2[i] * z;  // same association as the CPU: (tb a2) zd
  }
}

template <class S>
__global__ void reverse_step_kernel(const S* __restrict__ a1, const S* __restrict__ tb,
                                    int64_t len, S* zbar) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < len;
       i += int64_t(gridDim.x) * blockDim.x)
    zbar[i] = zbar[i] * a1[i] + tb[i];
}

template <class S>
__global__ void tangent_input_kernel(const S* __restrict__ g, const S* __restrict__ std, int d,
                                     int in0, int64_t len, S* hd0) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < len;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = i / in0;
    const int k = int(i - c * in0);
    hd0[i] = k < d ? g[c * d + k] / std[k] : S(0);
  }
}

template <class S>
__global__ void add_row_sums_kernel(const S* __restrict__ m, int rows, int64_t n, S* grad_b) {
  __shared__ double part[kWarpsPerBlock];
  for (int j = blockIdx.x; j < rows; j += gridDim.x) {
    double acc = 0.0;
    for (int64_t c = threadIdx.x; c < n; c += blockDim.x) acc += double(m[c * rows + j]);
    acc = warp_sum(acc);
    if ((threadIdx.x & (kWarp - 1)) == 0) part[threadIdx.x / kWarp] = acc;
    __syncthreads();
    if (threadIdx.x == 0) {
      double total = 0.0;
      for (int w = 0; w < kWarpsPerBlock; ++w) total += part[w];
      grad_b[j] = S(double(grad_b[j]) + total);
    }
    __syncthreads();
  }
}

int elementwise_blocks(int64_t len) { return grid_blocks(len, kThreads, 8192); }

}  // namespace

template <class S>
void activation_cuda(const CudaContext& ctx, Activation act, S* z_to_h, S* a1, S* a2,
                     int64_t len) {
  if (len <= 0) return;
  activation_kernel<S><<<elementwise_blocks(len), kThreads, 0, stream_of(ctx)>>>(act, z_to_h, a1,
                                                                                  a2, len);
  FITNN_CUDA_LAUNCH_CHECK();
}

template <class S>
void bias_activation_cuda(const CudaContext& ctx, Activation act, const S* bias, int out,
                          int64_t n, S* z_to_h, S* a1, S* a2) {
  const int64_t len = int64_t(out) * n;
  if (len <= 0) return;
  bias_activation_kernel<S><<<elementwise_blocks(len), kThreads, 0, stream_of(ctx)>>>(
      act, bias, out, len, z_to_h, a1, a2);
  FITNN_CUDA_LAUNCH_CHECK();
}

template <class S>
void bias_add_cuda(const CudaContext& ctx, const S* bias, int out, int64_t n, S* z) {
  const int64_t len = int64_t(out) * n;
  if (len <= 0) return;
  bias_add_kernel<S><<<elementwise_blocks(len), kThreads, 0, stream_of(ctx)>>>(bias, out, len, z);
  FITNN_CUDA_LAUNCH_CHECK();
}

template <class S>
void broadcast_columns_cuda(const CudaContext& ctx, const S* v, const S* s, int rows, int64_t n,
                            S* m) {
  const int64_t len = int64_t(rows) * n;
  if (len <= 0) return;
  broadcast_columns_kernel<S><<<elementwise_blocks(len), kThreads, 0, stream_of(ctx)>>>(
      v, s, rows, len, m);
  FITNN_CUDA_LAUNCH_CHECK();
}

template <class S>
void divide_rows_cuda(const CudaContext& ctx, const S* s, int rows, int64_t n, S* m) {
  const int64_t len = int64_t(rows) * n;
  if (len <= 0) return;
  divide_rows_kernel<S><<<elementwise_blocks(len), kThreads, 0, stream_of(ctx)>>>(s, rows, len, m);
  FITNN_CUDA_LAUNCH_CHECK();
}

template <class S>
void fill_cuda(const CudaContext& ctx, S* p, int64_t len, S value) {
  if (len <= 0) return;
  fill_kernel<S><<<elementwise_blocks(len), kThreads, 0, stream_of(ctx)>>>(p, len, value);
  FITNN_CUDA_LAUNCH_CHECK();
}

template <class S>
void multiply_cuda(const CudaContext& ctx, const S* a, const S* b, int64_t len, S* out) {
  if (len <= 0) return;
  multiply_kernel<S><<<elementwise_blocks(len), kThreads, 0, stream_of(ctx)>>>(a, b, len, out);
  FITNN_CUDA_LAUNCH_CHECK();
}

template <class S>
void tangent_step_cuda(const CudaContext& ctx, const S* a1, const S* a2, const S* zd,
                       int64_t len, S* hd, S* tb) {
  if (len <= 0) return;
  tangent_step_kernel<S><<<elementwise_blocks(len), kThreads, 0, stream_of(ctx)>>>(a1, a2, zd,
                                                                                    len, hd, tb);
  FITNN_CUDA_LAUNCH_CHECK();
}

template <class S>
void reverse_step_cuda(const CudaContext& ctx, const S* a1, const S* tb, int64_t len, S* zbar) {
  if (len <= 0) return;
  reverse_step_kernel<S><<<elementwise_blocks(len), kThreads, 0, stream_of(ctx)>>>(a1, tb, len,
                                                                                    zbar);
  FITNN_CUDA_LAUNCH_CHECK();
}

template <class S>
void tangent_input_cuda(const CudaContext& ctx, const S* g, const S* std, int d, int in0,
                        int64_t n, S* hd0) {
  const int64_t len = int64_t(in0) * n;
  if (len <= 0) return;
  tangent_input_kernel<S><<<elementwise_blocks(len), kThreads, 0, stream_of(ctx)>>>(
      g, std, d, in0, len, hd0);
  FITNN_CUDA_LAUNCH_CHECK();
}

template <class S>
void add_row_sums_cuda(const CudaContext& ctx, const S* m, int rows, int64_t n, S* grad_b) {
  if (rows <= 0 || n <= 0) return;
  add_row_sums_kernel<S><<<grid_blocks(rows, 1), kThreads, 0, stream_of(ctx)>>>(m, rows, n,
                                                                                 grad_b);
  FITNN_CUDA_LAUNCH_CHECK();
}

#define FITNN_INSTANTIATE_ELEMENTWISE(S)                                                       \
  template void activation_cuda<S>(const CudaContext&, Activation, S*, S*, S*, int64_t);       \
  template void bias_activation_cuda<S>(const CudaContext&, Activation, const S*, int, int64_t, \
                                        S*, S*, S*);                                            \
  template void bias_add_cuda<S>(const CudaContext&, const S*, int, int64_t, S*);              \
  template void broadcast_columns_cuda<S>(const CudaContext&, const S*, const S*, int, int64_t, \
                                          S*);                                                  \
  template void divide_rows_cuda<S>(const CudaContext&, const S*, int, int64_t, S*);           \
  template void fill_cuda<S>(const CudaContext&, S*, int64_t, S);                              \
  template void multiply_cuda<S>(const CudaContext&, const S*, const S*, int64_t, S*);         \
  template void tangent_step_cuda<S>(const CudaContext&, const S*, const S*, const S*, int64_t, \
                                     S*, S*);                                                   \
  template void reverse_step_cuda<S>(const CudaContext&, const S*, const S*, int64_t, S*);     \
  template void tangent_input_cuda<S>(const CudaContext&, const S*, const S*, int, int,        \
                                      int64_t, S*);                                             \
  template void add_row_sums_cuda<S>(const CudaContext&, const S*, int, int64_t, S*);

FITNN_INSTANTIATE_ELEMENTWISE(double)
FITNN_INSTANTIATE_ELEMENTWISE(float)

}  // namespace cuda
}  // namespace fitnn
