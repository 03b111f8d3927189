// The MLP of one net over a block of atoms, as dense products over (width x atoms): the primal
// forward pass, beta = dE/dx, the tangent pass along g and the combined reverse pass
// (loss-and-gradients.md). Every product is one small_gemm over all atoms of the block
// (small_gemm.hpp: no packing; W h reads W^T, the net's transposed copy); the elementwise
// steps are Eigen array expressions.
#include <Eigen/Core>
#include <algorithm>
#include <cstring>

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

namespace {

// 8 x 8 block of src (rows of stride lds) into dst (rows of stride ldd), transposed, in
// registers: three rounds of two-input shuffles (pairs of rows, pairs of pairs, halves), 24
// shuffles for 64 values against 64 scalar loads and stores, each store to another line.
template <class S>
inline void transpose_8x8(const S* src, int64_t lds, S* dst, int64_t ldd) {
  typedef S V __attribute__((vector_size(8 * sizeof(S))));
  V r[8], t[8];
  for (int i = 0; i < 8; ++i) std::memcpy(&r[i], src + i * lds, sizeof(V));
  for (int i = 0; i < 8; i += 2) {  // t[i] = (r_i0 r_(i+1)0 r_i2 ...), t[i+1] the odd columns
    t[i] = __builtin_shufflevector(r[i], r[i + 1], 0, 8, 2, 10, 4, 12, 6, 14);
    t[i + 1] = __builtin_shufflevector(r[i], r[i + 1], 1, 9, 3, 11, 5, 13, 7, 15);
  }
  for (int i = 0; i < 8; i += 4)  // column c of rows i..i+3 in lanes 0-3 (c < 4) or 4-7
    for (int j = 0; j < 2; ++j) {
      r[i + j] = __builtin_shufflevector(t[i + j], t[i + j + 2], 0, 1, 8, 9, 4, 5, 12, 13);
      r[i + j + 2] = __builtin_shufflevector(t[i + j], t[i + j + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    }
  for (int c = 0; c < 4; ++c) {  // rows 0-3 from r[c], rows 4-7 from r[c + 4]
    const V lo = __builtin_shufflevector(r[c], r[c + 4], 0, 1, 2, 3, 8, 9, 10, 11);
    const V hi = __builtin_shufflevector(r[c], r[c + 4], 4, 5, 6, 7, 12, 13, 14, 15);
    std::memcpy(dst + c * ldd, &lo, sizeof(V));
    std::memcpy(dst + (c + 4) * ldd, &hi, sizeof(V));
  }
}

}  // namespace

template <class S>
void transpose_cpu(int rows, int cols, const S* src, S* dst) {
  // Whole 8 x 8 blocks in registers; the last rows % 8 and cols % 8 one value at a time.
  constexpr int kT = 8;
  const int rfull = rows / kT * kT, cfull = cols / kT * kT;
  for (int r0 = 0; r0 < rfull; r0 += kT) {
    for (int c0 = 0; c0 < cfull; c0 += kT)
      transpose_8x8(src + int64_t(r0) * cols + c0, cols, dst + int64_t(c0) * rows + r0, rows);
    for (int c = cfull; c < cols; ++c)
      for (int r = r0; r < r0 + kT; ++r) dst[int64_t(c) * rows + r] = src[int64_t(r) * cols + c];
  }
  for (int c = 0; c < cols; ++c)
    for (int r = rfull; r < rows; ++r) dst[int64_t(c) * rows + r] = src[int64_t(r) * cols + c];
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
