// The TorchScript model FitNN writes after a fit when built with LibTorch (export_torchscript,
// docs/EXPORTS.md), seen from outside: its path and place in the plan, its checks (nothing
// written on a bad model), Python's torch.jit.load (attributes, atom energies and autograd beta
// vs FitNN's CPU backend to rtol 1e-12, int32 element indices, the converter's TorchScript of
// the same checkpoint), and `fitnn` on a small Ta fit (the file written, the overwrite refusal
// covering it, --export from the checkpoint). No LibTorch header here: the LibTorch loading
// test is tests/torch/test_torchscript_export_libtorch.cpp. Without LibTorch only the
// "not available" behaviour is tested.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "fitnn/checkpoint.hpp"
#include "fitnn/errors.hpp"
#include "fitnn/exports.hpp"
#include "test_export_support.hpp"

using namespace fitnn;
using namespace fitnn_test;
namespace fs = std::filesystem;

namespace {

const char* kSkip = "FitNN built without LibTorch (FITNN_TORCH)";

// Loads every case folder's model with Python's torch, writes E.txt, beta.txt (autograd) and
// attrs.json there; checks int32 element indices give the same energies.
const char* kPythonCheck = R"PY(
import json, sys
import numpy as np
import torch
for case in sys.argv[1:]:
    m = torch.jit.load(case + "/model.pt")
    x = torch.from_numpy(np.loadtxt(case + "/x.txt", ndmin=2)).requires_grad_(True)
    e = torch.from_numpy(np.loadtxt(case + "/elems.txt", dtype=np.int64, ndmin=1))
    energy = m(x, e)
    energy.sum().backward()
    np.savetxt(case + "/E.txt", energy.detach().numpy(), fmt="%.17g")
    np.savetxt(case + "/beta.txt", x.grad.numpy(), fmt="%.17g")
    same32 = bool(torch.equal(m(x.detach(), e.to(torch.int32)), energy.detach()))
    attrs = {"n_descriptors": m.n_descriptors, "n_elements": m.n_elements,
             "n_params": m.n_params, "option": m.option, "activation": m.activation,
             "elements": list(m.elements), "dtype": str(energy.dtype), "int32": same32,
             "numel": sum(p.numel() for p in m.parameters())}
    with open(case + "/attrs.json", "w") as f:
        json.dump(attrs, f)
)PY";

std::vector<double> read_numbers(const std::string& path) {
  std::ifstream in(path);
  return std::vector<double>(std::istream_iterator<double>(in), std::istream_iterator<double>());
}

void write_numbers(const std::string& path, const double* v, size_t n, size_t per_line) {
  std::string text;
  char buf[40];
  for (size_t i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf, "%.17g", v[i]);
    text += buf;
    text += (i + 1) % per_line == 0 ? "\n" : " ";
  }
  write_text(path, text);
}

struct PyCase {
  std::string label, dir;
  Model model;
  Config config;
};

// FitNN's atom energies and beta (CPU backend, float64) for all atoms of `data`.
void fitnn_reference(const Dataset& data, const Model& model, std::vector<double>& energy,
                     std::vector<double>& beta) {
  CpuBackend<double> be(1);
  be.upload(data, model.layout);
  be.set_model(model);
  const auto batch = all_configs(data);
  Predictions pred;
  be.evaluate(batch.data(), int(batch.size()), &pred);
  energy = pred.atom_energy;
  be.atom_beta(batch.data(), int(batch.size()), beta);
}

}  // namespace

TEST(TorchScriptExportFiles, NotAvailableWithoutLibTorch) {
  if (torchscript_available()) GTEST_SKIP() << "FitNN built with LibTorch";
  TempDir dir;
  const Dataset data = golden_data(wbe_golden());
  const Config config = golden_config(wbe_golden(), "pot", Activation::tanh, 2);
  for (const auto& f : planned_exports(config, dir.path))
    EXPECT_EQ(f.find(".torchscript.pt"), std::string::npos) << f;
  EXPECT_THROW(export_torchscript(config, random_model(data, 2, Activation::tanh, {4}, 1),
                                  dir.path),
               OutputError);
  EXPECT_TRUE(list_dir(dir.path).empty());
}

TEST(TorchScriptExportFiles, PathPlanAndChecks) {
  if (!torchscript_available()) GTEST_SKIP() << kSkip;
  TempDir dir;
  const Dataset data = golden_data(wbe_golden());
  Config config = golden_config(wbe_golden(), "sub/pot", Activation::softplus, 3);
  EXPECT_EQ(torchscript_export_path(config, dir.path), dir / "sub/pot.torchscript.pt");
  EXPECT_EQ(torchscript_export_path(config), "sub/pot.torchscript.pt");
  const auto planned = planned_exports(config, dir.path);
  ASSERT_FALSE(planned.empty());
  EXPECT_EQ(planned.back(), dir / "sub/pot.torchscript.pt");
  const Model m = random_model(data, 3, Activation::softplus, {5}, 2);
  EXPECT_EQ(export_torchscript(config, m, dir.path), planned.back());
  EXPECT_EQ(list_dir(dir / "sub"), std::vector<std::string>{"pot.torchscript.pt"});

  // Nothing is written (and no temporary file is left) for a model that cannot be exported.
  TempDir bad;
  Model nan = m;
  nan.params[3] = std::nan("");
  EXPECT_THROW(export_torchscript(config, nan, bad.path), NumericError);
  Config other = config;
  other.bispectrum.twojmax = 8;
  EXPECT_THROW(export_torchscript(other, m, bad.path), InputError);
  other = config;
  other.outfile.potential = "dir/";
  EXPECT_THROW(export_torchscript(other, m, bad.path), InputError);
  Model short_mean = m;
  short_mean.mean.pop_back();
  EXPECT_THROW(export_torchscript(config, short_mean, bad.path), InputError);
  EXPECT_TRUE(list_dir(bad.path).empty());
  write_text(bad / "blocker", "a file where the folder should be");
  EXPECT_THROW(export_torchscript(config, m, bad / "blocker"), OutputError);
  EXPECT_EQ(list_dir(bad.path), std::vector<std::string>{"blocker"});
}

TEST(TorchScriptExportFiles, PythonLoadsAndMatchesFitnn) {
  if (!torchscript_available()) GTEST_SKIP() << kSkip;
  ASSERT_TRUE(fs::exists(venv_python())) << venv_python() << ": run tools/install_deps.sh";
  TempDir dir;
  const Dataset wbe = golden_data(wbe_golden());
  std::vector<PyCase> cases;
  const std::pair<Activation, int> layouts[] = {
      {Activation::softplus, 1}, {Activation::tanh, 2}, {Activation::softplus, 3}};
  for (const auto& [act, option] : layouts) {
    PyCase c;
    c.label = std::string(activation_name(act)) + " option " + std::to_string(option);
    c.dir = dir / ("case" + std::to_string(cases.size()));
    c.config = golden_config(wbe_golden(), c.dir + "/model", act, option);
    c.model = random_model(wbe, option, act, {10, 6}, 30 + option);
    // An absolute prefix: output_dir is ignored, the file is <prefix>.torchscript.pt.
    fs::create_directories(c.dir);
    ASSERT_EQ(export_torchscript(c.config, c.model, "/nonexistent"), c.dir + "/model.torchscript.pt");
    fs::rename(c.dir + "/model.torchscript.pt", c.dir + "/model.pt");
    write_numbers(c.dir + "/x.txt", wbe.descriptors.data(), wbe.descriptors.size(),
                  size_t(wbe.ndesc));
    std::vector<double> types(wbe.atom_type.begin(), wbe.atom_type.end());
    write_numbers(c.dir + "/elems.txt", types.data(), types.size(), 1);
    cases.push_back(std::move(c));
  }
  write_text(dir / "check.py", kPythonCheck);
  std::string args;
  for (const auto& c : cases) args += " '" + c.dir + "'";
  const CliResult r = run_shell("'" + venv_python() + "' check.py" + args, dir.path);
  ASSERT_EQ(r.exit_code, 0) << r.out;

  for (const auto& c : cases) {
    const auto attrs = load_json(c.dir + "/attrs.json");
    EXPECT_EQ(int(attrs["n_descriptors"]), wbe.ndesc) << c.label;
    EXPECT_EQ(int(attrs["n_elements"]), 2) << c.label;
    EXPECT_EQ(int64_t(attrs["n_params"]), c.model.layout.nparams()) << c.label;
    EXPECT_EQ(int64_t(attrs["numel"]), c.model.layout.nparams()) << c.label;
    EXPECT_EQ(int(attrs["option"]), c.model.layout.option) << c.label;
    EXPECT_EQ(std::string(attrs["activation"]), activation_name(c.model.layout.activation));
    EXPECT_EQ(attrs["elements"], nlohmann::json({"W", "Be"})) << c.label;
    EXPECT_EQ(std::string(attrs["dtype"]), "torch.float64") << c.label;
    EXPECT_TRUE(bool(attrs["int32"])) << c.label;

    std::vector<double> want_e, want_b;
    fitnn_reference(wbe, c.model, want_e, want_b);
    const std::vector<double> got_e = read_numbers(c.dir + "/E.txt");
    const std::vector<double> got_b = read_numbers(c.dir + "/beta.txt");
    ASSERT_EQ(got_e.size(), want_e.size()) << c.label;
    ASSERT_EQ(got_b.size(), want_b.size()) << c.label;
    const double re = tolerance_ratio(got_e, want_e, 1e-14 * max_abs(want_e), 1e-12);
    const double rb = tolerance_ratio(got_b, want_b, 1e-14 * max_abs(want_b), 1e-12);
    std::printf("  %-18s Python torch vs FitNN: energy ratio %.3g, beta ratio %.3g "
                "(1 = rtol 1e-12)\n",
                c.label.c_str(), re, rb);
    EXPECT_LE(re, 1.0) << c.label;
    EXPECT_LE(rb, 1.0) << c.label;
  }
}

// --- fitnn on a small Ta fit ----------------------------------------------------------------

namespace {

// 2 groups of 3 Ta configurations copied from ../shared/data/Ta (as tests/test_cli.cpp).
std::string small_ta_input() {
  return "[BISPECTRUM]\nnumTypes = 1\ntwojmax = 4\nrcutfac = 4.67637\nrfac0 = 0.99363\n"
         "rmin0 = 0.0\nwj = 1.0\nradelem = 0.5\ntype = Ta\nbzeroflag = 1\nquadraticflag = 0\n"
         "bikflag = 1\ndgradflag = 1\n"
         "[CALCULATOR]\ncalculator = LAMMPSSNAP\nenergy = 1\nforce = 1\nnonlinear = 1\n"
         "[PYTORCH]\nlayer_sizes = num_desc 8 1\nlearning_rate = 1e-3\nnum_epochs = 2\n"
         "batch_size = 2\nmanual_seed_flag = 1\nsave_state_output = small.pt\n"
         "[SOLVER]\nsolver = PYTORCH\n[SCRAPER]\nscraper = JSON\n[PATH]\ndataPath = data\n"
         "[OUTFILE]\nmetrics = small_metrics.md\npotential = small_pot\n"
         "[REFERENCE]\nunits = metal\natom_style = atomic\n"
         "pair_style = hybrid/overlay zero 10.0 zbl 4.0 4.8\npair_coeff1 = * * zero\n"
         "pair_coeff2 = * * zbl 73 73\n"
         "[GROUPS]\ngroup_sections = name training_size testing_size eweight fweight vweight\n"
         "Displaced_BCC = 2 1 100 1 0\nVolume_BCC = 2 1 1 1 0\n";
}

void make_small_ta_case(const TempDir& dir) {
  for (const char* group : {"Displaced_BCC", "Volume_BCC"}) {
    const std::string from = shared_dir() + "/data/Ta/" + group;
    const auto files = list_dir(from);
    ASSERT_GE(files.size(), 3u) << from;
    fs::create_directories(dir / ("data/" + std::string(group)));
    for (int k = 0; k < 3; ++k)
      fs::copy_file(from + "/" + files[size_t(k)],
                    dir / ("data/" + std::string(group) + "/" + files[size_t(k)]));
  }
  write_text(dir / "in.in", small_ta_input());
}

// The file FitNN wrote vs the converter's TorchScript of the checkpoint's best parameters, on
// random descriptors: the same model (the largest difference relative to max|E|).
const char* kCompareWithConverter = R"PY(
import sys
import torch
a = torch.jit.load("small_pot.torchscript.pt")
b = torch.jit.load("converted.pt")
assert a.n_descriptors == b.n_descriptors and a.n_params == b.n_params, "attributes differ"
torch.manual_seed(0)
x = torch.randn(9, a.n_descriptors, dtype=torch.float64) * 0.1 + a.mean
e = torch.zeros(9, dtype=torch.int64)
ea, eb = a(x, e), b(x, e)
rel = float((ea - eb).abs().max() / eb.abs().max())
print("max|dE| / max|E|", rel)
sys.exit(0 if rel <= 1e-12 else 1)
)PY";

}  // namespace

TEST(TorchScriptExportCli, FitWritesTheModelAndExportRewritesIt) {
  if (!torchscript_available()) GTEST_SKIP() << kSkip;
  TempDir dir;
  make_small_ta_case(dir);
  CliResult r = run_fitnn("in.in", dir.path);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("wrote small_pot.torchscript.pt"), std::string::npos) << r.out;
  ASSERT_TRUE(file_exists(dir / "small_pot.torchscript.pt"));
  for (const auto& name : list_dir(dir.path))
    EXPECT_EQ(name.find(".tmp."), std::string::npos) << name;

  // The same model as the converter's TorchScript of the best parameters.
  ASSERT_TRUE(fs::exists(venv_python())) << venv_python() << ": run tools/install_deps.sh";
  r = run_shell("'" + venv_python() + "' '" + source_root() +
                    "/tools/fitnn_convert.py' torchscript small.pt -o converted.pt",
                dir.path);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  write_text(dir / "compare.py", kCompareWithConverter);
  r = run_shell("'" + venv_python() + "' compare.py", dir.path);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  std::printf("  fitnn's file vs fitnn_convert.py torchscript: %s", r.out.c_str());

  // --export from the checkpoint writes it again (the LAMMPS files exist: --overwrite).
  fs::remove(dir / "small_pot.torchscript.pt");
  r = run_fitnn("--export small.pt in.in", dir.path);
  EXPECT_EQ(r.exit_code, 7) << r.out;
  EXPECT_FALSE(file_exists(dir / "small_pot.torchscript.pt"));
  r = run_fitnn("--overwrite --export small.pt in.in", dir.path);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("wrote small_pot.torchscript.pt"), std::string::npos) << r.out;
  EXPECT_TRUE(file_exists(dir / "small_pot.torchscript.pt"));
}

TEST(TorchScriptExportCli, ExistingModelFileIsNotOverwritten) {
  if (!torchscript_available()) GTEST_SKIP() << kSkip;
  TempDir dir;
  make_small_ta_case(dir);
  write_text(dir / "small_pot.torchscript.pt", "precious");
  CliResult r = run_fitnn("in.in", dir.path);
  EXPECT_EQ(r.exit_code, 7) << r.out;
  EXPECT_NE(r.out.find("small_pot.torchscript.pt"), std::string::npos) << r.out;
  EXPECT_EQ(read_text(dir / "small_pot.torchscript.pt"), "precious");
  EXPECT_FALSE(file_exists(dir / "small.pt"));
  r = run_fitnn("--export missing.pt in.in", dir.path);  // the --export branch refuses too
  EXPECT_EQ(r.exit_code, 7) << r.out;
  EXPECT_EQ(read_text(dir / "small_pot.torchscript.pt"), "precious");
}
