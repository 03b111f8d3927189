// The linear input layer folded into the next one for training (input_layer = trainable).
// Layer 1 is linear, so the net is the same function of its input with layers 1 and 2 merged:
//   W_f = W_2 W_1 (w2, w0),  b_f = W_2 b_1 + b_2,  layers l >= 3 unchanged.
// The CPU backend runs its passes on that folded net (one product per atom less in each of
// the forward, beta, tangent and reverse passes, and no elementwise steps on layer 1), and
// maps the folded net's gradient back by the chain rule of the fold:
//   dW_1 = W_2^T dW_f,  db_1 = W_2^T db_f,  dW_2 = dW_f W_1^T + db_f b_1^T,  db_2 = db_f,
// which holds for any loss that depends on the parameters through the net's function, the
// force loss's second-order term included. Per block of atoms the fold costs a few products
// of layer size, against (w0 w1 + ...) multiply-adds per atom saved.
#include <algorithm>

#include "cpu/ops.hpp"
#include "cpu/small_gemm.hpp"

namespace fitnn {
namespace cpu {

namespace {

// Widths of the folded net: {w0, w2, ..., wL}.
void folded_widths(const int* widths, int nlayers, int* fwidths) {
  fwidths[0] = widths[0];
  for (int l = 2; l <= nlayers; ++l) fwidths[l - 1] = widths[l];
}

// Offset of W_l in one net's flat vector of these widths (MlpNet::weight); l = L + 1 gives the
// net's size.
template <class S>
int64_t layer_offset(const int* widths, int l) {
  MlpNet<S> net;
  net.widths = widths;
  return net.weight(l);
}

}  // namespace

template <class S>
void fold_input_layer_cpu(const int* widths, int nlayers, int nnets, int64_t p0, int64_t p1,
                          const S* params, S* fparams, S* fparams_t) {
  int fw[kMaxLayers + 1];
  folded_widths(widths, nlayers, fw);
  const int L = nlayers, w0 = widths[0], w1 = widths[1], w2 = widths[2];
  const int64_t np = layer_offset<S>(widths, L + 1), nf = layer_offset<S>(fw, L);
  for (int e = 0; e < nnets; ++e) {
    const S* p = params + np * e;
    S* f = fparams + nf * e;
    S* ft = fparams_t + nf * e;
    auto mine = [&](int64_t off) { return np * e + off >= p0 && np * e + off < p1; };
    if (mine(0)) {
      // W_f = W_2 W_1 (w2, w0), row-major, and W_f^T; b_f = W_2 b_1 + b_2.
      const S* W1 = p;
      const S* b1 = p + int64_t(w1) * w0;
      const S* W2 = b1 + w1;
      const S* b2 = W2 + int64_t(w2) * w1;
      small_gemm<S>(w0, w2, w1, W1, w0, W2, w1, 1, nullptr, false, f, w0);
      transpose_cpu(w2, w0, f, ft);
      // b_f: eight outputs at once, each summed in order over a (eight independent chains
      // instead of one: the loop is bound by the add latency otherwise).
      S* bf = f + int64_t(w2) * w0;
      constexpr int kC = 8;
      for (int o0 = 0; o0 < w2; o0 += kC) {
        const int nc = std::min(kC, w2 - o0);
        S s[kC];
        for (int c = 0; c < nc; ++c) s[c] = b2[o0 + c];
        for (int a = 0; a < w1; ++a)
          for (int c = 0; c < nc; ++c) s[c] += W2[int64_t(o0 + c) * w1 + a] * b1[a];
        for (int c = 0; c < nc; ++c) bf[o0 + c] = ft[int64_t(w2) * w0 + o0 + c] = s[c];
      }
    }
    // Layers l >= 3: folded layer l - 1, copied, and transposed like transpose_weights_cpu.
    for (int l = 3; l <= L; ++l) {
      const int64_t src = layer_offset<S>(widths, l);
      if (!mine(src)) continue;
      const int in = widths[l - 1], out = widths[l];
      const int64_t dst = layer_offset<S>(fw, l - 1), nw = int64_t(out) * in;
      std::copy(p + src, p + src + nw + out, f + dst);
      transpose_cpu(out, in, p + src, ft + dst);
      std::copy(p + src + nw, p + src + nw + out, ft + dst + nw);
    }
  }
}

template <class S>
void unfold_input_layer_grad_cpu(const int* widths, int nlayers, int nnets, int64_t p0,
                                 int64_t p1, const S* params, const S* params_t,
                                 const S* fgrad, S* grad) {
  int fw[kMaxLayers + 1];
  folded_widths(widths, nlayers, fw);
  const int L = nlayers, w0 = widths[0], w1 = widths[1], w2 = widths[2];
  const int64_t np = layer_offset<S>(widths, L + 1), nf = layer_offset<S>(fw, L);
  for (int e = 0; e < nnets; ++e) {
    auto mine = [&](int64_t off) { return np * e + off >= p0 && np * e + off < p1; };
    const S* fg = fgrad + nf * e;
    S* g = grad + np * e;
    if (mine(0)) {
      const S* p = params + np * e;
      const S* b1 = p + int64_t(w1) * w0;
      const S* W2 = b1 + w1;
      const S* W1t = params_t + np * e;  // W_1^T (w0, w1) row-major
      const S* G = fg;                   // dW_f (w2, w0)
      const S* sf = fg + int64_t(w2) * w0;  // db_f (w2)
      S* dW1 = g;
      S* db1 = g + int64_t(w1) * w0;
      S* dW2 = db1 + w1;
      S* db2 = dW2 + int64_t(w2) * w1;
      // dW_1[a][i] = sum_o W_2[o][a] G[o][i];  db_1[a] = sum_o W_2[o][a] sf[o].
      small_gemm<S>(w0, w1, w2, G, w0, W2, 1, w1, nullptr, false, dW1, w0);
      small_gemm<S>(w1, 1, w2, W2, w1, sf, 0, 1, nullptr, false, db1, w1);
      // dW_2[o][a] = sum_i G[o][i] W_1[a][i] + sf[o] b_1[a];  db_2 = sf.
      small_gemm<S>(w1, w2, w0, W1t, w1, G, w0, 1, nullptr, false, dW2, w1);
      for (int o = 0; o < w2; ++o)
        for (int a = 0; a < w1; ++a) dW2[int64_t(o) * w1 + a] += sf[o] * b1[a];
      std::copy(sf, sf + w2, db2);
    }
    // Layers l >= 3: the same numbers at their own offsets.
    for (int l = 3; l <= L; ++l) {
      const int64_t dst = layer_offset<S>(widths, l);
      if (!mine(dst)) continue;
      const int64_t src = layer_offset<S>(fw, l - 1), n = int64_t(widths[l]) * (widths[l - 1] + 1);
      std::copy(fg + src, fg + src + n, g + dst);
    }
  }
}

#define FITNN_INSTANTIATE_FOLD(S)                                                           \
  template void fold_input_layer_cpu<S>(const int*, int, int, int64_t, int64_t, const S*,  \
                                        S*, S*);                                            \
  template void unfold_input_layer_grad_cpu<S>(const int*, int, int, int64_t, int64_t,     \
                                               const S*, const S*, const S*, S*);

FITNN_INSTANTIATE_FOLD(double)
FITNN_INSTANTIATE_FOLD(float)

}  // namespace cpu
}  // namespace fitnn
