// Every CPU op (src/cpu/ops.hpp) against a naive loop: activations against long-double
// formulas (extremes included), standardization, the MLP passes per block (forward, beta,
// tangent + reverse) against the per-atom reference, the row contractions (and their adjoint
// identity), configuration energies and the loss with its adjoints, and the cutting of a
// batch's rows into per-thread parts.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "cpu/ops.hpp"
#include "cpu/row_parts.hpp"
#include "cpu/small_gemm.hpp"
#include "cpu/workspace.hpp"
#include "cpu_fixtures.hpp"
#include "naive_reference.hpp"
#include "support.hpp"

using namespace fitnn;
using namespace fitnn::cpu;
using namespace fitnn_test;

namespace {

struct LongAct {
  long double h, a1, a2;
};

LongAct long_act(Activation act, long double z) {
  switch (act) {
    case Activation::softplus: {
      const long double s = 1.0L / (1.0L + expl(-z));
      const long double e = expl(-fabsl(z));
      const long double h = (z > 0 ? z : 0.0L) + log1pl(e);
      return {h, s, e / ((1.0L + e) * (1.0L + e))};
    }
    case Activation::tanh: {
      const long double t = tanhl(z), e = expl(-2.0L * fabsl(z));
      const long double d1 = 4.0L * e / ((1.0L + e) * (1.0L + e));
      return {t, d1, -2.0L * t * d1};
    }
    case Activation::sigmoid: {
      const long double e = expl(-fabsl(z));
      const long double s = z >= 0 ? 1.0L / (1.0L + e) : e / (1.0L + e);
      const long double d1 = e / ((1.0L + e) * (1.0L + e));
      return {s, d1, -d1 * tanhl(z / 2)};  // 1 - 2 s = -tanh(z / 2), no cancellation
    }
    case Activation::relu: return {z > 0 ? z : 0.0L, z > 0 ? 1.0L : 0.0L, 0.0L};
    case Activation::linear: return {z, 1.0L, 0.0L};
  }
  return {0, 0, 0};
}

// Relative error against the long-double value; values below a floor (1e-290 for double,
// 1e-30 for float: Eigen's float exp stops at ~3e-39 instead of going to 0) are judged
// absolutely.
template <class S>
double act_error(S got, long double want) {
  const long double floor = sizeof(S) == 8 ? 1e-290L : 1e-30L;
  return double(fabsl((long double)got - want) / std::max(fabsl(want), floor));
}

template <class S>
void check_activation(Activation act, double tol) {
  std::vector<double> zs = {-800, -100, -40, -20, -5, -1, -0.3, -1e-3, -1e-9, -1e-300, 0.0,
                            1e-300, 1e-9, 1e-3, 0.3, 0.5, 1, 5, 20, 40, 100, 800};
  std::mt19937_64 gen(7);
  std::uniform_real_distribution<double> u(-12, 12);
  for (int i = 0; i < 200; ++i) zs.push_back(u(gen));
  std::vector<S> h(zs.begin(), zs.end()), a1(zs.size()), a2(zs.size());
  activation_cpu(act, h.data(), a1.data(), a2.data(), int64_t(zs.size()));
  double worst[3] = {0, 0, 0};
  for (size_t i = 0; i < zs.size(); ++i) {
    const LongAct w = long_act(act, (long double)S(zs[i]));
    worst[0] = std::max(worst[0], act_error(h[i], w.h));
    worst[1] = std::max(worst[1], act_error(a1[i], w.a1));
    worst[2] = std::max(worst[2], act_error(a2[i], w.a2));
    ASSERT_TRUE(std::isfinite(h[i]) && std::isfinite(a1[i]) && std::isfinite(a2[i]))
        << activation_name(act) << " z = " << zs[i];
  }
  std::printf("  %-8s %s: max rel error h %.2g act' %.2g act'' %.2g\n", activation_name(act),
              sizeof(S) == 8 ? "double" : "float", worst[0], worst[1], worst[2]);
  EXPECT_LE(worst[0], tol) << activation_name(act);
  EXPECT_LE(worst[1], tol) << activation_name(act);
  EXPECT_LE(worst[2], tol) << activation_name(act);
  // NaN goes through (so that the NaN guard sees it).
  S z = std::numeric_limits<S>::quiet_NaN(), b1, b2;
  activation_cpu(act, &z, &b1, &b2, 1);
  EXPECT_TRUE(std::isnan(z)) << activation_name(act);
}

const Activation kActs[] = {Activation::softplus, Activation::tanh, Activation::sigmoid,
                            Activation::relu, Activation::linear};

}  // namespace

TEST(CpuOps, ActivationsDouble) {
  for (Activation a : kActs) check_activation<double>(a, 2e-15);
}

TEST(CpuOps, ActivationsFloat) {
  for (Activation a : kActs) check_activation<float>(a, 1e-6);
}

// softplus at the ends of its range: the limits at +-inf, results that underflow (subnormal,
// then 0) within 4 ulp (counted in denorm_min below the normal range), NaN in all three
// outputs; and the same bits whatever the length of the call (vector body and scalar tail).
template <class S>
void check_softplus_extremes() {
  typedef std::numeric_limits<S> lim;
  const S inf = lim::infinity(), nan = lim::quiet_NaN();
  const bool dbl = sizeof(S) == 8;
  std::vector<S> zs = {inf, -inf, nan, -nan, lim::max(), -lim::max(), S(dbl ? -720 : -95),
                       S(dbl ? -744 : -103), S(dbl ? -746 : -104.5), S(-1e30), S(-40), S(40),
                       lim::denorm_min(), -lim::denorm_min(), S(0), -S(0)};
  std::mt19937_64 gen(11);
  std::normal_distribution<double> nd(0, 20);
  for (int i = 0; i < 40; ++i) zs.push_back(S(nd(gen)));
  const size_t n = zs.size();
  std::vector<S> h(zs), a1(n), a2(n);
  activation_cpu(Activation::softplus, h.data(), a1.data(), a2.data(), int64_t(n));
  EXPECT_TRUE(h[0] == inf && a1[0] == S(1) && a2[0] == S(0));
  EXPECT_TRUE(h[1] == S(0) && a1[1] == S(0) && a2[1] == S(0));
  for (int i : {2, 3}) EXPECT_TRUE(std::isnan(h[i]) && std::isnan(a1[i]) && std::isnan(a2[i]));
  for (size_t i = 4; i < n; ++i) {
    const long double z = zs[i], e = expl(-fabsl(z));
    const long double want[3] = {(z > 0 ? z : 0.0L) + log1pl(e),
                                 z >= 0 ? 1 / (1 + e) : e / (1 + e), e / ((1 + e) * (1 + e))};
    const S got[3] = {h[i], a1[i], a2[i]};
    for (int k = 0; k < 3; ++k)
      EXPECT_LE(fabsl(got[k] - want[k]),
                4 * std::max(fabsl(want[k]) * lim::epsilon(), (long double)lim::denorm_min()))
          << "z = " << zs[i] << ", output " << k;
  }
  for (size_t len = 1; len <= 9; ++len)
    for (size_t b = 0; b + len <= n; b += 5) {
      std::vector<S> hb(zs.begin() + b, zs.begin() + b + len), b1(len), b2(len);
      activation_cpu(Activation::softplus, hb.data(), b1.data(), b2.data(), int64_t(len));
      EXPECT_EQ(0, std::memcmp(hb.data(), &h[b], len * sizeof(S)));
      EXPECT_EQ(0, std::memcmp(b1.data(), &a1[b], len * sizeof(S)));
      EXPECT_EQ(0, std::memcmp(b2.data(), &a2[b], len * sizeof(S)));
    }
}

TEST(CpuOps, SoftplusExtremesAndAnyLength) {
  check_softplus_extremes<double>();
  check_softplus_extremes<float>();
}

namespace {

// small_gemm against plain long-double loops: every row-tile case (M below one vector; whole
// blocks followed by nothing or by a block of 1-4 vectors, its last vector moved back by 0 to
// W - 1 lanes; with AVX-512 W = 8 doubles, 16 floats), every column remainder of the tile
// widths, both operand layouts of
// the MLP (B's columns contiguous in k, and B's rows contiguous), bias and accumulation; the
// entries of C outside the product are checked untouched.
template <class S>
void check_small_gemm(double tol) {
  std::mt19937_64 gen(17);
  std::uniform_real_distribution<double> u(-1, 1);
  int cases = 0;
  for (int M : {1, 5, 8, 13, 16, 17, 25, 30, 31, 33, 40, 47, 48, 57, 64, 70, 100})
    for (int N : {1, 2, 3, 5, 6, 7, 8, 9, 10, 17, 23})
      for (int K : {1, 7, 30})
        for (int layout = 0; layout < 2; ++layout)
          for (int mode = 0; mode < 3; ++mode) {  // plain, bias, accumulate
            const int64_t lda = M + 3, ldc = M + 2;
            const int64_t bj = layout == 0 ? K + 1 : 1, bk = layout == 0 ? 1 : N + 2;
            std::vector<S> A(size_t(K * lda)), B(size_t((N + 2) * (K + 1))), C(size_t(N * ldc));
            std::vector<S> bias(static_cast<size_t>(M));
            for (auto& v : A) v = S(u(gen));
            for (auto& v : B) v = S(u(gen));
            for (auto& v : bias) v = S(u(gen));
            for (auto& v : C) v = S(u(gen));
            const std::vector<S> C0 = C;
            small_gemm<S>(M, N, K, A.data(), lda, B.data(), bj, bk,
                          mode == 1 ? bias.data() : nullptr, mode == 2, C.data(), ldc);
            for (int j = 0; j < N; ++j)
              for (int64_t m = 0; m < ldc; ++m) {
                const S got = C[size_t(j * ldc + m)];
                if (m >= M) {
                  ASSERT_EQ(got, C0[size_t(j * ldc + m)]) << "wrote outside C, M " << M;
                  continue;
                }
                long double want = mode == 1 ? bias[size_t(m)] : 0.0L;
                if (mode == 2) want += C0[size_t(j * ldc + m)];
                for (int k = 0; k < K; ++k)
                  want += (long double)A[size_t(k * lda + m)] * B[size_t(j * bj + k * bk)];
                ASSERT_NEAR(double(got), double(want), tol * (1.0 + K))
                    << "M " << M << " N " << N << " K " << K << " layout " << layout
                    << " mode " << mode;
              }
            ++cases;
          }
  EXPECT_EQ(cases, 17 * 11 * 3 * 2 * 3);
}

}  // namespace

TEST(CpuOps, SmallGemmMatchesNaiveLoops) {
  check_small_gemm<double>(1e-15);
  check_small_gemm<float>(4e-7);
}

// Transposes of every shape around the 8 x 8 register blocks (whole blocks, row and column
// remainders, fewer than 8 of either): each value lands at its transposed place, exactly.
template <class S>
void check_transpose() {
  int cases = 0;
  for (int rows : {1, 3, 7, 8, 9, 15, 16, 17, 30, 64})
    for (int cols : {1, 5, 8, 11, 16, 24, 30, 31, 64}) {
      std::vector<S> src(size_t(rows) * cols), dst(src.size() + 8, S(-1));
      for (size_t i = 0; i < src.size(); ++i) src[i] = S(i) + S(0.25);
      transpose_cpu<S>(rows, cols, src.data(), dst.data());
      for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c)
          ASSERT_EQ(dst[size_t(c) * rows + r], src[size_t(r) * cols + c])
              << rows << " x " << cols << " at " << r << ", " << c;
      for (size_t i = src.size(); i < dst.size(); ++i)
        ASSERT_EQ(dst[i], S(-1)) << "wrote past the end";
      ++cases;
    }
  EXPECT_EQ(cases, 90);
}

TEST(CpuOps, TransposeMatchesDefinition) {
  check_transpose<double>();
  check_transpose<float>();
}

// The MLP ops over blocks (option 2: one block per element) against the per-atom reference.
TEST(CpuOps, MlpPassesMatchPerAtomReference) {
  for (int option : {1, 2, 3}) {
    const Dataset data = random_dataset(21 + option, 4, 5, 3);
    const Model model = random_model(data, option, Activation::softplus, {6, 4}, 5);
    const auto& lay = model.layout;
    const int d = data.ndesc, L = lay.nlayers();
    const auto batch = all_configs(data);
    Workspace<double> ws;
    ws.allocate(lay, 64, 64);
    ws.plan(data, lay, batch.data(), int(batch.size()));
    ASSERT_EQ(ws.natoms, data.natoms());
    std::vector<double> std_dev = model.std, beta(size_t(d * ws.natoms)), grad(size_t(lay.nparams()));
    std::mt19937_64 gen(3);
    std::uniform_real_distribution<double> u(-1, 1);
    std::vector<double> g(size_t(d * ws.natoms)), eps(size_t(ws.natoms));
    for (auto& v : g) v = u(gen);
    for (auto& v : eps) v = u(gen);
    std::vector<double> want_grad(size_t(lay.nparams()), 0.0);
    double worst = 0.0;
    for (int e = 0; e < lay.nnets(); ++e) {
      const MlpBlock<double>& blk = ws.blocks[e];
      MlpNet<double> net;
      std::vector<double> params_t(model.params.size());
      transpose_weights_cpu(lay.widths.data(), L, lay.nnets(), 0, lay.nparams(),
                            model.params.data(), params_t.data());
      net.params = model.params.data() + lay.nparams_per_net() * e;
      net.params_t = params_t.data() + lay.nparams_per_net() * e;
      net.widths = lay.widths.data();
      net.nlayers = L;
      net.act = lay.activation;
      const int64_t c0 = ws.seg_start[e];
      standardize_cpu(blk.n, ws.atoms.data() + c0, data.descriptors.data(), d,
                      model.mean.data(), model.std.data(), data.atom_type.data(),
                      lay.option == 3 ? lay.nelements : 0, blk.hh[0]);
      mlp_forward_cpu(net, blk);
      mlp_beta_cpu(net, blk, d, std_dev.data(), beta.data() + c0 * d);
      mlp_tangent_cpu(net, blk, d, std_dev.data(), g.data() + c0 * d);
      mlp_reverse_cpu(net, blk, eps.data() + c0, grad.data() + lay.nparams_per_net() * e);
      for (int64_t c = 0; c < blk.n; ++c) {
        const int64_t a = ws.atoms[c0 + c];
        const int t = data.atom_type[a];
        if (lay.option == 2) ASSERT_EQ(t, e);
        const NaiveAtom ref = naive_atom(model, data.descriptors.data() + a * d, t);
        for (int k = 0; k < lay.widths[0]; ++k)
          worst = std::max(worst, std::abs(blk.hh[0][c * lay.widths[0] + k] - ref.h[0][k]));
        for (int l = 1; l < L; ++l)
          for (int k = 0; k < lay.widths[l]; ++k) {
            const int64_t ix = c * lay.widths[l] + k;
            worst = std::max(worst, std::abs(blk.hh[l][ix] - ref.h[l][k]));
            worst = std::max(worst, std::abs(blk.a1[l][ix] - ref.a1[l][k]));
            worst = std::max(worst, std::abs(blk.a2[l][ix] - ref.a2[l][k]));
          }
        worst = std::max(worst, std::abs(blk.energy[c] - ref.energy));
        for (int k = 0; k < d; ++k)
          worst = std::max(worst, std::abs(beta[(c0 + c) * d + k] - ref.beta[k]));
        naive_atom_gradient(model, ref, t, g.data() + (c0 + c) * d, eps[c0 + c], want_grad);
      }
    }
    EXPECT_LE(worst, 1e-13) << "option " << option;
    EXPECT_LE(tolerance_ratio(grad, want_grad, 1e-13 * max_abs(want_grad), 1e-12), 1.0)
        << "option " << option;
    EXPECT_GT(max_abs(want_grad), 0.1);
  }
}

namespace {

// Naive contractions over the dataset rows, in batch-atom order.
void naive_rows(const Dataset& data, const std::vector<int64_t>& batch,
                const std::vector<double>& beta_atom, const std::vector<double>& phi,
                std::vector<double>& F, std::vector<double>& g_atom) {
  const int d = data.ndesc;
  int64_t base = 0;
  for (int64_t c : batch) {
    for (int64_t r = data.row_offset[c]; r < data.row_offset[c + 1]; ++r)
      for (int k = 0; k < d; ++k) {
        F[3 * base + data.row_k[r]] += beta_atom[(base + data.row_i[r]) * d + k] * data.dgrad(r, k);
        g_atom[(base + data.row_i[r]) * d + k] += phi[3 * base + data.row_k[r]] * data.dgrad(r, k);
      }
    base += data.natoms_of(c);
  }
}

template <class S, class Dg>
void check_rows(const Dataset& data, const Dg* dgrad, double tol) {
  const int d = data.ndesc;
  const std::vector<int64_t> batch = {3, 1, 4, 0};
  Workspace<S> ws;
  const Model model = random_model(data, 2, Activation::tanh, {3}, 1);
  ws.allocate(model.layout, 64, 64);
  ws.plan(data, model.layout, batch.data(), int(batch.size()));  // option 2: permuted columns
  ASSERT_FALSE(ws.identity_columns);
  const int nb = int(batch.size());
  const int64_t n = ws.natoms;
  std::mt19937_64 gen(17);
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<double> beta_atom(size_t(n * d)), phi(size_t(3 * n));
  for (auto& v : beta_atom) v = u(gen);
  for (auto& v : phi) v = u(gen);
  std::vector<S> beta_col(size_t(n * d)), phi_s(phi.begin(), phi.end()), F(size_t(3 * n), S(7)),
      g_col(size_t(n * d), S(7));
  for (int64_t a = 0; a < n; ++a)
    for (int k = 0; k < d; ++k) beta_col[ws.col_of[a] * d + k] = S(beta_atom[a * d + k]);
  force_contract_cpu(nb, batch.data(), data.row_offset.data(), ws.atom_base.data(), ws.cols(),
                     data.row_i.data(), data.row_k.data(), dgrad, d, beta_col.data(), F.data());
  force_transpose_cpu(nb, batch.data(), data.row_offset.data(), ws.atom_base.data(), ws.cols(),
                      data.row_i.data(), data.row_k.data(), dgrad, d, phi_s.data(),
                      g_col.data());
  std::vector<double> Fw(size_t(3 * n), 0.0), gw(size_t(n * d), 0.0);
  naive_rows(data, batch, beta_atom, phi, Fw, gw);
  std::vector<double> Fd(F.begin(), F.end()), gd(size_t(n * d));
  for (int64_t a = 0; a < n; ++a)
    for (int k = 0; k < d; ++k) gd[a * d + k] = double(g_col[ws.col_of[a] * d + k]);
  EXPECT_LE(tolerance_ratio(Fd, Fw, tol * max_abs(Fw), tol), 1.0) << "d = " << d;
  EXPECT_LE(tolerance_ratio(gd, gw, tol * max_abs(gw), tol), 1.0) << "d = " << d;
  // Adjoint identity: <F(beta), phi> = <beta, F^T(phi)>.
  double lhs = 0.0, rhs = 0.0;
  for (int64_t k = 0; k < 3 * n; ++k) lhs += Fd[k] * phi[k];
  for (int64_t k = 0; k < n * d; ++k) rhs += beta_atom[k] * gd[k];
  EXPECT_NEAR(lhs, rhs, 10 * tol * (std::abs(lhs) + 1)) << "d = " << d;

  // The fused pass: the same forces, phi as loss_cpu forms it, g = transpose(phi), bitwise.
  const double inv_m = 1.0 / nb;
  std::vector<S> F2(size_t(3 * n), S(7)), phi2(size_t(3 * n), S(7)), g2(size_t(n * d), S(7)),
      phi3(size_t(3 * n)), g3(size_t(n * d)), eps_col(static_cast<size_t>(n));
  std::vector<double> energy(static_cast<size_t>(nb), 0.0), eps(static_cast<size_t>(nb));
  force_contract_transpose_cpu(nb, batch.data(), data.row_offset.data(), data.atom_offset.data(),
                               data.forces.data(), data.fweight.data(), ws.atom_base.data(),
                               ws.cols(), data.row_i.data(), data.row_k.data(), dgrad, d,
                               beta_col.data(), inv_m, F2.data(), phi2.data(), g2.data());
  EXPECT_EQ(F2, F) << "d = " << d;
  loss_cpu(nb, batch.data(), data.atom_offset.data(), data.energy.data(), data.forces.data(),
           data.eweight.data(), data.fweight.data(), ws.atom_base.data(), ws.cols(),
           energy.data(), F.data(), inv_m, eps.data(), phi3.data(), eps_col.data());
  EXPECT_EQ(phi2, phi3) << "d = " << d;
  force_transpose_cpu(nb, batch.data(), data.row_offset.data(), ws.atom_base.data(), ws.cols(),
                      data.row_i.data(), data.row_k.data(), dgrad, d, phi3.data(), g3.data());
  EXPECT_EQ(g2, g3) << "d = " << d;
  EXPECT_GT(max_abs(std::vector<double>(g3.begin(), g3.end())), 0.0);
}

}  // namespace

// d = 30 (3 blocks + a masked tail), 8 and 64 (blocks only), 70 (8 blocks + tail), 13, 5 (the
// narrow loops), 80, 203 (the wide, run-time block loop), in all four precision combinations.
TEST(CpuOps, RowContractionsMatchNaiveLoops) {
  for (int d : {30, 8, 64, 70, 13, 5, 80, 203}) {
    Dataset data = random_dataset(8 + d, 6, d, 2, 9);
    check_rows<double, double>(data, data.dgrad64.data(), 1e-14);
    check_rows<float, double>(data, data.dgrad64.data(), 2e-6);
    data.derivative_bits = 32;  // the naive loops now read the float rows
    check_rows<double, float>(data, data.dgrad32.data(), 1e-14);
    check_rows<float, float>(data, data.dgrad32.data(), 2e-6);
  }
}

TEST(CpuOps, EnergyAndLossMatchFormula) {
  const Dataset data = random_dataset(31, 5, 4, 1);
  const std::vector<int64_t> batch = {2, 4, 0};
  std::vector<int64_t> atom_base = {0};
  for (int64_t c : batch) atom_base.push_back(atom_base.back() + data.natoms_of(c));
  const int64_t n = atom_base.back();
  std::mt19937_64 gen(4);
  std::uniform_real_distribution<double> u(-2, 2);
  std::vector<double> atom_energy(static_cast<size_t>(n)), forces(static_cast<size_t>(3 * n));
  for (auto& v : atom_energy) v = u(gen);
  for (auto& v : forces) v = u(gen);
  std::vector<int32_t> col_of(static_cast<size_t>(n));  // a reversed column order
  for (int64_t a = 0; a < n; ++a) col_of[a] = int32_t(n - 1 - a);
  std::vector<double> energy(3), eps(3), phi(size_t(3 * n)), eps_col(static_cast<size_t>(n));
  config_energy_cpu(3, atom_base.data(), col_of.data(), atom_energy.data(), energy.data());
  const double M = 3.0;
  const double loss = loss_cpu(3, batch.data(), data.atom_offset.data(), data.energy.data(),
                               data.forces.data(), data.eweight.data(), data.fweight.data(),
                               atom_base.data(), col_of.data(), energy.data(), forces.data(),
                               1.0 / M, eps.data(), phi.data(), eps_col.data());
  double want_loss = 0.0;
  for (int m = 0; m < 3; ++m) {
    const int64_t c = batch[m], N = atom_base[m + 1] - atom_base[m];
    double E = 0.0;
    for (int64_t a = atom_base[m]; a < atom_base[m + 1]; ++a) E += atom_energy[n - 1 - a];
    EXPECT_NEAR(energy[m], E, 1e-14 * std::abs(E) + 1e-15);
    const double r = E / N - data.energy[c] / N;
    double fs = 0.0;
    for (int64_t k = 0; k < 3 * N; ++k) {
      const double df = forces[3 * atom_base[m] + k] - data.forces[3 * data.atom_offset[c] + k];
      fs += df * df;
      EXPECT_NEAR(phi[3 * atom_base[m] + k], 2 * data.fweight[c] * df / (3 * N * M), 1e-15);
    }
    want_loss += (data.eweight[c] * r * r + data.fweight[c] / (3.0 * N) * fs) / M;
    const double want_eps = 2 * data.eweight[c] / M * (E - data.energy[c]) / double(N * N);
    EXPECT_NEAR(eps[m], want_eps, 1e-14 * std::abs(want_eps));
    for (int64_t a = atom_base[m]; a < atom_base[m + 1]; ++a)
      EXPECT_EQ(eps_col[n - 1 - a], eps[m]);
  }
  EXPECT_NEAR(loss, want_loss, 1e-14 * want_loss);
  EXPECT_GT(want_loss, 0.1);
}

// RowParts (row_parts.hpp) on random batches and part counts: every row of the batch in
// exactly one slice, parts in the batch's row order, cuts only at starts of runs of one force
// component, each configuration's components split into consecutive ranges that cover
// [0, 3 N_m) with one `first` slice, each part's columns covering its slices' atoms, and the
// parts about equal (the ideal share plus at most one run).
TEST(CpuOps, RowPartsCoverEveryRowOnceAtRunStarts) {
  std::mt19937_64 gen(7);
  for (int trial = 0; trial < 40; ++trial) {
    const Dataset data = random_dataset(100 + trial, 8, 3, 1, 2 + trial % 9);
    const int n = 1 + int(gen() % 6), T = 1 + int(gen() % 5);
    std::vector<int64_t> cf(static_cast<size_t>(n)), base(static_cast<size_t>(n + 1), 0);
    for (int m = 0; m < n; ++m) {
      cf[size_t(m)] = int64_t(gen() % 8);  // repeats allowed, as in the backend's batches
      base[size_t(m + 1)] = base[size_t(m)] + data.natoms_of(cf[size_t(m)]);
    }
    RowParts parts;
    parts.plan(data, cf.data(), n, base.data(), T);
    SCOPED_TRACE("trial " + std::to_string(trial) + ", " + std::to_string(n) + " configs, " +
                 std::to_string(T) + " parts");
    int64_t total = 0, longest_run = 0;
    for (int m = 0; m < n; ++m) {
      const int64_t r0 = data.row_offset[cf[size_t(m)]], r1 = data.row_offset[cf[size_t(m)] + 1];
      total += r1 - r0;
      for (int64_t r = r0, run = 0; r < r1; ++r) {
        run = (r > r0 && data.row_k[r] == data.row_k[r - 1]) ? run + 1 : 1;
        longest_run = std::max(longest_run, run);
      }
    }
    // Walk the slices of all parts in order: the batch's rows and components in sequence.
    int m_expect = 0;
    int64_t r_expect = data.row_offset[cf[0]];
    int k_expect = 0, firsts = 0;
    for (int t = 0; t < T; ++t) {
      int64_t rows = 0;
      for (const RowSlice* sl = parts.begin(t); sl != parts.end(t); ++sl) {
        const int64_t c = cf[size_t(sl->m)];
        const int64_t c0 = data.row_offset[c], c1 = data.row_offset[c + 1];
        if (sl->m != m_expect) {  // the previous configuration is complete
          ASSERT_EQ(sl->m, m_expect + 1);
          ASSERT_EQ(r_expect, data.row_offset[cf[size_t(m_expect)] + 1]);
          ASSERT_EQ(k_expect, 3 * data.natoms_of(cf[size_t(m_expect)]));
          m_expect = sl->m;
          r_expect = c0;
          k_expect = 0;
        }
        ASSERT_EQ(sl->r0, r_expect);
        ASSERT_EQ(sl->k0, k_expect);
        ASSERT_LT(sl->r0, sl->r1);
        EXPECT_EQ(sl->first, sl->r0 == c0);
        firsts += sl->first;
        if (sl->r0 > c0) EXPECT_NE(data.row_k[sl->r0], data.row_k[sl->r0 - 1]);  // a run start
        EXPECT_EQ(sl->k1, sl->r1 == c1 ? 3 * data.natoms_of(c) : data.row_k[sl->r1]);
        EXPECT_LE(parts.lo(t), base[size_t(sl->m)]);
        EXPECT_GE(parts.hi(t), base[size_t(sl->m + 1)]);
        rows += sl->r1 - sl->r0;
        r_expect = sl->r1;
        k_expect = sl->k1;
      }
      EXPECT_LE(rows, (total + T - 1) / T + longest_run);
    }
    EXPECT_EQ(m_expect, n - 1);
    EXPECT_EQ(r_expect, data.row_offset[cf[size_t(n - 1)] + 1]);
    EXPECT_EQ(k_expect, 3 * data.natoms_of(cf[size_t(n - 1)]));
    EXPECT_EQ(firsts, n);
  }
}
