// Activations with their first and second derivatives, evaluated in place over a block:
// z -> h = act(z), a1 = act'(z), a2 = act''(z). Numerically stable everywhere (no overflow,
// no cancellation in act'), and vectorized: exp/log go through Eigen's packet math, the rest
// is a branch-free loop the compiler vectorizes.
#include <Eigen/Core>
#include <cmath>

#include "cpu/ops.hpp"

namespace fitnn {
namespace cpu {

namespace {

template <class S>
using ArrMap = Eigen::Map<Eigen::Array<S, Eigen::Dynamic, 1>>;

// softplus(z) = max(z, 0) + log1p(e), e = exp(-|z|); softplus' = sigmoid(z);
// softplus'' = sigmoid(z) (1 - sigmoid(z)) = e / (1 + e)^2. log1p(e) = log(w) - ((w - 1) - e)/w
// with w = fl(1 + e) corrects the rounding of w (exact to ~1 ulp, and = e when w == 1).
template <class S>
void softplus(S* h, S* a1, S* a2, int64_t len) {
  ArrMap<S> z(h, len), e(a2, len), lw(a1, len);
  e = (-z.abs()).exp();
  lw = (e + S(1)).log();
  for (int64_t i = 0; i < len; ++i) {
    const S zi = h[i], ei = a2[i], w = S(1) + ei;
    const S r = S(1) / w;  // sigmoid(|z|)
    const S l = a1[i] - ((w - S(1)) - ei) * r;
    h[i] = (zi > S(0) ? zi : S(0)) + l;
    a1[i] = zi >= S(0) ? r : ei * r;
    a2[i] = ei * r * r;
  }
}

// tanh(z) = sign(z) (1 - u) / (1 + u), u = exp(-2|z|), with 1 - u = -expm1(-2|z|) computed
// by Kahan's trick near u = 1; tanh' = 1 - t^2 = 4u / (1 + u)^2; tanh'' = -2 t tanh'.
template <class S>
void tanh_act(S* h, S* a1, S* a2, int64_t len) {
  ArrMap<S> z(h, len), u(a2, len), lu(a1, len);
  u = (z.abs() * S(-2)).exp();
  lu = u.log();
  for (int64_t i = 0; i < len; ++i) {
    const S zi = h[i], ui = a2[i], y = S(-2) * (zi < S(0) ? -zi : zi);
    // expm1(y), y <= 0: plain u - 1 far from 0, Kahan's (u - 1) y / log(u) near it.
    const S near = ui == S(1) ? y : (ui - S(1)) * (y / a1[i]);
    const S em1 = ui < S(0.5) ? ui - S(1) : near;
    const S ta = -em1 / (S(2) + em1);
    const S t = zi < S(0) ? -ta : ta;
    const S w = S(1) + ui;
    const S d1 = S(4) * ui / (w * w);
    h[i] = t;
    a1[i] = d1;
    a2[i] = S(-2) * t * d1;
  }
}

// sigmoid(z) = 1 / (1 + exp(-z)) from e = exp(-|z|); s' = e / (1 + e)^2 = s (1 - s);
// s'' = s' (1 - 2 s) with 1 - 2 s = sign(z) expm1(-|z|) / (1 + e), expm1 by Kahan's trick
// near 0 so that s'' keeps its relative accuracy for tiny z.
template <class S>
void sigmoid_act(S* h, S* a1, S* a2, int64_t len) {
  ArrMap<S> z(h, len), e(a2, len), le(a1, len);
  e = (-z.abs()).exp();
  le = e.log();
  for (int64_t i = 0; i < len; ++i) {
    const S zi = h[i], ei = a2[i], r = S(1) / (S(1) + ei);
    const S y = zi < S(0) ? zi : -zi;  // -|z|
    const S near = ei == S(1) ? y : (ei - S(1)) * (y / a1[i]);
    const S em1 = ei < S(0.5) ? ei - S(1) : near;
    const S s = zi >= S(0) ? r : ei * r;
    const S d1 = ei * r * r;
    const S one_m_2s = (zi >= S(0) ? em1 : -em1) * r;
    h[i] = s;
    a1[i] = d1;
    a2[i] = d1 * one_m_2s;
  }
}

// relu: act'(0) = 0 like PyTorch; a NaN stays NaN (in h and act') so that the NaN guard of
// train_step sees it.
template <class S>
void relu_act(S* h, S* a1, S* a2, int64_t len) {
  for (int64_t i = 0; i < len; ++i) {
    const S zi = h[i];
    h[i] = zi < S(0) ? S(0) : zi;
    a1[i] = zi > S(0) ? S(1) : (zi <= S(0) ? S(0) : zi);
    a2[i] = S(0);
  }
}

template <class S>
void linear_act(S*, S* a1, S* a2, int64_t len) {
  for (int64_t i = 0; i < len; ++i) {
    a1[i] = S(1);
    a2[i] = S(0);
  }
}

}  // namespace

template <class S>
void activation_cpu(Activation act, S* z_to_h, S* a1, S* a2, int64_t len) {
  switch (act) {
    case Activation::softplus: softplus(z_to_h, a1, a2, len); return;
    case Activation::tanh: tanh_act(z_to_h, a1, a2, len); return;
    case Activation::sigmoid: sigmoid_act(z_to_h, a1, a2, len); return;
    case Activation::relu: relu_act(z_to_h, a1, a2, len); return;
    case Activation::linear: linear_act(z_to_h, a1, a2, len); return;
  }
}

template void activation_cpu<double>(Activation, double*, double*, double*, int64_t);
template void activation_cpu<float>(Activation, float*, float*, float*, int64_t);

}  // namespace cpu
}  // namespace fitnn
