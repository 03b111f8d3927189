// Exactness of the CPU backend's derivatives, for every activation and every
// multi_element_option, on small random datasets with random derivative rows:
//   - beta against central finite differences of the atom energies in the descriptors,
//   - the full parameter gradient against central finite differences of the loss,
//   - everything against the naive per-atom reference (naive_reference.hpp),
//   - float32 against float64, 32-bit derivative rows against the same rows in 64 bits,
//   - chunked and threaded batches against per-configuration sums.
#include <algorithm>
#include <cstdio>

#include "cpu/cpu_backend.hpp"
#include "cpu_fixtures.hpp"
#include "naive_reference.hpp"
#include "support.hpp"

using namespace fitnn;
using namespace fitnn_test;

namespace {

struct Case {
  Activation act;
  int option;
  bool reparameterized = false;  // input_layer = trainable and output_scale 2.7
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return std::string(activation_name(info.param.act)) + "_option" +
         std::to_string(info.param.option) + (info.param.reparameterized ? "_inputlayer_scale" : "");
}

// max_i |a_i - b_i| / max(|b_i|, floor * max|b|): relative error, with a floor so that entries
// near zero are judged against the array's scale.
double rel_error(const std::vector<double>& a, const std::vector<double>& b,
                 double floor = 1e-3) {
  EXPECT_EQ(a.size(), b.size());
  const double scale = floor * max_abs(b);
  double worst = 0.0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    const double e = std::abs(a[i] - b[i]) / std::max(std::abs(b[i]), scale);
    if (!(e <= worst)) worst = e;
  }
  return worst;
}

class CpuGradients : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    const Case c = GetParam();
    data = random_dataset(1000 + 10 * c.option + int(c.act), 6, 7, 2);
    model = random_model(data, c.option, c.act, {6, 5}, 77 + c.option, c.reparameterized);
    batch = {4, 0, 2, 5};  // not contiguous, not sorted
  }
  Dataset data;
  Model model;
  std::vector<int64_t> batch;
};

TEST_P(CpuGradients, BetaMatchesFiniteDifferences) {
  CpuBackend<double> be(1);
  be.upload(data, model.layout);
  be.set_model(model);
  std::vector<double> beta;
  be.atom_beta(batch.data(), int(batch.size()), beta);
  const int d = data.ndesc;
  std::vector<double> fd(beta.size(), 0.0);
  Predictions plus, minus;
  int64_t b = 0;  // batch atom
  for (int64_t c : batch) {
    for (int i = 0; i < data.natoms_of(c); ++i, ++b) {
      const int64_t a = data.atom_offset[c] + i;
      for (int k = 0; k < d; ++k) {
        double& x = data.descriptors[size_t(a * d + k)];
        const double x0 = x, h = 1e-5 * model.std[k];
        x = x0 + h;
        be.evaluate(batch.data(), int(batch.size()), &plus);
        x = x0 - h;
        be.evaluate(batch.data(), int(batch.size()), &minus);
        x = x0;
        fd[size_t(b * d + k)] = (plus.atom_energy[b] - minus.atom_energy[b]) / (2 * h);
      }
    }
  }
  const double err = rel_error(beta, fd);
  std::printf("  beta vs finite differences: max rel error %.3g\n", err);
  EXPECT_LE(err, 1e-6);
  EXPECT_GT(max_abs(beta), 1e-3);
}

TEST_P(CpuGradients, GradientMatchesFiniteDifferences) {
  CpuBackend<double> be(2);
  be.upload(data, model.layout);
  be.set_model(model);
  std::vector<double> grad;
  const double loss = be.loss_gradient(batch.data(), int(batch.size()), grad).loss;
  std::vector<double> fd(grad.size());
  Model m = model;
  for (size_t p = 0; p < grad.size(); ++p) {
    const double t0 = model.params[p], h = 5e-6 * std::max(1.0, std::abs(t0));
    m.params[p] = t0 + h;
    be.set_model(m);
    const double lp = be.evaluate(batch.data(), int(batch.size()), nullptr).loss;
    m.params[p] = t0 - h;
    be.set_model(m);
    const double lm = be.evaluate(batch.data(), int(batch.size()), nullptr).loss;
    m.params[p] = t0;
    fd[p] = (lp - lm) / (2 * h);
  }
  const double err = rel_error(grad, fd);
  std::printf("  gradient vs finite differences: max rel error %.3g over %zu parameters "
              "(loss %.4g)\n", err, grad.size(), loss);
  EXPECT_LE(err, 1e-6);
  EXPECT_GT(max_abs(grad), 1e-3);
}

TEST_P(CpuGradients, MatchesNaiveReference) {
  for (int threads : {1, 2}) {
    CpuBackend<double> be(threads);
    be.upload(data, model.layout);
    be.set_model(model);
    std::vector<double> grad, beta;
    Predictions pred;
    const int n = int(batch.size());
    const double loss = be.loss_gradient(batch.data(), n, grad).loss;
    be.evaluate(batch.data(), n, &pred);
    be.atom_beta(batch.data(), n, beta);
    // The reparameterized model is checked through its plain form (plain_model folds the input
    // layer and the output scale): same energies, beta, forces and loss; its gradient (other
    // parameters) is checked by finite differences above.
    const NaiveResult ref = naive_batch(data, plain_model(model), batch);
    if (!GetParam().reparameterized) EXPECT_LE(rel_error(grad, ref.grad, 1e-6), 1e-11);
    EXPECT_LE(rel_error(beta, ref.beta, 1e-6), 1e-11);
    EXPECT_LE(rel_error(pred.atom_energy, ref.atom_energy, 1e-6), 1e-11);
    EXPECT_LE(rel_error(pred.energy, ref.energy, 1e-6), 1e-11);
    EXPECT_LE(rel_error(pred.forces, ref.forces, 1e-6), 1e-11);
    EXPECT_NEAR(loss, ref.loss, 1e-12 * ref.loss);
  }
}

TEST_P(CpuGradients, Float32AgreesWithFloat64) {
  CpuBackend<double> b64(1);
  CpuBackend<float> b32(2);
  for (Backend* be : {static_cast<Backend*>(&b64), static_cast<Backend*>(&b32)}) {
    be->upload(data, model.layout);
    be->set_model(model);
  }
  const int n = int(batch.size());
  std::vector<double> g64, g32;
  Predictions p64, p32;
  const double l64 = b64.loss_gradient(batch.data(), n, g64).loss;
  const double l32 = b32.loss_gradient(batch.data(), n, g32).loss;
  b64.evaluate(batch.data(), n, &p64);
  b32.evaluate(batch.data(), n, &p32);
  const double eg = tolerance_ratio(g32, g64, 1e-5 * max_abs(g64), 1e-4);
  const double ef = tolerance_ratio(p32.forces, p64.forces, 1e-5 * max_abs(p64.forces), 1e-4);
  const double ee = tolerance_ratio(p32.atom_energy, p64.atom_energy, 3e-6 * max_abs(p64.atom_energy), 3e-5);
  std::printf("  float32 vs float64 (ratio to tolerance): grad %.3g forces %.3g energies %.3g "
              "loss rel %.3g\n", eg, ef, ee, std::abs(l32 - l64) / l64);
  EXPECT_LE(eg, 1.0);
  EXPECT_LE(ef, 1.0);
  EXPECT_LE(ee, 1.0);
  EXPECT_NEAR(l32, l64, 1e-5 * l64);
  EXPECT_EQ(b32.name(), "cpu-float32");
  EXPECT_EQ(b64.name(), "cpu-float64");
}

const Case kCases[] = {
    {Activation::softplus, 1}, {Activation::softplus, 2}, {Activation::softplus, 3},
    {Activation::tanh, 1},     {Activation::tanh, 2},     {Activation::tanh, 3},
    {Activation::sigmoid, 1},  {Activation::sigmoid, 2},  {Activation::sigmoid, 3},
    {Activation::relu, 1},     {Activation::relu, 2},     {Activation::relu, 3},
    {Activation::linear, 1},   {Activation::linear, 2},   {Activation::linear, 3},
    {Activation::softplus, 1, true}, {Activation::tanh, 2, true}, {Activation::sigmoid, 3, true},
    {Activation::relu, 2, true},     {Activation::linear, 1, true},
};
INSTANTIATE_TEST_SUITE_P(AllActivationsAndOptions, CpuGradients, ::testing::ValuesIn(kCases),
                         case_name);

}  // namespace

// 32-bit derivative rows give exactly what the same (rounded) rows give in 64 bits.
TEST(CpuBackendRows, Dgrad32MatchesRoundedDgrad64) {
  Dataset d64 = random_dataset(5, 5, 6, 1);
  for (size_t i = 0; i < d64.dgrad64.size(); ++i) d64.dgrad64[i] = double(float(d64.dgrad64[i]));
  Dataset d32 = d64;
  d32.derivative_bits = 32;
  d32.dgrad64.clear();
  const Model model = random_model(d64, 1, Activation::softplus, {8}, 3);
  const auto batch = all_configs(d64);
  std::vector<double> ga, gb;
  CpuBackend<double> a(1), b(1);
  a.upload(d64, model.layout);
  a.set_model(model);
  b.upload(d32, model.layout);
  b.set_model(model);
  const double la = a.loss_gradient(batch.data(), int(batch.size()), ga).loss;
  const double lb = b.loss_gradient(batch.data(), int(batch.size()), gb).loss;
  // Same numbers in, different instantiations (float rows widened vs double rows): equal up
  // to the rounding of vectorized sums (bitwise only where the compiler emits the same code).
  EXPECT_NEAR(la, lb, 1e-13 * std::abs(la));
  ASSERT_EQ(ga.size(), gb.size());
  double gmax = 0;
  for (double x : ga) gmax = std::max(gmax, std::abs(x));
  for (size_t i = 0; i < ga.size(); ++i) EXPECT_NEAR(ga[i], gb[i], 1e-13 * gmax) << i;
}

// Small batches of one net are split between the threads by atoms and by rows (run_split):
// a batch of one large and three small configurations and a batch of the large one alone
// (every row cut falls inside it), options 1 and 3 against the naive reference with 2, 3
// and 5 threads, and the same bits on every repeat.
TEST(CpuBackendBatches, AtomSplitBatchesMatchTheReference) {
  const Dataset data = random_dataset(21, 12, 6, 2, 40);
  std::vector<int64_t> four = {0, 1, 2, 3};
  std::sort(four.begin(), four.end(),
            [&](int64_t a, int64_t b) { return data.natoms_of(a) > data.natoms_of(b); });
  ASSERT_GE(data.natoms_of(four[0]), 20);
  for (const std::vector<int64_t>& batch : {four, std::vector<int64_t>{four[0]}}) {
    const int n = int(batch.size());
    for (int option : {1, 3}) {
      const Model model = random_model(data, option, Activation::softplus, {9, 5}, 5 + option,
                                       option == 3);
      const NaiveResult ref = naive_batch(data, plain_model(model), batch);
      for (int threads : {2, 3, 5}) {
        CpuBackend<double> be(threads);
        be.upload(data, model.layout);
        be.set_model(model);
        std::vector<double> grad, again;
        const double loss = be.loss_gradient(batch.data(), n, grad).loss;
        EXPECT_NEAR(loss, ref.loss, 1e-12 * ref.loss) << threads << " threads, n " << n;
        const double eval = be.evaluate(batch.data(), n, nullptr).loss;
        EXPECT_NEAR(eval, ref.loss, 1e-12 * ref.loss) << threads << " threads, n " << n;
        if (option == 1)
          EXPECT_LE(rel_error(grad, ref.grad, 1e-6), 1e-11) << threads << " threads, n " << n;
        for (int rep = 0; rep < 5; ++rep) {
          const double l2 = be.loss_gradient(batch.data(), n, again).loss;
          EXPECT_TRUE(grad == again && l2 == loss) << threads << " threads: not reproducible";
        }
      }
    }
  }
}

// A batch larger than one chunk (several chunks per worker) gives the batch-weighted sum of
// the single-configuration gradients, with 1 and 2 threads.
TEST(CpuBackendBatches, ChunkedBatchEqualsSumOfConfigurations) {
  const Dataset data = random_dataset(11, 150, 5, 2, 8);
  const Model model = random_model(data, 2, Activation::tanh, {7, 4}, 9);
  const auto batch = all_configs(data);
  const int M = int(batch.size());
  for (int threads : {1, 2}) {
    CpuBackend<double> be(threads, 64);
    be.upload(data, model.layout);
    be.set_model(model);
    ASSERT_LT(be.chunk_capacity(), data.natoms()) << "the test needs several chunks";
    std::vector<double> grad, g, sum(size_t(model.layout.nparams()), 0.0);
    const double loss = be.loss_gradient(batch.data(), M, grad).loss;
    double lsum = 0.0;
    for (int64_t c = 0; c < M; ++c) {
      lsum += be.loss_gradient(&c, 1, g).loss / M;
      for (size_t i = 0; i < g.size(); ++i) sum[i] += g[i] / M;
    }
    EXPECT_LE(rel_error(grad, sum, 1e-6), 1e-11) << threads << " threads";
    EXPECT_NEAR(loss, lsum, 1e-12 * loss);
    const NaiveResult ref = naive_batch(data, model, batch);
    EXPECT_LE(rel_error(grad, ref.grad, 1e-6), 1e-11) << threads << " threads";
  }
}

// input_layer = trainable: the backend runs the folded net (fold_ops.cpp) and maps its gradient
// back; the same loss, gradient, predictions, beta and Adam steps as the plain passes over both
// layers, for options 1-3, on the worker path (1 thread, small chunks) and the split path.
TEST(CpuBackendFold, FoldedInputLayerMatchesThePlainPasses) {
  const Dataset data = random_dataset(31, 12, 6, 2, 30);
  const auto all = all_configs(data);
  const std::vector<int64_t> small = {3, 1};
  for (int option : {1, 2, 3}) {
    const Model model = random_model(data, option, Activation::softplus, {9, 5}, 40 + option,
                                     /*reparameterized=*/true);
    for (int threads : {1, 2, 3}) {
      for (int64_t chunk : {int64_t(0), int64_t(16)}) {
        CpuBackend<double> fold(threads, chunk), plain(threads, chunk, false);
        for (CpuBackend<double>* be : {&fold, &plain}) {
          be->upload(data, model.layout);
          be->set_model(model);
        }
        ASSERT_TRUE(fold.folds_input_layer());
        ASSERT_FALSE(plain.folds_input_layer());
        const std::string where = "option " + std::to_string(option) + ", " +
                                  std::to_string(threads) + " threads, chunk " +
                                  std::to_string(chunk);
        for (const auto& batch : {all, small}) {
          const int n = int(batch.size());
          std::vector<double> gf, gp, bf, bp;
          const double lf = fold.loss_gradient(batch.data(), n, gf).loss;
          const double lp = plain.loss_gradient(batch.data(), n, gp).loss;
          EXPECT_NEAR(lf, lp, 1e-12 * lp) << where;
          EXPECT_LE(rel_error(gf, gp, 1e-6), 1e-10) << where;
          Predictions pf, pp;
          fold.evaluate(batch.data(), n, &pf);
          plain.evaluate(batch.data(), n, &pp);
          EXPECT_LE(rel_error(pf.forces, pp.forces, 1e-6), 1e-11) << where;
          EXPECT_LE(rel_error(pf.atom_energy, pp.atom_energy, 1e-6), 1e-11) << where;
          fold.atom_beta(batch.data(), n, bf);
          plain.atom_beta(batch.data(), n, bp);
          EXPECT_LE(rel_error(bf, bp, 1e-6), 1e-11) << where;
        }
        // Three Adam steps: the fold is refreshed from the stepped parameters each time.
        std::vector<double> pf, pp;
        for (int step = 0; step < 3; ++step) {
          const auto& batch = step == 1 ? small : all;
          fold.train_step(batch.data(), int(batch.size()), 1e-2);
          plain.train_step(batch.data(), int(batch.size()), 1e-2);
        }
        fold.get_params(pf);
        plain.get_params(pp);
        EXPECT_LE(rel_error(pf, pp, 1e-6), 1e-9) << where;
        std::vector<double> gf, gp;
        fold.loss_gradient(all.data(), int(all.size()), gf);
        plain.loss_gradient(all.data(), int(all.size()), gp);
        EXPECT_LE(rel_error(gf, gp, 1e-6), 1e-8) << where << ", after the steps";
      }
    }
  }
}
