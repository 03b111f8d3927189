// The MLP of one net over a block of atoms, as dense products over (width x atoms): the primal
// forward pass, beta = dE/dx, the tangent pass along g and the combined reverse pass
// (loss-and-gradients.md). Every product is one small_gemm over all atoms of the block
// (small_gemm.hpp: no packing; W h reads W^T, the net's transposed copy); the elementwise
// steps are Eigen array expressions.
#include <Eigen/Core>
#include <algorithm>

#include "cpu/ops.hpp"
#include "cpu/small_gemm.hpp"

namespace fitnn {
namespace cpu {

namespace {

template <class S>
using Mat = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;  // column-major
template <class S>
using MatRM = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class S>
using Vec = Eigen::Matrix<S, Eigen::Dynamic, 1>;
template <class S>
using MapM = Eigen::Map<Mat<S>>;
template <class S>
using MapCM = Eigen::Map<const Mat<S>>;
template <class S>
using MapW = Eigen::Map<const MatRM<S>>;   // W_l (out, in) row-major

template <class S>
MapW<S> weights(const MlpNet<S>& net, int l) {
  return MapW<S>(net.params + net.weight(l), net.widths[l], net.widths[l - 1]);
}

}  // namespace

template <class S>
int64_t MlpNet<S>::weight(int l) const {
  int64_t off = 0;
  for (int k = 1; k < l; ++k) off += int64_t(widths[k]) * widths[k - 1] + widths[k];
  return off;
}

template <class S>
void standardize_cpu(int64_t n, const int64_t* atoms, const double* x, int d,
                     const double* mean, const double* std, const int32_t* atom_type,
                     int onehot, S* h0) {
  const int ld = d + onehot;
  for (int64_t c = 0; c < n; ++c) {
    const double* xa = x + atoms[c] * d;
    S* h = h0 + c * ld;
    for (int k = 0; k < d; ++k) h[k] = S((xa[k] - mean[k]) / std[k]);
    if (onehot > 0) {
      std::fill(h + d, h + ld, S(0));
      h[d + atom_type[atoms[c]]] = S(1);
    }
  }
}

template <class S>
void mlp_forward_cpu(const MlpNet<S>& net, const MlpBlock<S>& blk) {
  const int L = net.nlayers;
  const int64_t n = blk.n;
  if (n == 0) return;
  for (int l = 1; l <= L; ++l) {
    const int in = net.widths[l - 1], out = net.widths[l];
    // z_l = W_l h_{l-1} + b_l over the primal half of [h | hd].
    S* zp = l < L ? blk.hh[l] : blk.energy;
    small_gemm<S>(out, int(n), in, net.params_t + net.weight(l), out, blk.hh[l - 1], in, 1,
                  net.params + net.bias(l), false, zp, out);
    if (l < L) activation_cpu(net.act_of(l), zp, blk.a1[l], blk.a2[l], int64_t(out) * n);
  }
}

template <class S>
void mlp_beta_cpu(const MlpNet<S>& net, const MlpBlock<S>& blk, int d, const S* std,
                  S* beta) {
  const int L = net.nlayers;
  const int64_t n = blk.n;
  if (n == 0) return;
  // delta_L = 1 (the output layer is linear and E_i = z_L).
  std::fill(blk.bar[L] + n, blk.bar[L] + 2 * n, S(1));
  for (int l = L; l >= 2; --l) {
    const int in = net.widths[l - 1], out = net.widths[l];
    MapM<S> tbar(blk.tb[l - 1], in, n);
    if (l == L)  // W_L^T times a row of ones: every column is W_L^T
      tbar.colwise() = weights(net, L).row(0).transpose();
    else  // W_l^T delta_l
      small_gemm<S>(in, int(n), out, net.params + net.weight(l), in,
                    blk.bar[l] + int64_t(out) * n, out, 1, nullptr, false, blk.tb[l - 1], in);
    MapM<S> delta_prev(blk.bar[l - 1] + int64_t(in) * n, in, n);
    delta_prev.array() = MapCM<S>(blk.a1[l - 1], in, n).array() * tbar.array();
  }
  MapM<S> b(beta, d, n);
  if (L == 1) {
    b.colwise() = weights(net, 1).leftCols(d).row(0).transpose();
  } else {  // (W_1^T delta_1)[0:d]
    const int w = net.widths[1];
    small_gemm<S>(d, int(n), w, net.params + net.weight(1), net.widths[0],
                  blk.bar[1] + int64_t(w) * n, w, 1, nullptr, false, beta, d);
  }
  b.array().colwise() /= Eigen::Map<const Eigen::Array<S, Eigen::Dynamic, 1>>(std, d);
}

template <class S>
void mlp_tangent_cpu(const MlpNet<S>& net, const MlpBlock<S>& blk, int d, const S* std,
                     const S* g) {
  const int L = net.nlayers;
  const int64_t n = blk.n;
  if (n == 0) return;
  const int in0 = net.widths[0];
  // hd_0 = g / std; the one-hot entries (option 3) are constants: tangent 0.
  S* hd0 = blk.hh[0] + int64_t(in0) * n;
  for (int64_t c = 0; c < n; ++c) {
    const S* gc = g + c * d;
    S* h = hd0 + c * in0;
    for (int k = 0; k < d; ++k) h[k] = gc[k] / std[k];
    for (int k = d; k < in0; ++k) h[k] = S(0);
  }
  for (int l = 1; l <= L - 1; ++l) {
    const int in = net.widths[l - 1], out = net.widths[l];
    S* zd = blk.bar[l];  // zd_l = W_l hd_{l-1} lives in the zbar slot until the reverse pass
    small_gemm<S>(out, int(n), in, net.params_t + net.weight(l), out,
                  blk.hh[l - 1] + int64_t(in) * n, in, 1, nullptr, false, zd, out);
    S* hd = blk.hh[l] + int64_t(out) * n;
    const S* a1 = blk.a1[l];
    const S* a2 = blk.a2[l];
    S* tb = blk.tb[l];
    const int64_t len = int64_t(out) * n;
    for (int64_t i = 0; i < len; ++i) {
      hd[i] = a1[i] * zd[i];
      tb[i] = tb[i] * a2[i] * zd[i];
    }
  }
}

template <class S>
void mlp_reverse_cpu(const MlpNet<S>& net, const MlpBlock<S>& blk, const S* eps, S* grad) {
  const int L = net.nlayers;
  const int64_t n = blk.n;
  if (n == 0) return;
  std::copy(eps, eps + n, blk.bar[L]);  // zbar_L = eps; delta_L = 1 is already there
  for (int l = L; l >= 1; --l) {
    const int in = net.widths[l - 1], out = net.widths[l];
    if (l < L) {
      // zbar_l = (W_{l+1}^T zbar_{l+1}) act'(z_l) + tbar_l act''(z_l) zd_l
      const int up = net.widths[l + 1];
      small_gemm<S>(out, int(n), up, net.params + net.weight(l + 1), out, blk.bar[l + 1], up, 1,
                    nullptr, false, blk.bar[l], out);
      MapM<S> zbar(blk.bar[l], out, n);
      zbar.array() = zbar.array() * MapCM<S>(blk.a1[l], out, n).array() +
                     MapCM<S>(blk.tb[l], out, n).array();
    }
    // dW_l += [zbar_l | delta_l] [h_{l-1} | hd_{l-1}]^T: primal and tangent in one product,
    // as dW_l^T += [h | hd] [zbar | delta]^T (dW_l is row-major: its rows are dW_l^T's columns).
    small_gemm<S>(in, out, int(2 * n), blk.hh[l - 1], in, blk.bar[l], 1, out, nullptr, true,
                  grad + net.weight(l), in);
    MapCM<S> bar(blk.bar[l], out, 2 * n);
    Eigen::Map<Vec<S>>(grad + net.bias(l), out) += bar.leftCols(n).rowwise().sum();
  }
}

template <class S>
void transpose_cpu(int rows, int cols, const S* src, S* dst) {
  // 8 x 8 tiles: each tile reads 8 lines of src and writes 8 lines of dst (a plain column
  // walk over a 64-wide matrix touches a new line with every load).
  constexpr int kT = 8;
  for (int r0 = 0; r0 < rows; r0 += kT)
    for (int c0 = 0; c0 < cols; c0 += kT) {
      const int r1 = std::min(rows, r0 + kT), c1 = std::min(cols, c0 + kT);
      for (int c = c0; c < c1; ++c)
        for (int r = r0; r < r1; ++r) dst[int64_t(c) * rows + r] = src[int64_t(r) * cols + c];
    }
}

template <class S>
void transpose_weights_cpu(const int* widths, int nlayers, int nnets, int64_t p0, int64_t p1,
                           const S* params, S* params_t) {
  int64_t off = 0;
  for (int e = 0; e < nnets; ++e)
    for (int l = 1; l <= nlayers; ++l) {
      const int in = widths[l - 1], out = widths[l];
      const int64_t nw = int64_t(out) * in;
      if (off >= p0 && off < p1) {
        transpose_cpu(out, in, params + off, params_t + off);
        std::copy(params + off + nw, params + off + nw + out, params_t + off + nw);  // b_l
      }
      off += nw + out;
    }
}

#define FITNN_INSTANTIATE_MLP(S)                                                             \
  template struct MlpNet<S>;                                                                 \
  template void standardize_cpu<S>(int64_t, const int64_t*, const double*, int,              \
                                   const double*, const double*, const int32_t*, int, S*);   \
  template void mlp_forward_cpu<S>(const MlpNet<S>&, const MlpBlock<S>&);                    \
  template void mlp_beta_cpu<S>(const MlpNet<S>&, const MlpBlock<S>&, int, const S*, S*);    \
  template void mlp_tangent_cpu<S>(const MlpNet<S>&, const MlpBlock<S>&, int, const S*,      \
                                   const S*);                                                \
  template void mlp_reverse_cpu<S>(const MlpNet<S>&, const MlpBlock<S>&, const S*, S*);        \
  template void transpose_cpu<S>(int, int, const S*, S*);                                    \
  template void transpose_weights_cpu<S>(const int*, int, int, int64_t, int64_t, const S*, S*);

FITNN_INSTANTIATE_MLP(double)
FITNN_INSTANTIATE_MLP(float)

}  // namespace cpu
}  // namespace fitnn
