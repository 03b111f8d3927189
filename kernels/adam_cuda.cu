// scale_cuda (x <- s x, the twin of scale_cpu) and adam_step_cuda, the twin of adam_step_cpu (PyTorch's Adam: no weight decay, no amsgrad),
// fused over ALL parameters of all nets in one kernel, plus the graph-friendly variant that
// reads the step's scalars from device memory and the NaN/Inf guard that feeds it:
//   m <- m + (1 - beta1) (g - m),  v <- beta2 v + (1 - beta2) g^2,
//   p <- p - (lr / c1) m / (sqrt(v) / sqrt(c2) + eps),  c1 = 1 - beta1^t, c2 = 1 - beta2^t,
// with sqrt(v) / sqrt(c2) taken as sqrt(v) (1 / sqrt(c2)) as adam_step_cpu does.
// The scalar factors are formed on the host in double exactly as adam_step_cpu forms them;
// the per-parameter arithmetic is in S with explicitly rounded operations (no fused
// multiply-add), so that it matches the CPU's operation by operation.
//
// Work mapping: one thread per parameter, grid-stride, 256 threads per block. check_finite:
// the same mapping; a thread that sees a NaN/Inf sets the flag with an integer atomicOr (the
// result does not depend on the order). The guarded update returns at once when the flag is set
// or the loss is not finite, so a bad step leaves parameters and moments untouched.
#include <cmath>

#include "cuda_check.hpp"
#include "cuda_context.cuh"
#include "cuda_ops.hpp"
#include "device_math.cuh"

namespace fitnn {
namespace cuda {

namespace {

// Round-to-nearest operations that the compiler may not contract into FMAs.
__device__ __forceinline__ double r_add(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ double r_sub(double a, double b) { return __dsub_rn(a, b); }
__device__ __forceinline__ double r_mul(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ double r_div(double a, double b) { return __ddiv_rn(a, b); }
__device__ __forceinline__ double r_sqrt(double a) { return __dsqrt_rn(a); }
__device__ __forceinline__ float r_add(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ float r_sub(float a, float b) { return __fsub_rn(a, b); }
__device__ __forceinline__ float r_mul(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ float r_div(float a, float b) { return __fdiv_rn(a, b); }
__device__ __forceinline__ float r_sqrt(float a) { return __fsqrt_rn(a); }

template <class S>
__device__ __forceinline__ void adam_one(S& p, S g, S& m, S& v, S step_size, S inv_c2_sqrt, S w1,
                                         S b2, S w2, S e) {
  m = r_add(m, r_mul(w1, r_sub(g, m)));
  v = r_add(r_mul(v, b2), r_mul(r_mul(w2, g), g));
  const S denom = r_add(r_mul(r_sqrt(v), inv_c2_sqrt), e);
  p = r_sub(p, r_mul(step_size, r_div(m, denom)));
}

template <class S>
__global__ void adam_kernel(S* __restrict__ params, const S* __restrict__ grad,
                            S* __restrict__ m, S* __restrict__ v, int64_t n, S step_size,
                            S inv_c2_sqrt, S w1, S b2, S w2, S e) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    S p = params[i], mi = m[i], vi = v[i];
    adam_one(p, grad[i], mi, vi, step_size, inv_c2_sqrt, w1, b2, w2, e);
    params[i] = p;
    m[i] = mi;
    v[i] = vi;
  }
}

template <class S>
__global__ void adam_device_kernel(S* __restrict__ params, const S* __restrict__ grad,
                                   S* __restrict__ m, S* __restrict__ v, int64_t n,
                                   const AdamScalars* __restrict__ sc,
                                   const int* __restrict__ bad,
                                   const double* __restrict__ loss) {
  if (*bad != 0 || !isfinite(*loss)) return;  // the NaN guard: nothing is updated
  const S step_size = S(sc->step_size), inv_c2_sqrt = S(sc->inv_c2_sqrt), w1 = S(sc->w1),
          b2 = S(sc->b2), w2 = S(sc->w2), e = S(sc->eps);
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    S p = params[i], mi = m[i], vi = v[i];
    adam_one(p, grad[i], mi, vi, step_size, inv_c2_sqrt, w1, b2, w2, e);
    params[i] = p;
    m[i] = mi;
    v[i] = vi;
  }
}

template <class S>
__global__ void check_finite_kernel(const S* __restrict__ grad, int64_t n,
                                    const double* __restrict__ loss, int* bad) {
  bool ok = true;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    ok = ok && isfinite(grad[i]);
  if (blockIdx.x == 0 && threadIdx.x == 0 && !isfinite(*loss)) ok = false;
  if (!ok) atomicOr(bad, 1);
}

int param_blocks(int64_t n) { return grid_blocks(n, kThreads, 4096); }

}  // namespace

AdamScalars adam_scalars(double lr, double beta1, double beta2, double eps, int64_t step) {
  AdamScalars s;
  const double c1 = 1.0 - std::pow(beta1, double(step));
  const double c2 = 1.0 - std::pow(beta2, double(step));
  s.step_size = lr / c1;
  s.inv_c2_sqrt = 1.0 / std::sqrt(c2);
  s.w1 = 1.0 - beta1;
  s.b2 = beta2;
  s.w2 = 1.0 - beta2;
  s.eps = eps;
  return s;
}

template <class S>
__global__ void scale_kernel(int64_t n, S s, S* __restrict__ x) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    x[i] = r_mul(x[i], s);
}

template <class S>
void scale_cuda(const CudaContext& ctx, int64_t n, S s, S* x) {
  if (n <= 0) return;
  scale_kernel<S><<<param_blocks(n), kThreads, 0, stream_of(ctx)>>>(n, s, x);
  FITNN_CUDA_LAUNCH_CHECK();
}

template <class S>
void adam_step_cuda(const CudaContext& ctx, S* params, const S* grad, S* m, S* v, int64_t n,
                    double lr, double beta1, double beta2, double eps, int64_t step) {
  if (n <= 0) return;
  const AdamScalars s = adam_scalars(lr, beta1, beta2, eps, step);
  adam_kernel<S><<<param_blocks(n), kThreads, 0, stream_of(ctx)>>>(
      params, grad, m, v, n, S(s.step_size), S(s.inv_c2_sqrt), S(s.w1), S(s.b2), S(s.w2),
      S(s.eps));
  FITNN_CUDA_LAUNCH_CHECK();
}

template <class S>
void adam_step_device_cuda(const CudaContext& ctx, S* params, const S* grad, S* m, S* v,
                           int64_t n, const AdamScalars* scalars, const int* bad,
                           const double* loss) {
  if (n <= 0) return;
  adam_device_kernel<S><<<param_blocks(n), kThreads, 0, stream_of(ctx)>>>(params, grad, m, v, n,
                                                                          scalars, bad, loss);
  FITNN_CUDA_LAUNCH_CHECK();
}

template <class S>
void check_finite_cuda(const CudaContext& ctx, const S* grad, int64_t n, const double* loss,
                       int* bad) {
  check_finite_kernel<S><<<param_blocks(n), kThreads, 0, stream_of(ctx)>>>(grad, n, loss, bad);
  FITNN_CUDA_LAUNCH_CHECK();
}

#define FITNN_INSTANTIATE_ADAM(S)                                                             \
  template void scale_cuda<S>(const CudaContext&, int64_t, S, S*);                            \
  template void adam_step_cuda<S>(const CudaContext&, S*, const S*, S*, S*, int64_t, double,  \
                                  double, double, double, int64_t);                           \
  template void adam_step_device_cuda<S>(const CudaContext&, S*, const S*, S*, S*, int64_t,   \
                                         const AdamScalars*, const int*, const double*);      \
  template void check_finite_cuda<S>(const CudaContext&, const S*, int64_t, const double*,    \
                                     int*);

FITNN_INSTANTIATE_ADAM(double)
FITNN_INSTANTIATE_ADAM(float)

}  // namespace cuda
}  // namespace fitnn
