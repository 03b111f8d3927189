// The CPU float64 backend against the golden files (../shared/reference): atom energies,
// configuration energies, forces, beta, the loss and every parameter gradient, within
// rtol 1e-10 and atol 1e-12 x max|value| of each array. The loss of the golden file is that of
// ONE batch holding all its configurations.
#include <cstdio>

#include "cpu/cpu_backend.hpp"
#include "cpu_fixtures.hpp"
#include "support.hpp"

using namespace fitnn;
using namespace fitnn_test;

namespace {

constexpr double kRtol = 1e-10, kAtolRel = 1e-12;

double check(const char* what, const std::vector<double>& got, const std::vector<double>& want) {
  const double atol = kAtolRel * max_abs(want);
  const double ratio = tolerance_ratio(got, want, atol, kRtol);
  std::printf("  %-14s max |err| / (atol + rtol |ref|) = %.3g  (%zu values)\n", what, ratio,
              want.size());
  EXPECT_LE(ratio, 1.0) << what;
  EXPECT_GT(max_abs(want), 0.0) << what << ": an all-zero reference checks nothing";
  return ratio;
}

double golden_case(const nlohmann::json& gold, int threads) {
  Dataset data;
  Model model;
  golden_dataset(gold, data, model);
  CpuBackend<double> be(threads);
  be.upload(data, model.layout);
  be.set_model(model);
  const auto batch = all_configs(data);
  const int n = int(batch.size());

  std::vector<double> want_atom, want_energy, want_forces, want_beta;
  for (const auto& c : gold["configs"]) {
    for (const auto& v : c["atom_energies"]) want_atom.push_back(double(v));
    want_energy.push_back(double(c["energy_pred"]));
    for (const auto& row : c["forces_pred"])
      for (const auto& v : row) want_forces.push_back(double(v));
    for (const auto& row : c["beta"])
      for (const auto& v : row) want_beta.push_back(double(v));
  }

  double worst = 0.0;
  Predictions pred;
  BatchStats ev = be.evaluate(batch.data(), n, &pred);
  worst = std::max(worst, check("atom_energies", pred.atom_energy, want_atom));
  worst = std::max(worst, check("energy_pred", pred.energy, want_energy));
  worst = std::max(worst, check("forces_pred", pred.forces, want_forces));
  std::vector<double> beta;
  be.atom_beta(batch.data(), n, beta);
  worst = std::max(worst, check("beta", beta, want_beta));

  std::vector<double> grad;
  BatchStats st = be.loss_gradient(batch.data(), n, grad);
  const double want_loss = double(gold["loss"]["value"]);
  worst = std::max(worst, check("loss", {st.loss}, {want_loss}));
  worst = std::max(worst, check("evaluate loss", {ev.loss}, {want_loss}));
  worst = std::max(worst, check("gradient", grad, golden_gradient(gold, model.layout)));
  // Per layer too, so that a small layer is not hidden behind a large one's scale.
  const auto want_grad = golden_gradient(gold, model.layout);
  for (int e = 0; e < model.layout.nnets(); ++e)
    for (int l = 1; l <= model.layout.nlayers(); ++l) {
      const auto w0 = model.layout.weight_offset(e, l), b0 = model.layout.bias_offset(e, l);
      const auto b1 = b0 + model.layout.widths[l];
      std::vector<double> gw(grad.begin() + w0, grad.begin() + b0),
          ww(want_grad.begin() + w0, want_grad.begin() + b0),
          gb(grad.begin() + b0, grad.begin() + b1), wb(want_grad.begin() + b0, want_grad.begin() + b1);
      const std::string tag = "net" + std::to_string(e) + " L" + std::to_string(l);
      worst = std::max(worst, check((tag + " dW").c_str(), gw, ww));
      worst = std::max(worst, check((tag + " db").c_str(), gb, wb));
    }
  EXPECT_EQ(st.nconfigs, n);
  EXPECT_EQ(st.natoms, data.natoms());
  std::printf("  worst ratio %.3g (threads %d)\n", worst, threads);
  return worst;
}

}  // namespace

TEST(CpuGolden, StandardizationMatchesGolden) {
  for (const auto* gold : {&ta_golden(), &wbe_golden()}) {
    Dataset data;
    Model model;
    golden_dataset(*gold, data, model);
    std::vector<double> mean, std;
    compute_standardization(data.descriptors.data(), data.natoms(), data.ndesc, {}, mean, std);
    EXPECT_LE(tolerance_ratio(mean, model.mean, 1e-12 * max_abs(model.mean), 1e-12), 1.0);
    EXPECT_LE(tolerance_ratio(std, model.std, 1e-12 * max_abs(model.std), 1e-12), 1.0);
  }
}

TEST(CpuGolden, TaOption1) {
  EXPECT_LE(golden_case(ta_golden(), 1), 1.0);
}

TEST(CpuGolden, TaOption1TwoThreads) {
  EXPECT_LE(golden_case(ta_golden(), 2), 1.0);
}

TEST(CpuGolden, WBeOption2) {
  EXPECT_LE(golden_case(wbe_golden(), 1), 1.0);
}

TEST(CpuGolden, WBeOption2TwoThreads) {
  EXPECT_LE(golden_case(wbe_golden(), 2), 1.0);
}

// The golden gradient also holds when the batch is split into single-configuration batches
// and the gradients are recombined with the batch weights 1/M.
TEST(CpuGolden, TaBatchIsSumOfConfigurations) {
  Dataset data;
  Model model;
  golden_dataset(ta_golden(), data, model);
  CpuBackend<double> be(1);
  be.upload(data, model.layout);
  be.set_model(model);
  const int M = int(data.nconfigs());
  std::vector<double> sum(size_t(model.layout.nparams()), 0.0), g;
  double loss = 0.0;
  for (int64_t c = 0; c < M; ++c) {
    loss += be.loss_gradient(&c, 1, g).loss / M;
    for (size_t i = 0; i < g.size(); ++i) sum[i] += g[i] / M;
  }
  const auto want = golden_gradient(ta_golden(), model.layout);
  EXPECT_LE(tolerance_ratio(sum, want, kAtolRel * max_abs(want), kRtol), 1.0);
  EXPECT_NEAR(loss, double(ta_golden()["loss"]["value"]), 1e-10 * loss);
}
