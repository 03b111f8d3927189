// The converter tools/fitnn_convert.py, driven through the real files: this test writes FitNN
// checkpoints (golden softplus models, random tanh/sigmoid/relu models, options 1-3) with
// FitNN's own atom energies and beta (CPU backend, float64), runs tests/test_export_convert.py
// (TorchScript, mliappy called the way LAMMPS calls it, FitSNAP state dicts, the reverse
// conversions, the mliappy .mod), then loads the checkpoints the converter wrote back and
// checks FitNN's predictions with them: identical bit for bit after FitNN -> FitSNAP ->
// FitNN, within 1e-12 after FitNN -> mliappy -> FitNN.
#include <cstdio>
#include <filesystem>

#include "fitnn/checkpoint.hpp"
#include "fitnn/exports.hpp"
#include "fitnn/trainer.hpp"
#include "test_export_support.hpp"

using namespace fitnn;
using namespace fitnn_test;
namespace fs = std::filesystem;

namespace {

struct Case {
  std::string name;
  Dataset data;
  Model model;
};

TrainState state_of(const Model& m, const std::vector<std::string>& elements) {
  TrainState s;
  s.model = m;
  s.elements = elements;
  s.adam.m.assign(m.params.size(), 0.0);
  s.adam.v.assign(m.params.size(), 0.0);
  s.best_params = m.params;
  s.best_adam = s.adam;
  s.rng_state = rng_to_text(shuffle_rng(1));
  return s;
}

struct Outputs {
  std::vector<double> atom_energy, forces, beta;
};

Outputs predict(const Dataset& data, const Model& m) {
  CpuBackend<double> be(1);
  be.upload(data, m.layout);
  be.set_model(m);
  const auto batch = all_configs(data);
  Predictions p;
  be.evaluate(batch.data(), int(batch.size()), &p);
  Outputs o{p.atom_energy, p.forces, {}};
  be.atom_beta(batch.data(), int(batch.size()), o.beta);
  return o;
}

void write_case(const std::string& dir, const Case& c, const std::vector<std::string>& names) {
  save_checkpoint(dir + "/" + c.name + ".ckpt", state_of(c.model, names));
  const Outputs o = predict(c.data, c.model);
  nlohmann::json j;
  j["option"] = c.model.layout.option;
  j["nelements"] = c.model.layout.nelements;
  j["nparams"] = c.model.layout.nparams();
  j["widths"] = c.model.layout.widths;
  j["activation"] = activation_name(c.model.layout.activation);
  j["elements"] = names;
  const int d = c.data.ndesc;
  for (int64_t i = 0; i < c.data.natoms(); ++i) {
    j["descriptors"].push_back(std::vector<double>(c.data.descriptors.begin() + i * d,
                                                   c.data.descriptors.begin() + (i + 1) * d));
    j["beta"].push_back(std::vector<double>(o.beta.begin() + i * d, o.beta.begin() + (i + 1) * d));
    j["elems"].push_back(c.data.atom_type[size_t(i)]);
  }
  j["atom_energy"] = o.atom_energy;
  write_text(dir + "/" + c.name + ".json", j.dump());
}

// The mliappy .mod case: FitNN's own export and the FitSNAP script the converter reads.
void write_mod_case(const std::string& dir) {
  const auto& gold = wbe_golden();
  const Dataset data = golden_data(gold);
  const Model m = random_model(data, 2, Activation::tanh, {6}, 77);
  const Config config = golden_config(gold, "pot", Activation::tanh, 2);
  fs::create_directories(dir);
  export_lammps(config, m, dir);
  save_checkpoint(dir + "/model.ckpt", state_of(m, config.bispectrum.types));
  std::string s = "[BISPECTRUM]\nnumTypes = 2\ntype = W Be   # comment\n"
                  "[PYTORCH]\noutput_file = FitTorch_Pytorch.pt\n[REFERENCE]\nunits = metal\n"
                  "atom_style = atomic\npair_style = " + config.reference.pair_style + "\n";
  for (size_t k = 0; k < config.reference.pair_coeffs.size(); ++k)
    s += "pair_coeff" + std::to_string(k + 1) + " = " + config.reference.pair_coeffs[k] + "\n";
  s += "[OUTFILE]\npotential = pot\n";
  write_text(dir + "/in.fitsnap", s);
}

double worst_ratio(const Outputs& a, const Outputs& b) {
  double r = 0.0;
  r = std::max(r, tolerance_ratio(a.atom_energy, b.atom_energy, 1e-13 * max_abs(b.atom_energy), 1e-12));
  r = std::max(r, tolerance_ratio(a.forces, b.forces, 1e-13 * max_abs(b.forces), 1e-12));
  r = std::max(r, tolerance_ratio(a.beta, b.beta, 1e-13 * max_abs(b.beta), 1e-12));
  return r;
}

}  // namespace

TEST(ExportPython, ConverterRoundTrips) {
  const std::string python = venv_python();
  ASSERT_TRUE(fs::exists(python)) << python << " missing: run tools/install_deps.sh";
  TempDir dir;
  std::vector<Case> cases;
  {
    Case ta{"ta_softplus_1", {}, {}};
    golden_dataset(ta_golden(), ta.data, ta.model);
    cases.push_back(std::move(ta));
    Case wbe{"wbe_softplus_2", {}, {}};
    golden_dataset(wbe_golden(), wbe.data, wbe.model);
    cases.push_back(std::move(wbe));
    const Dataset wd = golden_data(wbe_golden()), td = golden_data(ta_golden());
    cases.push_back({"wbe_tanh_3", wd, random_model(wd, 3, Activation::tanh, {10, 6}, 3)});
    cases.push_back({"wbe_sigmoid_1", wd, random_model(wd, 1, Activation::sigmoid, {7}, 4)});
    cases.push_back({"ta_relu_2", td, random_model(td, 2, Activation::relu, {9, 4}, 5)});
  }
  for (const Case& c : cases)
    write_case(dir.path, c, c.data.ntypes == 1 ? std::vector<std::string>{"Ta"}
                                               : std::vector<std::string>{"W", "Be"});
  write_mod_case(dir / "mod_case");

  const CliResult r = run_shell("'" + python + "' tests/test_export_convert.py '" + dir.path + "'",
                                source_root());
  std::printf("%s", r.out.c_str());
  ASSERT_EQ(r.exit_code, 0) << "tests/test_export_convert.py failed (output above)";

  for (const Case& c : cases) {
    const Outputs want = predict(c.data, c.model);
    if (c.model.layout.option != 3) {
      const TrainState s = load_checkpoint(dir / (c.name + ".fitsnap.ckpt"));
      EXPECT_EQ(s.model.layout, c.model.layout) << c.name;
      EXPECT_EQ(s.model.params, c.model.params) << c.name << ": FitSNAP round trip not exact";
      EXPECT_EQ(s.model.mean, c.model.mean) << c.name;
      EXPECT_EQ(s.model.std, c.model.std) << c.name;
      const Outputs got = predict(c.data, s.model);
      EXPECT_EQ(got.atom_energy, want.atom_energy) << c.name;
      EXPECT_EQ(got.forces, want.forces) << c.name;
      EXPECT_EQ(s.rng_state, rng_to_text(shuffle_rng(0))) << "the converter's RNG state text";
      std::printf("  %-16s FitNN -> FitSNAP -> FitNN: predictions identical (bit for bit)\n",
                  c.name.c_str());
    }
    const TrainState s = load_checkpoint(dir / (c.name + ".mliappy.ckpt"));
    const Outputs got = predict(c.data, s.model);
    const double ratio = worst_ratio(got, want);
    std::printf("  %-16s FitNN -> mliappy -> FitNN: worst ratio %.3g (option %d -> %d)\n",
                c.name.c_str(), ratio, c.model.layout.option, s.model.layout.option);
    EXPECT_LE(ratio, 1.0) << c.name;
  }
}
