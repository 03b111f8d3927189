// Small synthetic Datasets and Configs for the trainer, checkpoint and output tests: random
// descriptors, derivative rows and targets (no LAMMPS), with the sorting and offsets the
// Dataset contract requires. Also a Backend decorator that injects failures or raises the
// stop flag after a given number of training steps, and a capture of the log.
#pragma once
#include <cstdint>
#include <csignal>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "fitnn/backend.hpp"
#include "fitnn/config.hpp"
#include "fitnn/dataset.hpp"
#include "fitnn/errors.hpp"
#include "fitnn/log.hpp"

namespace fitnn_test {

// nconfigs configurations of 2..4 atoms, `ntypes` elements, ndesc descriptors, two groups
// ("bulk", "surface"); configuration c is for validation when testing[c] is set (default:
// every fourth).
inline fitnn::Dataset synthetic_dataset(int nconfigs, int ndesc, int ntypes, uint64_t seed,
                                        std::vector<uint8_t> testing = {}) {
  std::mt19937_64 gen(seed);
  auto uni = [&](double a, double b) { return a + (b - a) * double(gen() >> 11) * 0x1.0p-53; };
  fitnn::Dataset d;
  d.ndesc = ndesc;
  d.ntypes = ntypes;
  for (int t = 0; t < ntypes; ++t) d.type_names.push_back(std::string(1, char('A' + t)) + "x");
  d.group_names = {"bulk", "surface"};
  d.atom_offset.push_back(0);
  d.row_offset.push_back(0);
  for (int c = 0; c < nconfigs; ++c) {
    const int n = 2 + c % 3;
    d.atom_offset.push_back(d.atom_offset.back() + n);
    d.file_names.push_back("cfg" + std::to_string(c) + ".json");
    d.file_index.push_back(c);
    d.index_in_file.push_back(0);
    d.group.push_back(c % 2);
    d.testing.push_back(testing.empty() ? uint8_t(c % 4 == 3) : testing[c]);
    d.energy.push_back(uni(-2.0, 2.0) * n);
    d.ref_energy.push_back(0.0);
    d.eweight.push_back(c % 2 ? 2.0 : 1.0);
    d.fweight.push_back(c % 2 ? 0.5 : 1.0);
    d.vweight.push_back(1.0);
    for (int i = 0; i < n; ++i) {
      d.atom_type.push_back(int32_t((c + i) % ntypes));
      for (int k = 0; k < ndesc; ++k) d.descriptors.push_back(uni(0.0, 1.0) + 0.1 * k);
      for (int a = 0; a < 3; ++a) {
        d.forces.push_back(uni(-1.0, 1.0));
        d.ref_forces.push_back(0.0);
      }
    }
    // Rows sorted by k = 3 j + a, then i: every (i, j, a) of the configuration.
    for (int k = 0; k < 3 * n; ++k)
      for (int i = 0; i < n; ++i) {
        d.row_i.push_back(i);
        d.row_k.push_back(k);
        for (int q = 0; q < ndesc; ++q) d.dgrad64.push_back(uni(-0.3, 0.3));
      }
    d.row_offset.push_back(d.row_offset.back() + int64_t(3 * n * n));
  }
  return d;
}

// A Config for a small fast fit: one hidden layer of 6, fixed seed, no checkpoints shared.
inline fitnn::Config small_config(const std::string& dir) {
  fitnn::Config c;
  c.input_path = dir + "/test.in";
  c.input_dir = dir;
  c.train.hidden_sizes = {6, 5};
  c.train.learning_rate = 5e-3;
  c.train.num_epochs = 6;
  c.train.batch_size = 3;
  c.train.manual_seed_flag = true;
  c.train.seed = 7;
  c.train.shuffle_flag = true;
  c.train.save_state_output = "state.bin";
  c.outfile.metrics = "metrics.md";
  return c;
}

// Passes everything to `inner`; throws NumericError at training step `fail_at` (1-based,
// counting every train_step call) and raises *stop after step `stop_at`.
class ScriptedBackend : public fitnn::Backend {
 public:
  explicit ScriptedBackend(fitnn::Backend& inner) : m_inner(inner) {}
  int64_t fail_at = -1;
  int64_t stop_at = -1;
  volatile std::sig_atomic_t* stop = nullptr;
  int64_t steps = 0;
  std::vector<double> lrs;  // learning rate of every step

  std::string name() const override { return "scripted(" + m_inner.name() + ")"; }
  void upload(const fitnn::Dataset& d, const fitnn::ModelLayout& l) override {
    m_inner.upload(d, l);
  }
  void set_model(const fitnn::Model& m) override { m_inner.set_model(m); }
  void get_params(std::vector<double>& p) override { m_inner.get_params(p); }
  void set_adam(const fitnn::AdamState& a) override { m_inner.set_adam(a); }
  void get_adam(fitnn::AdamState& a) override { m_inner.get_adam(a); }
  fitnn::BatchStats loss_gradient(const int64_t* c, int n, std::vector<double>& g) override {
    return m_inner.loss_gradient(c, n, g);
  }
  fitnn::BatchStats train_step(const int64_t* c, int n, double lr) override {
    ++steps;
    if (steps == fail_at) throw fitnn::NumericError("NaN in the loss (injected)");
    lrs.push_back(lr);
    fitnn::BatchStats s = m_inner.train_step(c, n, lr);
    if (steps == stop_at && stop) *stop = 1;
    return s;
  }
  fitnn::BatchStats evaluate(const int64_t* c, int n, fitnn::Predictions* out) override {
    return m_inner.evaluate(c, n, out);
  }

 private:
  fitnn::Backend& m_inner;
};

// Captures the log for a test; restores the default output afterwards.
struct LogCapture {
  std::vector<std::string> lines;
  LogCapture() {
    fitnn::set_log_sink([this](fitnn::LogLevel, const std::string& m) { lines.push_back(m); });
  }
  ~LogCapture() { fitnn::set_log_sink(nullptr); }
  bool contains(const std::string& s) const {
    for (const std::string& l : lines)
      if (l.find(s) != std::string::npos) return true;
    return false;
  }
};

}  // namespace fitnn_test
