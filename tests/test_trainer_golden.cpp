// The trainer against the independent oracle (shared/reference/ta_golden.json): the golden
// Ta network loaded from a checkpoint and evaluated in evaluation mode, its energies, forces
// and errors through the outputs (metrics, peratom.dat, perconfig.dat).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <sstream>

#include "fitnn/checkpoint.hpp"
#include "fitnn/log.hpp"
#include "fitnn/trainer.hpp"
#include "support.hpp"
#include "train_fixtures.hpp"

using namespace fitnn;
using fitnn_test::LogCapture;
using fitnn_test::TempDir;

namespace {

// The three golden Ta configurations as a Dataset (all training), rows sorted as required.
Dataset golden_dataset(const nlohmann::json& g) {
  Dataset d;
  d.ndesc = g["bispectrum"]["ncoeff"].get<int>();
  d.ntypes = 1;
  d.type_names = {"Ta"};
  d.group_names = {"golden"};
  d.atom_offset = {0};
  d.row_offset = {0};
  int c = 0;
  for (const auto& cfg : g["configs"]) {
    const int n = cfg["natoms"].get<int>();
    d.atom_offset.push_back(d.atom_offset.back() + n);
    d.file_names.push_back(cfg["file"].get<std::string>());
    d.file_index.push_back(c++);
    d.index_in_file.push_back(0);
    d.group.push_back(0);
    d.testing.push_back(0);
    d.energy.push_back(cfg["energy_target_per_atom"].get<double>() * n);
    d.ref_energy.push_back(cfg["ref_energy"].get<double>());
    d.eweight.push_back(g["loss"]["eweight"].get<double>());
    d.fweight.push_back(g["loss"]["fweight"].get<double>());
    d.vweight.push_back(1.0);
    for (int i = 0; i < n; ++i) {
      d.atom_type.push_back(cfg["types"][i].get<int>() - 1);
      for (double x : cfg["descriptors"][i]) d.descriptors.push_back(x);
      for (double f : cfg["forces_target"][i]) d.forces.push_back(f);
      for (double f : cfg["ref_forces"][i]) d.ref_forces.push_back(f);
    }
    std::vector<std::array<int, 3>> keys;  // (k, i, row)
    for (size_t r = 0; r < cfg["dgrad_index"].size(); ++r) {
      const auto& ix = cfg["dgrad_index"][r];
      keys.push_back({3 * ix[1].get<int>() + ix[2].get<int>(), ix[0].get<int>(), int(r)});
    }
    std::sort(keys.begin(), keys.end());
    for (const auto& k : keys) {
      d.row_k.push_back(k[0]);
      d.row_i.push_back(k[1]);
      for (double v : cfg["dgrad"][k[2]]) d.dgrad64.push_back(v);
    }
    d.row_offset.push_back(d.row_offset.back() + int64_t(keys.size()));
  }
  return d;
}

std::vector<std::vector<std::string>> table_of(const std::string& path) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(fitnn_test::read_text(path));
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::vector<std::string> t;
    std::string w;
    while (ls >> w) t.push_back(w);
    rows.push_back(t);
  }
  return rows;
}

}  // namespace

TEST(Trainer, EvaluatesTheGoldenTaModelExactly) {
  LogCapture log;
  const nlohmann::json& g = fitnn_test::ta_golden();
  Dataset data = golden_dataset(g);
  TempDir dir;

  // A checkpoint holding the golden network.
  TrainState s;
  ModelLayout& L = s.model.layout;
  L.ndesc = data.ndesc;
  L.nelements = 1;
  L.option = 1;
  L.widths = g["network"]["layer_sizes"].get<std::vector<int>>();
  L.activation = activation_from_name(g["network"]["activation"].get<std::string>());
  const auto& net = g["network"]["nets"][0];
  for (size_t l = 0; l < net["weights"].size(); ++l) {
    for (const auto& row : net["weights"][l])
      for (double w : row) s.model.params.push_back(w);
    for (double b : net["biases"][l]) s.model.params.push_back(b);
  }
  ASSERT_EQ(int64_t(s.model.params.size()), L.nparams());
  s.model.mean = g["network"]["standardize_mean"].get<std::vector<double>>();
  s.model.std = g["network"]["standardize_std"].get<std::vector<double>>();
  s.elements = {"Ta"};
  s.adam.m.assign(s.model.params.size(), 0.0);
  s.adam.v = s.adam.m;
  s.best_params = s.model.params;
  s.best_adam = s.adam;
  s.rng_state = rng_to_text(shuffle_rng(1));
  save_checkpoint(dir / "golden.ckpt", s);

  Config cfg = fitnn_test::small_config(dir.path);
  cfg.train.hidden_sizes.assign(L.widths.begin() + 1, L.widths.end() - 1);
  cfg.train.batch_size = 3;  // one batch: the golden loss is over the three configurations
  cfg.train.num_epochs = 1;
  cfg.train.save_state_input = dir / "golden.ckpt";
  cfg.extras.dump_peratom = cfg.extras.dump_perconfig = true;
  std::unique_ptr<Backend> cpu = make_backend("cpu", Precision::f64, 1);
  FitOptions opt;
  opt.output_dir = dir.path;
  FitSummary sum = run_fit(cfg, data, *cpu, opt);
  ASSERT_TRUE(sum.evaluation_only);
  const double golden_loss = g["loss"]["value"].get<double>();
  EXPECT_NEAR(sum.best_val_loss, golden_loss, 1e-10 * golden_loss);

  // perconfig: per-atom target and prediction of every configuration.
  const auto per = table_of(dir / "perconfig.dat");
  ASSERT_EQ(per.size(), g["configs"].size());
  for (size_t c = 0; c < per.size(); ++c) {
    const auto& cfgj = g["configs"][c];
    const int n = cfgj["natoms"].get<int>();
    EXPECT_EQ(per[c][0], cfgj["file"].get<std::string>());
    EXPECT_EQ(std::stoi(per[c][2]), n);
    EXPECT_EQ(std::stod(per[c][3]), cfgj["energy_target_per_atom"].get<double>() * n / n);
    const double pred = cfgj["energy_pred"].get<double>() / n;
    EXPECT_NEAR(std::stod(per[c][4]), pred, 1e-10 * std::abs(pred) + 1e-14);
    EXPECT_EQ(per[c][5], "False");
  }
  // peratom: predicted forces of every atom, in order.
  const auto atoms = table_of(dir / "peratom.dat");
  size_t row = 0;
  double fmax = 0.0;
  for (const auto& cfgj : g["configs"])
    for (const auto& f : cfgj["forces_pred"])
      for (double x : f) fmax = std::max(fmax, std::abs(x));
  for (const auto& cfgj : g["configs"])
    for (size_t i = 0; i < cfgj["forces_pred"].size(); ++i, ++row) {
      ASSERT_LT(row, atoms.size());
      EXPECT_EQ(std::stoul(atoms[row][2]), i + 1);
      for (int a = 0; a < 3; ++a)
        EXPECT_NEAR(std::stod(atoms[row][7 + a]), cfgj["forces_pred"][i][a].get<double>(),
                    1e-12 * fmax + 1e-10 * std::abs(cfgj["forces_pred"][i][a].get<double>()));
    }
  EXPECT_EQ(row, atoms.size());
  // Metrics: *ALL Train Energy from the oracle's predictions.
  double mae = 0.0;
  for (const auto& cfgj : g["configs"])
    mae += std::abs(cfgj["energy_pred"].get<double>() / cfgj["natoms"].get<int>() -
                    cfgj["energy_target_per_atom"].get<double>());
  mae /= double(g["configs"].size());
  const auto metrics = table_of(dir / "metrics.md");
  ASSERT_GE(metrics.size(), 1u);
  EXPECT_EQ(metrics[0][0], "*ALL");
  EXPECT_NEAR(std::stod(metrics[0][4]), mae, 5e-4 * mae);  // %.3e
}
