// The fused small-MLP path: the whole net for a tile of atoms inside one thread block, in
// shared memory, for nets of at most kFusedMaxLayers layers and widths <= kFusedMaxWidth
// (FitSNAP-sized nets, e.g. 30-64-64-1). Two kernels replace the ~10 launches per layer of the
// cuBLAS path:
//   forward_beta_kernel      = mlp_forward_cuda + mlp_beta_cuda, keeping only E and beta;
//   tangent_reverse_kernel   = mlp_tangent_cuda + mlp_reverse_cuda: recomputes the primal from
//     h0 (cheaper than storing it), runs the primal and the tangent forward together as ONE
//     product over 2T columns [h | hd], then the two adjoints [zbar | delta] backward together
//     as ONE product with W^T, accumulating dW += [zbar | delta] [h | hd]^T and db += sum zbar.
//
// Work mapping: grid-stride over tiles of T atoms (T = 32, 16 or 8: the largest whose shared
// memory fits, halved while there are fewer tiles than SMs), 256 threads per block. In every
// product a thread computes outputs (row j, column t) with t fastest, so a warp reads one
// weight row (broadcast, through the read-only cache) and consecutive shared-memory columns.
// The [h|hd] and [zbar|delta] tiles use a leading dimension 2T+1 so that the dW loop (consecutive
// threads on consecutive input rows) is free of bank conflicts.
// Gradients: each block accumulates its tiles into its own double slot in scratch (no atomics),
// and add_slots_kernel adds the slots to the gradient in block order: bitwise reproducible.
#include <algorithm>
#include <mutex>

#include "device_math.cuh"
#include "mlp_internal.cuh"

namespace fitnn {
namespace cuda {

namespace {

constexpr int kFusedMaxLayers = 8;
constexpr int kFusedMaxWidth = 128;
constexpr int kFusedThreads = 256;
constexpr size_t kMaxSlotBytes = size_t(64) << 20;  // cap on the per-block gradient slots

template <class S>
struct FusedNet {
  const S* params = nullptr;
  Activation act = Activation::softplus;
  int nlayers = 0;
  int nparams = 0;
  int widths[kFusedMaxLayers + 1] = {};
  int woff[kFusedMaxLayers + 1] = {};  // W_l offset (l = 1..L)
  int boff[kFusedMaxLayers + 1] = {};  // b_l offset
};

template <class S>
FusedNet<S> fused_view(const MlpNet<S>& net) {
  FusedNet<S> f;
  f.params = net.params;
  f.act = net.act;
  f.nlayers = net.nlayers;
  for (int l = 0; l <= net.nlayers; ++l) f.widths[l] = net.widths[l];
  for (int l = 1; l <= net.nlayers; ++l) {
    f.woff[l] = int(net.weight(l));
    f.boff[l] = int(net.bias(l));
  }
  f.nparams = int(net.nparams());
  return f;
}

template <class S>
bool shape_ok(const MlpNet<S>& net) {
  if (net.nlayers < 1 || net.nlayers > kFusedMaxLayers) return false;
  for (int l = 0; l < net.nlayers; ++l)
    if (net.widths[l] < 1 || net.widths[l] > kFusedMaxWidth) return false;
  return net.widths[net.nlayers] == 1;
}

int sum_hidden(const int* w, int L) {
  int s = 0;
  for (int l = 1; l < L; ++l) s += w[l];
  return s;
}
int max_width(const int* w, int l0, int l1) {  // max of w[l0..l1), at least 1
  int m = 1;
  for (int l = l0; l < l1; ++l) m = std::max(m, w[l]);
  return m;
}

// Shared-memory bytes of the two kernels for a tile of T atoms.
size_t forward_bytes(const int* w, int L, int T, size_t s) {
  return size_t(2 * max_width(w, 0, L) + sum_hidden(w, L)) * size_t(T) * s;
}
size_t reverse_bytes(const int* w, int L, int T, size_t s) {
  int hh = 0;
  for (int l = 0; l < L; ++l) hh += w[l];
  const size_t ld2 = size_t(2 * T + 1);
  return (size_t(hh) * ld2 + 2 * size_t(sum_hidden(w, L)) * size_t(T) +
          2 * size_t(max_width(w, 1, L)) * ld2) * s;
}

// The largest tile that fits, halved while the tiles would not fill the SMs.
template <class Bytes>
int choose_tile(const CudaContext& ctx, size_t limit, int64_t n, Bytes bytes) {
  int T = 0;
  for (int t : {32, 16, 8})
    if (bytes(t) <= limit) {
      T = t;
      break;
    }
  if (T == 0) return 0;
  while (T > 8 && (n + T - 1) / T < ctx.sm_count()) T /= 2;
  return T;
}

template <class S>
__global__ void __launch_bounds__(kFusedThreads)
    forward_beta_kernel(FusedNet<S> net, int64_t n, const S* __restrict__ h0, int d,
                        const S* __restrict__ std, S* __restrict__ energy, S* __restrict__ beta,
                        int T) {
  extern __shared__ __align__(16) unsigned char fused_smem[];
  // The layer tables in shared memory: indexing the parameter struct with a runtime layer
  // number would make the compiler copy it to local memory.
  __shared__ int w[kFusedMaxLayers + 1], woff[kFusedMaxLayers + 1], boff[kFusedMaxLayers + 1];
  const int L = net.nlayers;
  if (threadIdx.x == 0) {
#pragma unroll
    for (int l = 0; l <= kFusedMaxLayers; ++l) {  // constant indices: no local copy
      w[l] = net.widths[l];
      woff[l] = net.woff[l];
      boff[l] = net.boff[l];
    }
  }
  __syncthreads();
  int wm = 1;
  for (int l = 0; l < L; ++l) wm = max(wm, w[l]);
  S* bufA = reinterpret_cast<S*>(fused_smem);
  S* bufB = bufA + wm * T;
  S* a1base = bufB + wm * T;  // a1 of the hidden layers, one after the other
  const S* P = net.params;
  const int in0 = w[0];
  const int64_t ntiles = (n + T - 1) / T;

  for (int64_t tile = blockIdx.x; tile < ntiles; tile += gridDim.x) {
    const int64_t c0 = tile * T;
    const int tc = int(min(int64_t(T), n - c0));
    S* cur = bufA;
    S* nxt = bufB;
    for (int e = threadIdx.x; e < in0 * T; e += blockDim.x) {
      const int t = e / in0, k = e - t * in0;
      cur[k * T + t] = t < tc ? h0[(c0 + t) * in0 + k] : S(0);
    }
    __syncthreads();
    // Primal forward through the hidden layers, keeping act'.
    S* a1l = a1base;
    for (int l = 1; l < L; ++l) {
      const int in = w[l - 1], out = w[l];
      const S* W = P + woff[l];
      const S* b = P + boff[l];
      for (int e = threadIdx.x; e < out * T; e += blockDim.x) {
        const int j = e / T, t = e - j * T;
        S acc = S(0);
        for (int k = 0; k < in; ++k) acc += __ldg(W + j * in + k) * cur[k * T + t];
        S h, d1, d2;
        act_eval<S>(net.act, acc + __ldg(b + j), h, d1, d2);
        nxt[e] = h;
        a1l[e] = d1;
      }
      __syncthreads();
      S* tmp = cur;
      cur = nxt;
      nxt = tmp;
      a1l += out * T;
    }
    // E = W_L h_{L-1} + b_L.
    {
      const int in = w[L - 1];
      const S* W = P + woff[L];
      for (int t = threadIdx.x; t < tc; t += blockDim.x) {
        S acc = S(0);
        for (int k = 0; k < in; ++k) acc += __ldg(W + k) * cur[k * T + t];
        energy[c0 + t] = acc + __ldg(P + boff[L]);
      }
    }
    if (L == 1) {
      const S* W1 = P + woff[1];
      for (int e = threadIdx.x; e < tc * d; e += blockDim.x) {
        const int t = e / d, k = e - t * d;
        beta[(c0 + t) * d + k] = __ldg(W1 + k) / std[k];
      }
      __syncthreads();
      continue;
    }
    // delta_{L-1} = act'(z_{L-1}) W_L (into nxt: cur is still read by the energy above).
    a1l -= w[L - 1] * T;  // a1 of layer L-1
    {
      const S* WL = P + woff[L];
      for (int e = threadIdx.x; e < w[L - 1] * T; e += blockDim.x) {
        const int j = e / T;
        nxt[e] = a1l[e] * __ldg(WL + j);
      }
    }
    __syncthreads();
    S* dl = nxt;
    S* other = cur;
    for (int l = L - 1; l >= 2; --l) {
      const int in = w[l - 1], out = w[l];
      const S* W = P + woff[l];
      a1l -= in * T;  // a1 of layer l-1
      for (int e = threadIdx.x; e < in * T; e += blockDim.x) {
        const int k = e / T, t = e - k * T;
        S acc = S(0);
        for (int j = 0; j < out; ++j) acc += __ldg(W + j * in + k) * dl[j * T + t];
        other[e] = a1l[e] * acc;
      }
      __syncthreads();
      S* tmp = dl;
      dl = other;
      other = tmp;
    }
    // beta = (W_1^T delta_1)[0:d] / std, written atom by atom (coalesced).
    {
      const int w1 = w[1];
      const S* W1 = P + woff[1];
      for (int e = threadIdx.x; e < tc * d; e += blockDim.x) {
        const int t = e / d, k = e - t * d;
        S acc = S(0);
        for (int j = 0; j < w1; ++j) acc += __ldg(W1 + j * in0 + k) * dl[j * T + t];
        beta[(c0 + t) * d + k] = acc / std[k];
      }
    }
    __syncthreads();
  }
}

template <class S>
__global__ void __launch_bounds__(kFusedThreads)
    tangent_reverse_kernel(FusedNet<S> net, int64_t n, const S* __restrict__ h0, int d,
                           const S* __restrict__ std, const S* __restrict__ g,
                           const S* __restrict__ eps, double* __restrict__ slots, int T) {
  extern __shared__ __align__(16) unsigned char fused_smem[];
  // Layer tables and the offsets of the per-layer tiles, in shared memory (see above):
  // [h_l | hd_l] for l = 0..L-1, then act' and act'' zd of the hidden layers, then the
  // ping-pong pair of [zbar | delta] tiles.
  __shared__ int w[kFusedMaxLayers + 1], woff[kFusedMaxLayers + 1], boff[kFusedMaxLayers + 1];
  __shared__ int hh_off[kFusedMaxLayers], a1_off[kFusedMaxLayers], cz_off[kFusedMaxLayers];
  __shared__ int bar_off;
  const int L = net.nlayers;
  const int ld2 = 2 * T + 1;
  if (threadIdx.x == 0) {
    int off = 0;
#pragma unroll
    for (int l = 0; l <= kFusedMaxLayers; ++l) {  // constant indices: no local copy
      w[l] = net.widths[l];
      woff[l] = net.woff[l];
      boff[l] = net.boff[l];
    }
    for (int l = 0; l < L; ++l) {
      hh_off[l] = off;
      off += w[l] * ld2;
    }
    for (int l = 1; l < L; ++l) {
      a1_off[l] = off;
      off += w[l] * T;
      cz_off[l] = off;
      off += w[l] * T;
    }
    bar_off = off;
  }
  __syncthreads();
  S* const sm = reinterpret_cast<S*>(fused_smem);
  int wbar = 1;
  for (int l = 1; l < L; ++l) wbar = max(wbar, w[l]);
  S* barA = sm + bar_off;
  S* barB = barA + wbar * ld2;
  const S* P = net.params;
  const int in0 = w[0];
  const int64_t ntiles = (n + T - 1) / T;
  double* slot = slots + int64_t(blockIdx.x) * net.nparams;
  for (int e = threadIdx.x; e < net.nparams; e += blockDim.x) slot[e] = 0.0;
  __syncthreads();

  for (int64_t tile = blockIdx.x; tile < ntiles; tile += gridDim.x) {
    const int64_t c0 = tile * T;
    const int tc = int(min(int64_t(T), n - c0));
    // [h_0 | hd_0 = g / std (one-hot rows 0)]; columns past the slice are zero.
    S* const hh0 = sm + hh_off[0];
    for (int e = threadIdx.x; e < in0 * T; e += blockDim.x) {
      const int t = e / in0, k = e - t * in0;
      const bool live = t < tc;
      hh0[k * ld2 + t] = live ? h0[(c0 + t) * in0 + k] : S(0);
      hh0[k * ld2 + T + t] = (live && k < d) ? g[(c0 + t) * d + k] / std[k] : S(0);
    }
    __syncthreads();
    // Primal and tangent forward together: [z | zd] = W [h | hd].
    for (int l = 1; l < L; ++l) {
      const int in = w[l - 1], out = w[l];
      const S* W = P + woff[l];
      const S* b = P + boff[l];
      const S* hp = sm + hh_off[l - 1];
      S* hn = sm + hh_off[l];
      S* a1l = sm + a1_off[l];
      S* czl = sm + cz_off[l];
      for (int e = threadIdx.x; e < out * T; e += blockDim.x) {
        const int j = e / T, t = e - j * T;
        S acc = S(0), accd = S(0);
        for (int k = 0; k < in; ++k) {
          const S wk = __ldg(W + j * in + k);
          acc += wk * hp[k * ld2 + t];
          accd += wk * hp[k * ld2 + T + t];
        }
        S h, d1, d2;
        act_eval<S>(net.act, acc + __ldg(b + j), h, d1, d2);
        hn[j * ld2 + t] = h;
        hn[j * ld2 + T + t] = d1 * accd;  // hd = act' zd
        a1l[e] = d1;
        czl[e] = d2 * accd;  // act'' zd, for the curvature term tbar act'' zd
      }
      __syncthreads();
    }
    // Output layer: [zbar_L | delta_L] = [eps | 1] on live columns, 0 elsewhere.
    S* cur = barA;
    S* nxt = barB;
    for (int t = threadIdx.x; t < T; t += blockDim.x) {
      cur[t] = t < tc ? eps[c0 + t] : S(0);
      cur[T + t] = t < tc ? S(1) : S(0);
    }
    __syncthreads();
    for (int l = L; l >= 1; --l) {
      const int in = w[l - 1], out = w[l];
      const S* W = P + woff[l];
      const S* hp = sm + hh_off[l - 1];
      // dW_l += [zbar | delta] [h | hd]^T and db_l += sum zbar, into this block's slot.
      const int nw = out * in;
      for (int e = threadIdx.x; e < nw + out; e += blockDim.x) {
        S acc = S(0);
        if (e < nw) {
          const int j = e / in, i = e - j * in;
          const S* bj = cur + j * ld2;
          const S* hi = hp + i * ld2;
          for (int c = 0; c < 2 * T; ++c) acc += bj[c] * hi[c];
          slot[woff[l] + e] += double(acc);
        } else {
          const int j = e - nw;
          for (int t = 0; t < T; ++t) acc += cur[j * ld2 + t];
          slot[boff[l] + j] += double(acc);
        }
      }
      if (l > 1) {
        // [abar | tbar]_{l-1} = W_l^T [zbar | delta]_l, then
        // zbar_{l-1} = abar act' + tbar act'' zd,  delta_{l-1} = act' tbar.
        const S* a1p = sm + a1_off[l - 1];
        const S* czp = sm + cz_off[l - 1];
        for (int e = threadIdx.x; e < in * T; e += blockDim.x) {
          const int i = e / T, t = e - i * T;
          S ap = S(0), tp = S(0);
          for (int j = 0; j < out; ++j) {
            const S wj = __ldg(W + j * in + i);
            ap += wj * cur[j * ld2 + t];
            tp += wj * cur[j * ld2 + T + t];
          }
          const S d1 = a1p[e];
          nxt[i * ld2 + t] = ap * d1 + tp * czp[e];
          nxt[i * ld2 + T + t] = d1 * tp;
        }
      }
      __syncthreads();
      S* tmp = cur;
      cur = nxt;
      nxt = tmp;
    }
  }
}

// grad[p] += sum over blocks b (in order) of slots[b * np + p].
template <class S>
__global__ void add_slots_kernel(const double* __restrict__ slots, int nslots, int np, S* grad) {
  for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < np; e += gridDim.x * blockDim.x) {
    double acc = 0.0;
    for (int b = 0; b < nslots; ++b) acc += slots[int64_t(b) * np + e];
    grad[e] = S(double(grad[e]) + acc);
  }
}

// Dynamic shared memory above 48 KiB must be opted into, once per kernel and outside graph
// capture, up to the device's opt-in limit minus the kernel's static shared memory. Returns the
// dynamic bytes both kernels may use.
template <class S>
size_t fused_smem_limit(const CudaContext& ctx) {
  static std::once_flag once;
  static size_t limit = 0;
  std::call_once(once, [&] {
    cudaFuncAttributes fa{}, ra{};
    FITNN_CUDA_CHECK(cudaFuncGetAttributes(&fa, forward_beta_kernel<S>));
    FITNN_CUDA_CHECK(cudaFuncGetAttributes(&ra, tangent_reverse_kernel<S>));
    const size_t optin = ctx.max_shared_bytes();
    const size_t lf = optin > fa.sharedSizeBytes ? optin - fa.sharedSizeBytes : 0;
    const size_t lr = optin > ra.sharedSizeBytes ? optin - ra.sharedSizeBytes : 0;
    FITNN_CUDA_CHECK(cudaFuncSetAttribute(forward_beta_kernel<S>,
                                          cudaFuncAttributeMaxDynamicSharedMemorySize, int(lf)));
    FITNN_CUDA_CHECK(cudaFuncSetAttribute(tangent_reverse_kernel<S>,
                                          cudaFuncAttributeMaxDynamicSharedMemorySize, int(lr)));
    limit = std::min(lf, lr);
  });
  return limit;
}

template <class S>
int reverse_grid(const CudaContext& ctx, const MlpNet<S>& net, int64_t n, int T) {
  const int64_t ntiles = (n + T - 1) / T;
  const int64_t by_mem =
      std::max<int64_t>(1, int64_t(kMaxSlotBytes / (sizeof(double) * size_t(net.nparams()))));
  return int(std::max<int64_t>(1, std::min({ntiles, int64_t(2) * ctx.sm_count(), by_mem})));
}

}  // namespace

template <class S>
bool mlp_fused_supported(const CudaContext& ctx, const MlpNet<S>& net) {
  if (!shape_ok(net)) return false;
  const size_t s = sizeof(S), limit = fused_smem_limit<S>(ctx);
  return forward_bytes(net.widths, net.nlayers, 8, s) <= limit &&
         reverse_bytes(net.widths, net.nlayers, 8, s) <= limit;
}

template <class S>
size_t mlp_fused_scratch_bytes(const CudaContext& ctx, const MlpNet<S>& net, int64_t n) {
  if (!shape_ok(net) || n <= 0) return 0;
  const int L = net.nlayers;
  const int T = choose_tile(ctx, fused_smem_limit<S>(ctx), n,
                            [&](int t) { return reverse_bytes(net.widths, L, t, sizeof(S)); });
  if (T == 0) return 0;
  return size_t(reverse_grid(ctx, net, n, T)) * size_t(net.nparams()) * sizeof(double);
}

template <class S>
void mlp_forward_beta_fused_cuda(const CudaContext& ctx, const MlpNet<S>& net, int64_t n,
                                 const S* h0, int d, const S* std, S* energy, S* beta) {
  if (n <= 0) return;
  if (!mlp_fused_supported(ctx, net))
    throw DeviceError("CUDA: the fused MLP kernels do not support this network (internal error)");
  const int L = net.nlayers;
  const int T = choose_tile(ctx, fused_smem_limit<S>(ctx), n,
                            [&](int t) { return forward_bytes(net.widths, L, t, sizeof(S)); });
  const int64_t ntiles = (n + T - 1) / T;
  const size_t bytes = forward_bytes(net.widths, L, T, sizeof(S));
  forward_beta_kernel<S><<<grid_blocks(ntiles, 1), kFusedThreads, bytes, stream_of(ctx)>>>(
      fused_view(net), n, h0, d, std, energy, beta, T);
  FITNN_CUDA_LAUNCH_CHECK();
}

template <class S>
void mlp_tangent_reverse_fused_cuda(const CudaContext& ctx, const MlpNet<S>& net, int64_t n,
                                    const S* h0, int d, const S* std, const S* g, const S* eps,
                                    S* grad) {
  if (n <= 0) return;
  if (!mlp_fused_supported(ctx, net))
    throw DeviceError("CUDA: the fused MLP kernels do not support this network (internal error)");
  const int L = net.nlayers;
  const int T = choose_tile(ctx, fused_smem_limit<S>(ctx), n,
                            [&](int t) { return reverse_bytes(net.widths, L, t, sizeof(S)); });
  const int grid = reverse_grid(ctx, net, n, T);
  const int np = int(net.nparams());
  double* slots = static_cast<double*>(ctx.scratch(size_t(grid) * size_t(np) * sizeof(double)));
  const size_t bytes = reverse_bytes(net.widths, L, T, sizeof(S));
  tangent_reverse_kernel<S><<<grid, kFusedThreads, bytes, stream_of(ctx)>>>(
      fused_view(net), n, h0, d, std, g, eps, slots, T);
  FITNN_CUDA_LAUNCH_CHECK();
  add_slots_kernel<S><<<grid_blocks(np, kThreads, 1024), kThreads, 0, stream_of(ctx)>>>(
      slots, grid, np, grad);
  FITNN_CUDA_LAUNCH_CHECK();
}

#define FITNN_INSTANTIATE_FUSED(S)                                                              \
  template bool mlp_fused_supported<S>(const CudaContext&, const MlpNet<S>&);                   \
  template size_t mlp_fused_scratch_bytes<S>(const CudaContext&, const MlpNet<S>&, int64_t);    \
  template void mlp_forward_beta_fused_cuda<S>(const CudaContext&, const MlpNet<S>&, int64_t,   \
                                               const S*, int, const S*, S*, S*);                \
  template void mlp_tangent_reverse_fused_cuda<S>(const CudaContext&, const MlpNet<S>&,         \
                                                  int64_t, const S*, int, const S*, const S*,   \
                                                  const S*, S*);

FITNN_INSTANTIATE_FUSED(double)
FITNN_INSTANTIATE_FUSED(float)

}  // namespace cuda
}  // namespace fitnn
