// Activations with their first and second derivatives, evaluated in place over a block:
// z -> h = act(z), a1 = act'(z), a2 = act''(z). Numerically stable everywhere (no overflow,
// no cancellation in act'), and vectorized: softplus by its own branch-free exp and log1p in
// loops the compiler vectorizes; tanh and sigmoid take exp/log from Eigen's packet math, the
// rest is a branch-free loop the compiler vectorizes.
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "cpu/ops.hpp"

namespace fitnn {
namespace cpu {

namespace {

template <class S>
using ArrMap = Eigen::Map<Eigen::Array<S, Eigen::Dynamic, 1>>;

// softplus(z) = max(z, 0) + log1p(e), e = exp(-|z|); softplus' = sigmoid(z);
// softplus'' = sigmoid(z) (1 - sigmoid(z)) = e / (1 + e)^2. No libm calls; every loop is
// branch-free and vectorizes (AVX2 + FMA: 4 doubles / 8 floats a step):
//  e = exp(x), x = -|z| clamped at the underflow-to-0 point (NaN kept): k = round(x / ln2) by
//    the 1.5 * 2^p shifter (k sits in its low bits), r = x - k ln2 with a Cody-Waite ln2 (hi has
//    trailing zeros: k ln2_hi and the subtraction are exact), |r| <= ln2 / 2,
//    exp(r) = 1 + r + r^2 Q(r), scaled by 2^-m (exact) and then by 2^(k + m) built in the
//    exponent bits (m = 54 double, 24 float): subnormal results round once, -inf gives 0.
//  log1p(e), e in [0, 1]: 2 atanh(s), s = e / (2 + e) <= 1/3, as e - s (e - t G(t)), t = s^2
//    (the rounding of s only enters the smaller term s (e - t G)).
//  r = 1 / (1 + e): w = fl(1 + e) with its exact error c = (1 - w) + e, 1 / w plus one Newton
//    step on 1 - (w + c) r; sigmoid(z) = r for z >= 0, e r for z < 0; softplus'' = (e r) r.
// Q and G are minimax fits (each adds <= 0.2 ulp). Against exact values, double and float,
// subnormal results included: h within 1.8 ulp, a1 2 ulp, a2 3.3 ulp (2.0, 2.4, 4.2 without
// FMA); +-inf give the limits, NaN propagates into all three. Three passes over blocks of
// kBlock values (exp, log1p, the rest): one fused loop is latency bound (the exp -> log1p
// chain outgrows the out-of-order window), the passes are throughput bound (FMA ports, then
// the divider). Selects that feed arithmetic are done on the bits: GCC turns a select with a
// constant arm into a branch around the arithmetic, and then does not vectorize.
template <class S>
inline S fmadd(S a, S b, S c) {
#ifdef __FMA__
  return std::fma(a, b, c);
#else
  return a * b + c;
#endif
}

template <class To, class From>
inline To bit_copy(From v) {
  static_assert(sizeof(To) == sizeof(From), "same size");
  To t;
  std::memcpy(&t, &v, sizeof t);
  return t;
}

template <class S>
inline S horner(S, S c0) {
  return c0;
}
template <class S, class... C>
inline S horner(S x, S c0, C... cs) {
  return fmadd(horner(x, cs...), x, c0);
}

template <class S>
struct softplus_consts;

template <>
struct softplus_consts<double> {
  using U = uint64_t;
  static constexpr int mant_bits = 52;
  static constexpr double x_min = -746;  // exp(-746) < 2^-1075: rounds to 0
  static constexpr double shifter = 0x1.8p52, log2e = 0x1.71547652b82fep+0;
  static constexpr double ln2_hi = 0x1.62e42fefa3800p-1, ln2_lo = 0x1.ef35793c76730p-45;
  static constexpr U scale_bias = 1023 + 54;  // 2^(k + 54)
  static constexpr double scale_down = 0x1p-54;
  // (exp(r) - 1 - r) / r^2 on |r| <= ln2 / 2 (error 1.2e-16, times r^2 <= 0.12), Estrin's form.
  static double exp_q(double r, double r2) {
    const double r4 = r2 * r2;
    const double q0 = fmadd(r2, fmadd(r, 0x1.11111111109b5p-7, 0x1.5555555553d68p-5),
                            fmadd(r, 0x1.5555555555556p-3, 0x1.0000000000001p-1));
    const double q1 = fmadd(r2, fmadd(r, 0x1.71de0db2f6b19p-19, 0x1.a019b9149a41cp-16),
                            fmadd(r, 0x1.a01a01a7c2efep-13, 0x1.6c16c17889ef1p-10));
    const double q2 = fmadd(r, 0x1.af389ecfc4b9cp-26, 0x1.28917c89a43a7p-22);
    return fmadd(r4, fmadd(r4, q2, q1), q0);
  }
  // (2 atanh(s) / s - 2) / t on t = s^2 <= 1/9 (error 1.4e-16, times t / 2 <= 1/18).
  static double log_g(double t) {
    return horner(t, 0x1.5555555555555p-1, 0x1.999999999a3ddp-2, 0x1.24924923d44c6p-2,
                  0x1.c71c727143318p-3, 0x1.745cf0b0e03bdp-3, 0x1.3b18b294bebf9p-3,
                  0x1.10ac75dc602b1p-3, 0x1.eb905e8575054p-4, 0x1.687a6e7c95176p-4,
                  0x1.4b0a26c5f2aefp-3);
  }
};

template <>
struct softplus_consts<float> {
  using U = uint32_t;
  static constexpr int mant_bits = 23;
  static constexpr float x_min = -104;  // exp(-104) < 2^-150: rounds to 0
  static constexpr float shifter = 0x1.8p23f, log2e = 0x1.715476p+0f;
  static constexpr float ln2_hi = 0x1.62e4p-1f, ln2_lo = 0x1.7f7d1cp-20f;
  static constexpr U scale_bias = 127 + 24;  // 2^(k + 24)
  static constexpr float scale_down = 0x1p-24f;
  static float exp_q(float r, float r2) {  // error 6.7e-8, times r^2
    return fmadd(r2 * r2, 0x1.6d10fcp-10f, fmadd(r2, fmadd(r, 0x1.120b62p-7f, 0x1.55551ap-5f),
                                                 fmadd(r, 0x1.5554dep-3f, 0x1p-1f)));
  }
  static float log_g(float t) {  // error 2e-8, times t / 2
    return horner(t, 0x1.555556p-1f, 0x1.9998d4p-2f, 0x1.24c926p-2f, 0x1.bc8cf8p-3f,
                  0x1.dba260p-3f);
  }
};

template <class S>
inline S exp_neg_abs(S z) {
  using K = softplus_consts<S>;
  using U = typename K::U;
  S x = -std::fabs(z);
  const U below = U(0) - U(x < K::x_min);  // all ones where x < x_min (not for a NaN)
  x = bit_copy<S>((bit_copy<U>(x) & ~below) | (bit_copy<U>(K::x_min) & below));
  const S kd = fmadd(x, K::log2e, K::shifter);
  const S kf = kd - K::shifter;
  const S r = fmadd(kf, -K::ln2_lo, fmadd(kf, -K::ln2_hi, x));
  const S r2 = r * r;
  const S p = fmadd(fmadd(r2, K::exp_q(r, r2), r), K::scale_down, K::scale_down);
  const S scale = bit_copy<S>((bit_copy<U>(kd) + K::scale_bias) << K::mant_bits);  // 2^(k + m)
  return p * scale;
}

template <class S>
void softplus(S* h, S* a1, S* a2, int64_t len) {
  using K = softplus_consts<S>;
  using U = typename K::U;
  constexpr int64_t kBlock = 512;
  for (int64_t b = 0; b < len; b += kBlock) {
    const int64_t n = std::min(kBlock, len - b);
    S* hb = h + b;
    S* eb = a2 + b;  // e, then softplus''
    S* lb = a1 + b;  // log1p(e), then softplus'
    for (int64_t i = 0; i < n; ++i) eb[i] = exp_neg_abs(hb[i]);
    for (int64_t i = 0; i < n; ++i) {
      const S e = eb[i];
      const S s = e / (S(2) + e), t = s * s;
      lb[i] = fmadd(-s, fmadd(-t, K::log_g(t), e), e);
    }
    for (int64_t i = 0; i < n; ++i) {
      const S z = hb[i], e = eb[i];
      const U zb = bit_copy<U>(z);
      const S z_pos = bit_copy<S>(zb & ((zb >> (8 * sizeof(U) - 1)) - U(1)));  // +0 if z <= -0
      const S w = S(1) + e, c = (S(1) - w) + e;
      const S q = S(1) / w;
      const S r = fmadd(q, fmadd(-w, q, S(1)) - c * q, q);
      const S er = e * r;
      hb[i] = z_pos + lb[i];
      lb[i] = z >= S(0) ? r : er;
      eb[i] = er * r;
    }
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
