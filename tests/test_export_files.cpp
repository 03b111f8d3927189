// The LAMMPS export files without LAMMPS: the mliap nn model file read back by an independent
// reader that follows LAMMPS's documented algorithm (energies and beta equal FitNN's CPU
// backend), LAMMPS's line limits, the softplus skip, every descriptor key, the reference
// rewrite of the .mod, planned_exports and the checkpoint entry point.
#include <cmath>
#include <filesystem>
#include <sstream>

#include "fitnn/checkpoint.hpp"
#include "fitnn/errors.hpp"
#include "fitnn/exports.hpp"
#include "fitnn/trainer.hpp"
#include "fitnn/log.hpp"
#include "test_export_support.hpp"

using namespace fitnn;
using namespace fitnn_test;
namespace fs = std::filesystem;

namespace {

// An mliap nn model file read the way LAMMPS reads it: '#' comments, the header line, the NET
// line, then per element means, scales and coefficients, each block ending at a line end.
struct NnFile {
  int nelements = 0, nparams = 0, ndesc = 0;
  std::vector<std::string> act;
  std::vector<int> nodes;
  std::vector<std::vector<double>> mean, scale, coeff;
  int max_values_per_line = 0;
  size_t max_line_length = 0;
};

NnFile read_nn(const std::string& text) {
  NnFile f;
  std::istringstream in(text);
  std::string line;
  int stage = -1, element = 0;
  std::vector<double>* block = nullptr;
  size_t want = 0;
  while (std::getline(in, line)) {
    f.max_line_length = std::max(f.max_line_length, line.size() + 1);
    const size_t hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    std::istringstream w(line);
    std::vector<std::string> words;
    for (std::string s; w >> s;) words.push_back(s);
    if (words.empty()) continue;
    if (stage == -1) {
      EXPECT_EQ(words.size(), 2u) << "header line";
      f.nelements = std::stoi(words[0]);
      f.nparams = std::stoi(words[1]);
      stage = 0;
      continue;
    }
    if (stage == 0) {
      EXPECT_EQ(words[0], "NET");
      f.ndesc = std::stoi(words[1]);
      const int nl = std::stoi(words[2]);
      for (int l = 0; l < nl; ++l) {
        f.act.push_back(words[size_t(3 + 2 * l)]);
        f.nodes.push_back(std::stoi(words[size_t(4 + 2 * l)]));
      }
      f.mean.resize(size_t(f.nelements));
      f.scale.resize(size_t(f.nelements));
      f.coeff.resize(size_t(f.nelements));
      stage = 1;
      block = &f.mean[0];
      want = size_t(f.ndesc);
      continue;
    }
    f.max_values_per_line = std::max(f.max_values_per_line, int(words.size()));
    for (auto& s : words) block->push_back(std::stod(s));
    EXPECT_LE(block->size(), want) << "a line crosses a block boundary (LAMMPS would overrun)";
    if (block->size() != want) continue;
    if (stage == 1) {
      stage = 2, block = &f.scale[size_t(element)];
    } else if (stage == 2) {
      stage = 3, block = &f.coeff[size_t(element)], want = size_t(f.nparams);
    } else if (++element < f.nelements) {
      stage = 1, block = &f.mean[size_t(element)], want = size_t(f.ndesc);
    } else {
      stage = 4;
    }
  }
  EXPECT_EQ(stage, 4) << "the file ended before every element's block";
  return f;
}

double act(const std::string& a, double z, double& d) {
  if (a == "tanh") return d = 1 - std::tanh(z) * std::tanh(z), std::tanh(z);
  if (a == "sigmoid") {
    const double s = 1 / (1 + std::exp(-z));
    return d = s * (1 - s), s;
  }
  if (a == "relu") return d = z > 0 ? 1 : 0, z > 0 ? z : 0;
  return d = 1, z;
}

// E_i and beta_i of one atom by LAMMPS's algorithm (bias first, then weights per node).
double nn_energy(const NnFile& f, int e, const double* B, std::vector<double>& beta) {
  const auto& c = f.coeff[size_t(e)];
  std::vector<std::vector<double>> h(f.nodes.size()), dh(f.nodes.size());
  std::vector<double> in(size_t(f.ndesc));
  for (int k = 0; k < f.ndesc; ++k) in[k] = (B[k] - f.mean[e][k]) / f.scale[e][k];
  std::vector<size_t> offset;
  size_t off = 0;
  const std::vector<double>* prev = &in;
  for (size_t l = 0; l < f.nodes.size(); ++l) {
    offset.push_back(off);
    const size_t nin = prev->size();
    for (int n = 0; n < f.nodes[l]; ++n) {
      double z = c[off + n * (nin + 1)];
      for (size_t k = 0; k < nin; ++k) z += c[off + n * (nin + 1) + 1 + k] * (*prev)[k];
      double d;
      h[l].push_back(act(f.act[l], z, d));
      dh[l].push_back(d);
    }
    off += f.nodes[l] * (nin + 1);
    prev = &h[l];
  }
  std::vector<double> g(1, 1.0);
  for (size_t l = f.nodes.size(); l-- > 0;) {
    const size_t nin = l == 0 ? size_t(f.ndesc) : h[l - 1].size();
    std::vector<double> gin(nin, 0.0);
    for (int n = 0; n < f.nodes[l]; ++n)
      for (size_t k = 0; k < nin; ++k)
        gin[k] += g[size_t(n)] * dh[l][size_t(n)] * c[offset[l] + n * (nin + 1) + 1 + k];
    g = gin;
  }
  beta.resize(size_t(f.ndesc));
  for (int k = 0; k < f.ndesc; ++k) beta[k] = g[size_t(k)] / f.scale[e][k];
  return h.back()[0];
}

void check_fold(const nlohmann::json& gold, int option, Activation a, const char* label) {
  const Dataset data = golden_data(gold);
  const Model m = random_model(data, option, a, {9, 5}, 100 + option);
  const Config config = golden_config(gold, "p", a, option);
  const NnFile f = read_nn(mliap_model_text(fold_for_lammps(m, config.bispectrum.types)));
  EXPECT_EQ(f.nelements, data.ntypes);
  EXPECT_LE(f.max_values_per_line, 30);
  EXPECT_LT(f.max_line_length, 1024u);
  CpuBackend<double> be(1);
  be.upload(data, m.layout);
  be.set_model(m);
  const auto batch = all_configs(data);
  Predictions pred;
  be.evaluate(batch.data(), int(batch.size()), &pred);
  std::vector<double> want_beta, got_e, got_beta, b;
  be.atom_beta(batch.data(), int(batch.size()), want_beta);
  for (int64_t i = 0; i < data.natoms(); ++i) {
    got_e.push_back(nn_energy(f, data.atom_type[size_t(i)], &data.descriptors[size_t(i * data.ndesc)], b));
    got_beta.insert(got_beta.end(), b.begin(), b.end());
  }
  const double re = tolerance_ratio(got_e, pred.atom_energy, 1e-13 * max_abs(pred.atom_energy), 1e-12);
  const double rb = tolerance_ratio(got_beta, want_beta, 1e-13 * max_abs(want_beta), 1e-11);
  std::printf("  %-24s atom energy ratio %.3g, beta ratio %.3g\n", label, re, rb);
  EXPECT_LE(re, 1.0) << label;
  EXPECT_LE(rb, 1.0) << label;
}

std::vector<std::string> capture_notes(const std::function<void()>& fn) {
  std::vector<std::string> notes;
  LogSink old = set_log_sink([&](LogLevel l, const std::string& m) {
    if (l != LogLevel::info) notes.push_back(m);
  });
  try {
    fn();
  } catch (...) {
    set_log_sink(old);
    throw;
  }
  set_log_sink(old);
  return notes;
}

}  // namespace

TEST(ExportFiles, FoldedModelEqualsFitnn) {
  check_fold(ta_golden(), 1, Activation::tanh, "Ta tanh option 1");
  check_fold(wbe_golden(), 1, Activation::tanh, "WBe tanh option 1");
  check_fold(wbe_golden(), 2, Activation::sigmoid, "WBe sigmoid option 2");
  check_fold(wbe_golden(), 3, Activation::tanh, "WBe tanh option 3");
  check_fold(wbe_golden(), 3, Activation::relu, "WBe relu option 3");
}

TEST(ExportFiles, WideLayersStayWithinLammpsLineLimits) {
  const Dataset data = golden_data(ta_golden());
  const Model m = random_model(data, 1, Activation::tanh, {64, 33}, 5);
  const NnFile f = read_nn(mliap_model_text(fold_for_lammps(m, {"Ta"})));
  EXPECT_LE(f.max_values_per_line, 30);
  EXPECT_LT(f.max_line_length, 1024u);
  EXPECT_EQ(f.nparams, 64 * 31 + 33 * 65 + 34);
}

TEST(ExportFiles, SoftplusIsSkippedWithANote) {
  TempDir dir;
  const auto& gold = ta_golden();
  const Dataset data = golden_data(gold);
  const Model m = random_model(data, 1, Activation::softplus, {8}, 1);
  const Config config = golden_config(gold, "pot", Activation::softplus, 1);
  EXPECT_THROW(fold_for_lammps(m, {"Ta"}), InputError);
  std::vector<std::string> written;
  const auto notes = capture_notes([&] { written = export_lammps(config, m, dir.path); });
  ASSERT_EQ(written.size(), 1u);
  EXPECT_EQ(written[0], dir / "pot.mliap.descriptor");
  if (torchscript_available()) written.push_back(export_torchscript(config, m, dir.path));
  EXPECT_EQ(planned_exports(config, dir.path), written);
  EXPECT_FALSE(file_exists(dir / "pot.mliap.model"));
  EXPECT_FALSE(file_exists(dir / "pot.mod"));
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("softplus"), std::string::npos) << notes[0];
  EXPECT_NE(notes[0].find("fitnn_convert.py mliappy"), std::string::npos) << notes[0];
}

TEST(ExportFiles, DescriptorWritesEveryKey) {
  Config c = golden_config(wbe_golden(), "p", Activation::tanh, 2);
  const std::string text = mliap_descriptor_text(c.bispectrum);
  for (const char* key : {"rcutfac 4.812302818\n", "twojmax 6\n", "nelems 2\n", "elems W Be\n",
                          "radelems 0.5 0.417932464\n", "welems 1 0.9590493408\n",
                          "rfac0 0.99363\n", "rmin0 0\n", "switchflag 1\n", "bzeroflag 1\n",
                          "wselfallflag 0\n", "chemflag 0\n", "bnormflag 0\n",
                          "switchinnerflag 0\n"})
    EXPECT_NE(text.find(key), std::string::npos) << key << " missing in\n" << text;
  EXPECT_EQ(text.find("\nsinnerelems"), std::string::npos);
  c.bispectrum.switchinnerflag = 1;
  c.bispectrum.sinner = {1.25, 0.75};
  c.bispectrum.dinner = {0.5, 0.125};
  const std::string inner = mliap_descriptor_text(c.bispectrum);
  EXPECT_NE(inner.find("switchinnerflag 1\nsinnerelems 1.25 0.75\ndinnerelems 0.5 0.125\n"),
            std::string::npos)
      << inner;
  c.bispectrum.sinner = {1.25};
  EXPECT_THROW(mliap_descriptor_text(c.bispectrum), InputError);
  c.bispectrum.switchinnerflag = 0;
  c.bispectrum.quadraticflag = 1;
  EXPECT_THROW(mliap_descriptor_text(c.bispectrum), InputError);
}

TEST(ExportFiles, ReferenceIsOverlaidWithoutZero) {
  ReferenceSettings r;
  r.pair_style = "hybrid/overlay zero 10.0 zbl 4.0 4.8";
  r.pair_coeffs = {"* * zero", "* * zbl 73 73"};
  ReferenceOverlay ov = reference_overlay(r);
  EXPECT_EQ(ov.pair_style_args, "zbl 4.0 4.8");
  EXPECT_EQ(ov.pair_coeffs, std::vector<std::string>{"pair_coeff * * zbl 73 73"});
  const std::string mod = lammps_include_text(r, {"Ta"}, "model nn p.mliap.model",
                                              "p.mliap.descriptor", "test");
  EXPECT_NE(mod.find("\npair_style hybrid/overlay zbl 4.0 4.8 mliap model nn p.mliap.model "
                     "descriptor sna p.mliap.descriptor\npair_coeff * * zbl 73 73\n"
                     "pair_coeff * * mliap Ta\n"),
            std::string::npos)
      << mod;
  EXPECT_EQ(mod.find("\npair_coeff * * zero"), std::string::npos) << mod;
  EXPECT_EQ(mod.find("overlay zero"), std::string::npos) << mod;

  r.pair_style = "zero 8.0 nocoeff";  // no reference potential at all
  r.pair_coeffs = {"* *"};
  ov = reference_overlay(r);
  EXPECT_TRUE(ov.pair_style_args.empty());
  EXPECT_TRUE(ov.pair_coeffs.empty());
  const std::string bare = lammps_include_text(r, {"W", "Be"}, "model nn a", "b", "t");
  EXPECT_NE(bare.find("\npair_style mliap model nn a descriptor sna b\npair_coeff * * W Be\n"),
            std::string::npos)
      << bare;

  r.pair_style = "hybrid zero 10.0 nocoeff zbl 4.0 4.8 zbl 3.0 3.5";  // plain hybrid, numbered
  r.pair_coeffs = {"pair_coeff * * zero", "1 1 zbl 1 74 74", "2 2 zbl 2 4 4"};
  ov = reference_overlay(r);
  EXPECT_EQ(ov.pair_style_args, "zbl 4.0 4.8 zbl 3.0 3.5");
  EXPECT_EQ(ov.pair_coeffs,
            (std::vector<std::string>{"pair_coeff 1 1 zbl 1 74 74", "pair_coeff 2 2 zbl 2 4 4"}));
  EXPECT_EQ(ov.notes.size(), 2u);  // hybrid -> hybrid/overlay, zero dropped

  r.pair_style = "zbl 4.0 4.8";  // a single style becomes a sub-style
  r.pair_coeffs = {"* * 73 73"};
  ov = reference_overlay(r);
  EXPECT_EQ(ov.pair_style_args, "zbl 4.0 4.8");
  EXPECT_EQ(ov.pair_coeffs, std::vector<std::string>{"pair_coeff * * zbl 73 73"});

  r.pair_style = "hybrid/scaled 0.5 zbl 4.0 4.8";
  EXPECT_THROW(reference_overlay(r), InputError);
  r.pair_style = "hybrid/overlay zero 10.0 zbl 4.0 4.8";
  r.pair_coeffs = {"* * morse 1 2 3"};
  EXPECT_THROW(reference_overlay(r), InputError);
}

TEST(ExportFiles, PlannedExportsAreWhatIsWritten) {
  TempDir dir;
  const auto& gold = wbe_golden();
  const Dataset data = golden_data(gold);
  const Model m = random_model(data, 2, Activation::tanh, {4}, 3);
  Config config = golden_config(gold, "sub/pot", Activation::tanh, 2);
  const auto planned = planned_exports(config, dir.path);
  ASSERT_EQ(planned.size(), torchscript_available() ? 4u : 3u);
  EXPECT_EQ(planned[2], dir / "sub/pot.mod");
  auto written = export_lammps(config, m, dir.path);
  if (torchscript_available()) written.push_back(export_torchscript(config, m, dir.path));
  EXPECT_EQ(written, planned);
  for (const auto& p : planned) EXPECT_TRUE(file_exists(p)) << p;
  EXPECT_NE(read_text(planned[2]).find("model nn pot.mliap.model descriptor sna "
                                       "pot.mliap.descriptor"),
            std::string::npos);
  config.outfile.potential = dir / "abs";  // absolute prefixes ignore output_dir
  EXPECT_EQ(planned_exports(config, "/elsewhere")[0], dir / "abs.mliap.descriptor");
  config.outfile.potential = "bad name";
  EXPECT_THROW(planned_exports(config, dir.path), InputError);
}

TEST(ExportFiles, ModelAndSettingsMustAgree) {
  TempDir dir;
  const auto& gold = wbe_golden();
  const Dataset data = golden_data(gold);
  Model m = random_model(data, 2, Activation::tanh, {4}, 3);
  Config config = golden_config(gold, "pot", Activation::tanh, 2);
  config.bispectrum.twojmax = 8;  // 55 descriptors, the model reads 30
  EXPECT_THROW(export_lammps(config, m, dir.path), InputError);
  config = golden_config(gold, "pot", Activation::tanh, 2);
  m.params[7] = std::nan("");
  EXPECT_THROW(export_lammps(config, m, dir.path), NumericError);
  EXPECT_FALSE(file_exists(dir / "pot.mod"));
}

TEST(ExportFiles, FromCheckpointUsesTheBestParameters) {
  TempDir dir;
  const auto& gold = wbe_golden();
  const Dataset data = golden_data(gold);
  const Model best = random_model(data, 3, Activation::tanh, {6}, 8);
  TrainState s;
  s.model = random_model(data, 3, Activation::tanh, {6}, 9);  // the latest, not the best
  s.elements = {"W", "Be"};
  const size_t np = s.model.params.size();
  s.adam.m.assign(np, 0.0);
  s.adam.v.assign(np, 0.0);
  s.best_params = best.params;
  s.best_adam = s.adam;
  s.rng_state = rng_to_text(shuffle_rng(1));
  save_checkpoint(dir / "ckpt", s);

  const Config config = golden_config(gold, "pot", Activation::tanh, 3);
  const auto files = export_lammps_from_checkpoint(config, dir / "ckpt", dir.path);
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(read_text(dir / "pot.mliap.model"),
            mliap_model_text(fold_for_lammps(best, {"W", "Be"})));
  export_lammps_from_checkpoint(config, dir / "ckpt", dir.path, /*use_best=*/false);
  EXPECT_EQ(read_text(dir / "pot.mliap.model"),
            mliap_model_text(fold_for_lammps(s.model, {"W", "Be"})));

  Config other = config;
  other.bispectrum.types = {"Be", "W"};
  EXPECT_THROW(export_lammps_from_checkpoint(other, dir / "ckpt", dir.path), InputError);
  EXPECT_THROW(export_lammps_from_checkpoint(config, dir / "missing", dir.path),
               CheckpointError);
}
