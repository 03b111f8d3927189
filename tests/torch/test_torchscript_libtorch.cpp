// The TorchScript export in C++: tools/fitnn_convert.py torchscript writes the file from a
// FitNN checkpoint, LibTorch loads it with torch::jit::load, and forward(descriptors float64
// [n, nd], elems int64 [n]) plus autograd must give FitNN's atom energies and beta (CPU
// backend, float64) within rtol 1e-12 (atol 1e-14 x max|value|), for the golden softplus
// models (options 1 and 2) and random tanh/sigmoid models (options 3 and 1, two elements).
#include <torch/script.h>

#include <cstdio>
#include <filesystem>

#include "cpu/cpu_backend.hpp"
#include "cpu_fixtures.hpp"
#include "fitnn/checkpoint.hpp"
#include "fitnn/trainer.hpp"
#include "support.hpp"

using namespace fitnn;
using namespace fitnn_test;
namespace fs = std::filesystem;

namespace {

std::string venv_python() {
  if (const char* p = std::getenv("FITNN_PYTHON")) return p;
  return std::string(FITNN_SOURCE_DIR) + "/.venv/bin/python";
}

Model random_model(const Dataset& data, int option, Activation act, uint64_t seed) {
  TrainSettings t;
  t.hidden_sizes = {12, 7};
  t.multi_element_option = option;
  t.activation = act;
  Model m;
  m.layout = ModelLayout::from_settings(data.ndesc, data.ntypes, t);
  m.initialize(seed);
  compute_standardization(data.descriptors.data(), data.natoms(), data.ndesc, {}, m.mean, m.std);
  return m;
}

void check_case(const std::string& label, const Dataset& data, const Model& model,
                const std::vector<std::string>& elements) {
  TempDir dir;
  TrainState s;
  s.model = model;
  s.elements = elements;
  s.adam.m.assign(model.params.size(), 0.0);
  s.adam.v = s.adam.m;
  s.best_params = model.params;
  s.best_adam = s.adam;
  s.rng_state = rng_to_text(shuffle_rng(1));
  save_checkpoint(dir / "model.ckpt", s);
  const CliResult r = run_shell("'" + venv_python() + "' '" FITNN_SOURCE_DIR
                                "/tools/fitnn_convert.py' torchscript model.ckpt -o model.pt",
                                dir.path);
  ASSERT_EQ(r.exit_code, 0) << r.out;

  torch::jit::script::Module mod = torch::jit::load(dir / "model.pt");
  EXPECT_EQ(mod.attr("n_descriptors").toInt(), data.ndesc);
  EXPECT_EQ(mod.attr("n_elements").toInt(), data.ntypes);
  EXPECT_EQ(mod.attr("n_params").toInt(), model.layout.nparams());

  const int64_t n = data.natoms();
  torch::Tensor x = torch::from_blob(const_cast<double*>(data.descriptors.data()),
                                     {n, int64_t(data.ndesc)}, torch::kFloat64)
                        .clone()
                        .requires_grad_(true);
  std::vector<int64_t> types(data.atom_type.begin(), data.atom_type.end());
  torch::Tensor elems = torch::from_blob(types.data(), {n}, torch::kInt64).clone();
  torch::Tensor e = mod.forward({x, elems}).toTensor();
  ASSERT_EQ(e.dim(), 1);
  ASSERT_EQ(e.size(0), n);
  e.sum().backward();
  const torch::Tensor beta = x.grad().contiguous();

  CpuBackend<double> be(1);
  be.upload(data, model.layout);
  be.set_model(model);
  const auto batch = all_configs(data);
  Predictions pred;
  be.evaluate(batch.data(), int(batch.size()), &pred);
  std::vector<double> want_beta;
  be.atom_beta(batch.data(), int(batch.size()), want_beta);

  const torch::Tensor ec = e.detach().contiguous();
  std::vector<double> got_e(ec.data_ptr<double>(), ec.data_ptr<double>() + n);
  std::vector<double> got_b(beta.data_ptr<double>(), beta.data_ptr<double>() + n * data.ndesc);
  const double re = tolerance_ratio(got_e, pred.atom_energy, 1e-14 * max_abs(pred.atom_energy), 1e-12);
  const double rb = tolerance_ratio(got_b, want_beta, 1e-14 * max_abs(want_beta), 1e-12);
  double de = 0.0, db = 0.0;
  for (size_t i = 0; i < got_e.size(); ++i) de = std::max(de, std::abs(got_e[i] - pred.atom_energy[i]));
  for (size_t i = 0; i < got_b.size(); ++i) db = std::max(db, std::abs(got_b[i] - want_beta[i]));
  std::printf("  %-22s LibTorch vs FitNN: max|dE| %.3g (ratio %.3g), max|dbeta| %.3g (ratio %.3g)\n",
              label.c_str(), de, re, db, rb);
  EXPECT_LE(re, 1.0) << label;
  EXPECT_LE(rb, 1.0) << label;
}

}  // namespace

TEST(TorchScriptLibTorch, MatchesFitnn) {
  ASSERT_TRUE(fs::exists(venv_python())) << venv_python() << ": run tools/install_deps.sh";
  Dataset ta, wbe;
  Model ta_model, wbe_model;
  golden_dataset(ta_golden(), ta, ta_model);
  golden_dataset(wbe_golden(), wbe, wbe_model);
  check_case("Ta softplus option 1", ta, ta_model, {"Ta"});
  check_case("WBe softplus option 2", wbe, wbe_model, {"W", "Be"});
  check_case("WBe tanh option 3", wbe, random_model(wbe, 3, Activation::tanh, 7), {"W", "Be"});
  check_case("WBe sigmoid option 1", wbe, random_model(wbe, 1, Activation::sigmoid, 8), {"W", "Be"});
}
