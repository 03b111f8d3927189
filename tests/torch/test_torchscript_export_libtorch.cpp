// The TorchScript model FitNN writes itself (export_torchscript, built with LibTorch), loaded
// by LibTorch's torch::jit::load: forward(descriptors float64 [n, nd], elems int64 [n]) and
// autograd must give FitNN's atom energies and beta (CPU backend, float64) within rtol 1e-12
// (atol 1e-14 x max|value|) for options 1, 2 and 3 with softplus and tanh on the golden W+Be
// configurations (two elements, mixed in each configuration), the golden Ta softplus model,
// and three elements with sigmoid/relu/linear where a batch holds no atom of one element;
// from a checkpoint, the best parameters (or the current ones) are written.
// Skipped when FitNN was built without LibTorch (FITNN_TORCH=OFF).
#include <torch/script.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "cpu/cpu_backend.hpp"
#include "cpu_fixtures.hpp"
#include "fitnn/backend.hpp"
#include "fitnn/checkpoint.hpp"
#include "fitnn/errors.hpp"
#include "fitnn/exports.hpp"
#include "fitnn/trainer.hpp"
#include "test_export_support.hpp"

using namespace fitnn;
using namespace fitnn_test;
namespace fs = std::filesystem;

namespace {

struct Reference {
  std::vector<double> energy;  // (natoms) atom energies, dataset order
  std::vector<double> beta;    // (natoms, ndesc)
};

Reference fitnn_reference(const Dataset& data, const Model& model) {
  Reference r;
  std::unique_ptr<Backend> be = make_backend("cpu", Precision::f64, 1);
  be->upload(data, model.layout);
  be->set_model(model);
  const auto batch = all_configs(data);
  Predictions pred;
  be->evaluate(batch.data(), int(batch.size()), &pred);
  r.energy = pred.atom_energy;
  auto* cpu = dynamic_cast<CpuBackend<double>*>(be.get());
  EXPECT_NE(cpu, nullptr);
  if (cpu) cpu->atom_beta(batch.data(), int(batch.size()), r.beta);
  return r;
}

struct Outcome {
  double energy_ratio = 0.0, beta_ratio = 0.0, max_de = 0.0, max_dbeta = 0.0;
};

// Loads `path`, runs the atoms selected by `keep` (all when empty) and compares with `want`.
Outcome run_and_compare(const std::string& path, const Dataset& data, const Reference& want,
                        const std::vector<int64_t>& keep = {}) {
  torch::jit::script::Module mod = torch::jit::load(path);
  std::vector<int64_t> atoms = keep;
  if (atoms.empty())
    for (int64_t i = 0; i < data.natoms(); ++i) atoms.push_back(i);
  const int64_t n = int64_t(atoms.size()), nd = data.ndesc;
  torch::Tensor x = torch::empty({n, nd}, torch::kFloat64);
  torch::Tensor elems = torch::empty({n}, torch::kInt64);
  std::vector<double> we, wb;
  for (int64_t r = 0; r < n; ++r) {
    const int64_t i = atoms[size_t(r)];
    std::copy_n(data.descriptors.data() + i * nd, nd, x.data_ptr<double>() + r * nd);
    elems.data_ptr<int64_t>()[r] = data.atom_type[size_t(i)];
    we.push_back(want.energy[size_t(i)]);
    wb.insert(wb.end(), want.beta.begin() + i * nd, want.beta.begin() + (i + 1) * nd);
  }
  x.requires_grad_(true);
  torch::Tensor e = mod.forward({x, elems}).toTensor();
  EXPECT_EQ(e.dim(), 1);
  EXPECT_EQ(e.size(0), n);
  EXPECT_EQ(e.scalar_type(), torch::kFloat64);
  e.sum().backward();
  const torch::Tensor ec = e.detach().contiguous(), bc = x.grad().contiguous();
  std::vector<double> ge(ec.data_ptr<double>(), ec.data_ptr<double>() + n);
  std::vector<double> gb(bc.data_ptr<double>(), bc.data_ptr<double>() + n * nd);
  Outcome o;
  o.energy_ratio = tolerance_ratio(ge, we, 1e-14 * max_abs(we), 1e-12);
  o.beta_ratio = tolerance_ratio(gb, wb, 1e-14 * max_abs(wb), 1e-12);
  for (size_t i = 0; i < ge.size(); ++i) o.max_de = std::max(o.max_de, std::abs(ge[i] - we[i]));
  for (size_t i = 0; i < gb.size(); ++i)
    o.max_dbeta = std::max(o.max_dbeta, std::abs(gb[i] - wb[i]));
  return o;
}

void check_case(const std::string& label, const Config& config, const Dataset& data,
                const Model& model, const std::vector<int64_t>& keep = {}) {
  TempDir dir;
  const std::string path = export_torchscript(config, model, dir.path);
  ASSERT_EQ(path, torchscript_export_path(config, dir.path));
  ASSERT_TRUE(file_exists(path));
  EXPECT_EQ(list_dir(dir.path).size(), 1u) << "temporary files left behind";

  torch::jit::script::Module mod = torch::jit::load(path);
  EXPECT_EQ(mod.attr("n_descriptors").toInt(), data.ndesc);
  EXPECT_EQ(mod.attr("n_elements").toInt(), data.ntypes);
  EXPECT_EQ(mod.attr("n_params").toInt(), model.layout.nparams());
  EXPECT_EQ(mod.attr("option").toInt(), model.layout.option);
  EXPECT_EQ(mod.attr("activation").toStringRef(), activation_name(model.layout.activation));
  int64_t nparams = 0;
  for (const auto& p : mod.parameters()) {
    EXPECT_EQ(p.scalar_type(), torch::kFloat64);
    nparams += p.numel();
  }
  EXPECT_EQ(nparams, model.layout.nparams());

  const Outcome o = run_and_compare(path, data, fitnn_reference(data, model), keep);
  std::printf("  %-32s LibTorch vs FitNN: max|dE| %.3g (ratio %.3g), max|dbeta| %.3g "
              "(ratio %.3g)\n",
              label.c_str(), o.max_de, o.energy_ratio, o.max_dbeta, o.beta_ratio);
  EXPECT_LE(o.energy_ratio, 1.0) << label;
  EXPECT_LE(o.beta_ratio, 1.0) << label;
}

bool skip() { return !torchscript_available(); }

}  // namespace

TEST(TorchScriptExport, OptionsAndActivationsMatchFitnn) {
  if (skip()) GTEST_SKIP() << "FitNN built without LibTorch (FITNN_TORCH)";
  const Dataset wbe = golden_data(wbe_golden());
  std::vector<int> count(2, 0);
  for (int t : wbe.atom_type) ++count[size_t(t)];
  ASSERT_GT(count[0], 0);
  ASSERT_GT(count[1], 0);
  for (Activation act : {Activation::softplus, Activation::tanh})
    for (int option : {1, 2, 3}) {
      const Config config = golden_config(wbe_golden(), "wbe_pot", act, option);
      const Model m = random_model(wbe, option, act, {12, 7}, 10 + option);
      check_case(std::string("WBe ") + activation_name(act) + " option " +
                     std::to_string(option),
                 config, wbe, m);
    }
}

TEST(TorchScriptExport, GoldenTaSoftplus) {
  if (skip()) GTEST_SKIP() << "FitNN built without LibTorch (FITNN_TORCH)";
  Dataset ta;
  Model ta_model;
  golden_dataset(ta_golden(), ta, ta_model);
  check_case("Ta golden softplus option 1",
             golden_config(ta_golden(), "ta_pot", Activation::softplus, 1), ta, ta_model);
}

TEST(TorchScriptExport, ThreeElementsAndAMissingOne) {
  if (skip()) GTEST_SKIP() << "FitNN built without LibTorch (FITNN_TORCH)";
  Config config;
  config.bispectrum.twojmax = 4;
  config.bispectrum.types = {"A", "B", "C"};
  config.bispectrum.num_types = 3;
  config.outfile.potential = "sub/abc";
  const int ndesc = config.bispectrum.num_descriptors();
  const Dataset data = random_dataset(5, 8, ndesc, 3);
  std::vector<int64_t> no_b;  // a batch without element 1
  for (int64_t i = 0; i < data.natoms(); ++i)
    if (data.atom_type[size_t(i)] != 1) no_b.push_back(i);
  ASSERT_LT(no_b.size(), size_t(data.natoms()));
  const std::pair<Activation, int> cases[] = {
      {Activation::sigmoid, 2}, {Activation::relu, 3}, {Activation::linear, 2}};
  for (const auto& [act, option] : cases) {
    const Model m = random_model(data, option, act, {6, 5, 4}, 20 + option);
    const std::string label =
        std::string("ABC ") + activation_name(act) + " option " + std::to_string(option);
    check_case(label, config, data, m);
    check_case(label + " no B", config, data, m, no_b);
  }
}

TEST(TorchScriptExport, ForwardRejectsBadArguments) {
  if (skip()) GTEST_SKIP() << "FitNN built without LibTorch (FITNN_TORCH)";
  TempDir dir;
  const Dataset wbe = golden_data(wbe_golden());
  const Config config = golden_config(wbe_golden(), "p", Activation::tanh, 2);
  const std::string path =
      export_torchscript(config, random_model(wbe, 2, Activation::tanh, {4}, 1), dir.path);
  torch::jit::script::Module mod = torch::jit::load(path);
  const int64_t nd = wbe.ndesc;
  auto x = torch::zeros({3, nd}, torch::kFloat64);
  EXPECT_EQ(mod.forward({x, torch::tensor({0, 1, 1}, torch::kInt64)}).toTensor().size(0), 3);
  EXPECT_EQ(mod.forward({x, torch::tensor({0, 1, 1}, torch::kInt32)}).toTensor().size(0), 3);
  EXPECT_EQ(mod.forward({torch::zeros({0, nd}, torch::kFloat64), torch::zeros({0}, torch::kInt64)})
                .toTensor()
                .size(0),
            0);
  EXPECT_THROW(mod.forward({torch::zeros({3, nd + 1}, torch::kFloat64),
                            torch::tensor({0, 1, 1}, torch::kInt64)}),
               std::exception);
  EXPECT_THROW(mod.forward({x, torch::tensor({0, 1}, torch::kInt64)}), std::exception);
  EXPECT_THROW(mod.forward({x, torch::tensor({0, 2, 1}, torch::kInt64)}), std::exception);
  EXPECT_THROW(mod.forward({x, torch::tensor({0, -1, 1}, torch::kInt64)}), std::exception);
}

TEST(TorchScriptExport, FromCheckpointUsesTheBestParameters) {
  if (skip()) GTEST_SKIP() << "FitNN built without LibTorch (FITNN_TORCH)";
  TempDir dir;
  const Dataset data = golden_data(wbe_golden());
  const Model best = random_model(data, 2, Activation::softplus, {6}, 8);
  TrainState s;
  s.model = random_model(data, 2, Activation::softplus, {6}, 9);  // the latest
  s.elements = {"W", "Be"};
  s.adam.m.assign(s.model.params.size(), 0.0);
  s.adam.v = s.adam.m;
  s.best_params = best.params;
  s.best_adam = s.adam;
  s.rng_state = rng_to_text(shuffle_rng(1));
  save_checkpoint(dir / "ckpt", s);
  const Config config = golden_config(wbe_golden(), "out/pot", Activation::softplus, 2);
  const std::string path = export_torchscript_from_checkpoint(config, dir / "ckpt", dir.path);
  EXPECT_EQ(path, dir / "out/pot.torchscript.pt");
  Outcome o = run_and_compare(path, data, fitnn_reference(data, best));
  EXPECT_LE(o.energy_ratio, 1.0);
  EXPECT_LE(o.beta_ratio, 1.0);
  export_torchscript_from_checkpoint(config, dir / "ckpt", dir.path, /*use_best=*/false);
  o = run_and_compare(path, data, fitnn_reference(data, s.model));
  EXPECT_LE(o.energy_ratio, 1.0);
  EXPECT_LE(o.beta_ratio, 1.0);

  Config other = config;
  other.bispectrum.types = {"Be", "W"};
  EXPECT_THROW(export_torchscript_from_checkpoint(other, dir / "ckpt", dir.path), InputError);
  EXPECT_THROW(export_torchscript_from_checkpoint(config, dir / "missing", dir.path),
               CheckpointError);
}
