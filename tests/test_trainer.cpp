// The training loop (src/train/) on small synthetic datasets through the CPU backend:
// determinism, restart bit-for-bit (at an epoch boundary and mid-epoch), evaluation mode,
// the plateau scheduler on a scripted loss sequence, early stopping, divergence (stop or
// retry), global weights, a fit without validation set and the overwrite guard. The golden Ta
// network through the outputs: test_trainer_golden.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <regex>
#include <sstream>

#include "fitnn/checkpoint.hpp"
#include "fitnn/errors.hpp"
#include "fitnn/log.hpp"
#include "fitnn/trainer.hpp"
#include "support.hpp"
#include "train_fixtures.hpp"

using namespace fitnn;
using fitnn_test::LogCapture;
using fitnn_test::ScriptedBackend;
using fitnn_test::TempDir;

namespace {

constexpr int kConfigs = 16;  // 12 training (4 batches of 3), 4 validation
constexpr int kDesc = 5;

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 8) == 0;
}

struct FitRun {
  FitSummary summary;
  TrainState latest;
};

// One fit of `config` on a fresh copy of the synthetic data, outputs in `dir`.
FitRun fit(Config config, const std::string& dir, Dataset data, ScriptedBackend* scripted = nullptr,
           const volatile std::sig_atomic_t* stop = nullptr, int threads = 1) {
  std::unique_ptr<Backend> cpu = make_backend("cpu", Precision::f64, threads);
  FitOptions opt;
  opt.output_dir = dir;
  opt.overwrite = true;
  opt.stop_flag = stop;
  FitRun r;
  Backend& backend = scripted ? static_cast<Backend&>(*scripted) : *cpu;
  r.summary = run_fit(config, data, backend, opt);
  const std::string latest = dir + "/" + config.train.save_state_output + ".latest";
  if (std::filesystem::exists(latest)) r.latest = load_checkpoint(latest);
  return r;
}

Dataset data16() { return fitnn_test::synthetic_dataset(kConfigs, kDesc, 2, 42); }

void expect_same_training_state(const TrainState& a, const TrainState& b) {
  EXPECT_TRUE(same_bits(a.model.params, b.model.params));
  EXPECT_TRUE(same_bits(a.adam.m, b.adam.m));
  EXPECT_TRUE(same_bits(a.adam.v, b.adam.v));
  EXPECT_EQ(a.adam.step, b.adam.step);
  EXPECT_TRUE(same_bits(a.model.mean, b.model.mean));
  EXPECT_TRUE(same_bits(a.model.std, b.model.std));
  EXPECT_EQ(a.rng_state, b.rng_state);
  EXPECT_EQ(a.epoch, b.epoch);
  EXPECT_EQ(a.plateau.lr, b.plateau.lr);
  EXPECT_EQ(a.plateau.best, b.plateau.best);
  EXPECT_EQ(a.plateau.bad_epochs, b.plateau.bad_epochs);
  EXPECT_EQ(a.best_epoch, b.best_epoch);
  EXPECT_EQ(a.best_loss, b.best_loss);
  EXPECT_TRUE(same_bits(a.best_params, b.best_params));
  EXPECT_EQ(a.history.epoch, b.history.epoch);
  EXPECT_TRUE(same_bits(a.history.train, b.history.train));
  EXPECT_TRUE(same_bits(a.history.val, b.history.val));
}

}  // namespace

// ---- Scheduler and shuffle (no backend) ------------------------------------------------

TEST(PlateauScheduler, FollowsAScriptedLossSequence) {
  PlateauScheduler s(1.0, 0.5, 2, 0.1, 0.2);
  EXPECT_FALSE(s.step(1.0));    // first value: improvement, best 1.0
  EXPECT_FALSE(s.step(0.95));   // not below 1.0 - 0.1: bad 1
  EXPECT_FALSE(s.step(0.92));   // bad 2 (= patience, no reduction yet)
  EXPECT_EQ(s.state().bad_epochs, 2);
  EXPECT_TRUE(s.step(0.91));    // bad 3 > patience: lr 0.5
  EXPECT_EQ(s.lr(), 0.5);
  EXPECT_EQ(s.state().bad_epochs, 0);
  EXPECT_FALSE(s.step(0.85));   // 0.85 < 0.9: improvement
  EXPECT_EQ(s.state().best, 0.85);
  EXPECT_FALSE(s.step(std::nan("")));  // NaN is never an improvement
  EXPECT_FALSE(s.step(0.8));
  EXPECT_TRUE(s.step(0.76));    // 0.76 is not below 0.85 - 0.1
  EXPECT_EQ(s.lr(), 0.25);
  for (int k = 0; k < 2; ++k) EXPECT_FALSE(s.step(0.9));
  EXPECT_TRUE(s.step(0.9));
  EXPECT_EQ(s.lr(), 0.2);       // clamped at min_lr
  for (int k = 0; k < 3; ++k) EXPECT_FALSE(s.step(0.9));
  EXPECT_EQ(s.lr(), 0.2);       // nothing left to reduce
}

TEST(PlateauScheduler, FitsnapDefaultsReduceAfterFiftyFlatEpochs) {
  PlateauScheduler s(1e-2, 0.5, 49, 1e-4, 0.0);
  s.step(1.0);
  for (int k = 1; k <= 49; ++k) EXPECT_FALSE(s.step(1.0 - 0.9e-4 * k / 49)) << k;  // < 1e-4
  EXPECT_TRUE(s.step(0.99995));
  EXPECT_EQ(s.lr(), 5e-3);
}

TEST(Shuffle, PortableAndAPermutation) {
  // The standard fixes mt19937_64's sequence: the 10000th draw of the default seed.
  std::mt19937_64 std_gen;
  std_gen.discard(9999);
  EXPECT_EQ(std_gen(), 9981545732273789042ULL);

  std::mt19937_64 g = shuffle_rng(7);
  std::vector<int64_t> v(10);
  for (int k = 0; k < 10; ++k) v[k] = k;
  std::vector<int64_t> first = v;
  shuffle_indices(first, g);
  std::vector<int64_t> sorted = first;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, v);
  EXPECT_NE(first, v);
  // Text state round trip continues the same stream.
  std::mt19937_64 copy = rng_from_text(rng_to_text(g));
  EXPECT_EQ(copy(), g());
  for (int k = 0; k < 1000; ++k) EXPECT_LT(uniform_below(g, 3), 3u);
  EXPECT_THROW(rng_from_text("not a state"), CheckpointError);
}

// ---- Fits ------------------------------------------------------------------------------

TEST(Trainer, SameSeedSameHistoryBitwise) {
  LogCapture log;
  TempDir a, b, c;
  Config cfg = fitnn_test::small_config(a.path);
  FitRun ra = fit(cfg, a.path, data16());
  FitRun rb = fit(cfg, b.path, data16());
  ASSERT_EQ(ra.summary.history.size(), 6u);
  EXPECT_EQ(ra.summary.epochs_run, 6);
  EXPECT_TRUE(same_bits(ra.summary.history.train, rb.summary.history.train));
  EXPECT_TRUE(same_bits(ra.summary.history.val, rb.summary.history.val));
  EXPECT_TRUE(same_bits(ra.summary.best_model.params, rb.summary.best_model.params));
  EXPECT_EQ(fitnn_test::read_text(a / "loss_vs_epochs.dat"),
            fitnn_test::read_text(b / "loss_vs_epochs.dat"));
  // Training does something: the loss goes down.
  EXPECT_LT(ra.summary.history.train.back(), ra.summary.history.train.front());
  // Another seed, another run.
  cfg.train.seed = 8;
  FitRun rc = fit(cfg, c.path, data16());
  EXPECT_FALSE(same_bits(ra.summary.history.train, rc.summary.history.train));
  // One log line per epoch: "<epoch> <train> <val> <seconds>", the numbers of the history,
  // the seconds to 0.1 ms.
  std::regex line(R"(^(\d+) (\S+) (\S+) (\d+\.\d{4})$)");
  int epochs = 0;
  for (const std::string& l : log.lines) {
    std::smatch m;
    if (std::regex_match(l, m, line) && l.find("seed") == std::string::npos) {
      const size_t e = std::stoul(m[1]);
      if (epochs < 6) {
        ASSERT_EQ(e, size_t(epochs + 1));
        EXPECT_NEAR(std::stod(m[2]), ra.summary.history.train[e - 1],
                    1e-6 * ra.summary.history.train[e - 1]);
      }
      ++epochs;
    }
  }
  EXPECT_EQ(epochs, 18);
  EXPECT_TRUE(log.contains("cpu"));  // the backend that ran is logged
}

class TrainerThreads : public ::testing::TestWithParam<int> {};

TEST_P(TrainerThreads, RestartFromLatestContinuesBitForBit) {
  LogCapture log;
  const int threads = GetParam();
  TempDir whole, split;
  Config cfg = fitnn_test::small_config(whole.path);
  FitRun full = fit(cfg, whole.path, data16(), nullptr, nullptr, threads);

  Config first = cfg;
  first.train.num_epochs = 3;
  FitRun half = fit(first, split.path, data16(), nullptr, nullptr, threads);
  EXPECT_EQ(half.latest.epoch, 3);
  Config second = cfg;
  second.train.num_epochs = 3;
  second.train.save_state_input = split / "state.bin.latest";
  FitRun rest = fit(second, split.path, data16(), nullptr, nullptr, threads);
  EXPECT_EQ(rest.summary.epochs_run, 3);
  EXPECT_EQ(rest.summary.last_epoch, 6);
  expect_same_training_state(full.latest, rest.latest);
  EXPECT_TRUE(same_bits(full.summary.best_model.params, rest.summary.best_model.params));
  EXPECT_EQ(fitnn_test::read_text(whole / "loss_vs_epochs.dat"),
            fitnn_test::read_text(split / "loss_vs_epochs.dat"));
  EXPECT_EQ(fitnn_test::read_text(whole / "metrics.md"),
            fitnn_test::read_text(split / "metrics.md"));
}

INSTANTIATE_TEST_SUITE_P(OneAndTwo, TrainerThreads, ::testing::Values(1, 2));

// input_layer = trainable and output_scale = 0 (from the data): both survive the checkpoint
// (a restart that lost either would move differently) and the restart is bit for bit.
TEST(Trainer, InputLayerAndOutputScaleRestartBitForBit) {
  LogCapture log;
  TempDir whole, split;
  Config cfg = fitnn_test::small_config(whole.path);
  cfg.train.input_layer = true;
  cfg.train.output_scale = 0.0;
  FitRun full = fit(cfg, whole.path, data16(), nullptr, nullptr, 2);
  EXPECT_TRUE(full.latest.model.layout.input_layer);
  const double scale = full.latest.model.output_scale;
  EXPECT_GT(scale, 0.0);
  EXPECT_NE(scale, 1.0);
  EXPECT_TRUE(log.contains("output_scale"));
  EXPECT_LT(full.summary.history.train.back(), full.summary.history.train.front());

  Config first = cfg;
  first.train.num_epochs = 3;
  fit(first, split.path, data16(), nullptr, nullptr, 2);
  Config second = cfg;
  second.train.num_epochs = 3;
  second.train.save_state_input = split / "state.bin.latest";
  FitRun rest = fit(second, split.path, data16(), nullptr, nullptr, 2);
  EXPECT_EQ(rest.latest.model.output_scale, scale);
  expect_same_training_state(full.latest, rest.latest);
  EXPECT_TRUE(same_bits(full.summary.best_model.params, rest.summary.best_model.params));
}

TEST(Trainer, InterruptedMidEpochResumesBitForBit) {
  LogCapture log;
  TempDir whole, split;
  Config cfg = fitnn_test::small_config(whole.path);
  FitRun full = fit(cfg, whole.path, data16());

  // Stop after training step 6 = epoch 2, batch 2 of 4.
  std::unique_ptr<Backend> cpu = make_backend("cpu", Precision::f64, 1);
  ScriptedBackend scripted(*cpu);
  volatile std::sig_atomic_t stop = 0;
  scripted.stop = &stop;
  scripted.stop_at = 6;
  FitRun cut = fit(cfg, split.path, data16(), &scripted, &stop);
  EXPECT_TRUE(cut.summary.interrupted);
  EXPECT_EQ(cut.summary.epochs_run, 1);
  EXPECT_EQ(cut.latest.epoch, 1);
  EXPECT_EQ(cut.latest.batch_position, 2);
  EXPECT_EQ(cut.latest.order.size(), 12u);
  EXPECT_TRUE(std::filesystem::exists(split / "metrics.md"));  // outputs are consistent
  EXPECT_TRUE(log.contains("interrupted"));

  Config resume = cfg;
  resume.train.num_epochs = 5;  // the partial epoch 2, then 3..6
  resume.train.save_state_input = split / "state.bin.latest";
  FitRun rest = fit(resume, split.path, data16());
  EXPECT_EQ(rest.summary.last_epoch, 6);
  expect_same_training_state(full.latest, rest.latest);
}

TEST(Trainer, EvaluationModeLeavesTheModelUnchanged) {
  LogCapture log;
  TempDir train_dir, eval_dir;
  Config cfg = fitnn_test::small_config(train_dir.path);
  cfg.extras.dump_perconfig = true;
  FitRun trained = fit(cfg, train_dir.path, data16());
  const std::string best = train_dir / "state.bin";
  const std::string before = fitnn_test::read_text(best);
  const TrainState saved = load_checkpoint(best);

  Config ev = cfg;
  ev.train.save_state_input = best;
  ev.train.num_epochs = 1;
  EXPECT_TRUE(is_evaluation_run(ev.train));
  FitRun r = fit(ev, eval_dir.path, data16());
  EXPECT_TRUE(r.summary.evaluation_only);
  EXPECT_EQ(r.summary.epochs_run, 0);
  EXPECT_TRUE(same_bits(r.summary.best_model.params, saved.model.params));
  EXPECT_EQ(fitnn_test::read_text(best), before);
  // Only the error outputs: no checkpoint, no loss history.
  EXPECT_EQ(fitnn_test::list_dir(eval_dir.path),
            (std::vector<std::string>{"metrics.md", "perconfig.dat"}));
  // The best model's errors are those the training run reported.
  EXPECT_EQ(fitnn_test::read_text(eval_dir / "metrics.md"),
            fitnn_test::read_text(train_dir / "metrics.md"));
  EXPECT_EQ(fitnn_test::read_text(eval_dir / "perconfig.dat"),
            fitnn_test::read_text(train_dir / "perconfig.dat"));
  EXPECT_EQ(r.summary.best_val_loss, trained.summary.best_val_loss);
}

TEST(Trainer, EarlyStoppingAfterEpochsWithoutImprovement) {
  LogCapture log;
  TempDir dir;
  Config cfg = fitnn_test::small_config(dir.path);
  cfg.train.learning_rate = 0.0;  // nothing changes: the validation loss never improves
  cfg.train.num_epochs = 20;
  cfg.train.early_stopping = 3;
  FitRun r = fit(cfg, dir.path, data16());
  EXPECT_TRUE(r.summary.early_stopped);
  EXPECT_EQ(r.summary.best_epoch, 1);
  EXPECT_EQ(r.summary.epochs_run, 4);
  EXPECT_EQ(r.latest.epoch, 4);
  EXPECT_TRUE(log.contains("early stopping"));
  for (size_t k = 1; k < r.summary.history.size(); ++k)
    EXPECT_EQ(r.summary.history.val[k], r.summary.history.val[0]);
}

TEST(Trainer, SchedulerIsSteppedOnTheValidationLoss) {
  LogCapture log;
  TempDir dir;
  std::unique_ptr<Backend> cpu = make_backend("cpu", Precision::f64, 1);
  ScriptedBackend scripted(*cpu);
  Config cfg = fitnn_test::small_config(dir.path);
  cfg.train.learning_rate = 1e-3;
  cfg.train.num_epochs = 5;
  cfg.train.lr_patience = 1;
  cfg.train.lr_threshold = 1e3;  // no epoch after the first counts as an improvement
  FitRun r = fit(cfg, dir.path, data16(), &scripted);
  // Epoch 1 sets best; epochs 2 and 3 are bad -> reduction after epoch 3; 4, 5 -> after 5.
  ASSERT_EQ(scripted.lrs.size(), 20u);
  EXPECT_EQ(scripted.lrs[0], 1e-3);
  EXPECT_EQ(scripted.lrs[3 * 4 - 1], 1e-3);  // last step of epoch 3
  EXPECT_EQ(scripted.lrs[3 * 4], 5e-4);      // first step of epoch 4
  EXPECT_EQ(r.latest.plateau.lr, 2.5e-4);
  // The best model is still the one of epoch 1 only if the loss went up; either way the
  // schedule saw the validation loss, not the training loss.
  EXPECT_EQ(r.latest.plateau.best, r.summary.history.val[0]);
  EXPECT_TRUE(log.contains("learning rate reduced"));
}

TEST(Trainer, DivergenceStopsNamingEpochAndBatchAndKeepsTheBest) {
  LogCapture log;
  TempDir dir, ref;
  Config cfg = fitnn_test::small_config(dir.path);
  std::unique_ptr<Backend> cpu = make_backend("cpu", Precision::f64, 1);
  ScriptedBackend scripted(*cpu);
  scripted.fail_at = 6;  // epoch 2, batch 2 of 4
  try {
    fit(cfg, dir.path, data16(), &scripted);
    FAIL() << "no NumericError";
  } catch (const NumericError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("epoch 2"), std::string::npos) << what;
    EXPECT_NE(what.find("batch 2 of 4"), std::string::npos) << what;
    EXPECT_NE(what.find("state.bin"), std::string::npos) << what;
  }
  // The best checkpoint is intact and is exactly the one of a clean one-epoch run.
  Config one = cfg;
  one.train.num_epochs = 1;
  fit(one, ref.path, data16());
  EXPECT_EQ(load_checkpoint(dir / "state.bin").epoch, 1);
  EXPECT_EQ(fitnn_test::read_text(dir / "state.bin"), fitnn_test::read_text(ref / "state.bin"));
}

TEST(Trainer, NanDescriptorIsReportedWithEpochAndBatch) {
  LogCapture log;
  TempDir dir;
  Config cfg = fitnn_test::small_config(dir.path);
  cfg.train.num_epochs = 2;
  cfg.train.shuffle_flag = false;
  fit(cfg, dir.path, data16());
  const std::string best_before = fitnn_test::read_text(dir / "state.bin");

  // Continue on data where training configuration 4 (second batch) has a NaN descriptor.
  Dataset bad = data16();
  bad.descriptors[size_t(bad.atom_offset[4] * kDesc + 1)] = std::nan("");
  Config more = cfg;
  more.train.save_state_input = dir / "state.bin.latest";
  more.train.num_epochs = 2;
  try {
    fit(more, dir.path, bad);
    FAIL() << "no NumericError";
  } catch (const NumericError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("epoch 3"), std::string::npos) << what;
    EXPECT_NE(what.find("batch 2 of 4"), std::string::npos) << what;
    EXPECT_NE(what.find("cfg4.json"), std::string::npos) << what;
  }
  EXPECT_EQ(fitnn_test::read_text(dir / "state.bin"), best_before);
}

TEST(Trainer, DivergenceRetryRestartsFromTheBestWithHalfTheRate) {
  LogCapture log;
  TempDir dir;
  Config cfg = fitnn_test::small_config(dir.path);
  cfg.train.divergence_retries = 1;
  std::unique_ptr<Backend> cpu = make_backend("cpu", Precision::f64, 1);
  ScriptedBackend scripted(*cpu);
  scripted.fail_at = 6;
  FitRun r = fit(cfg, dir.path, data16(), &scripted);
  EXPECT_EQ(r.summary.divergence_retries_used, 1);
  EXPECT_EQ(r.summary.epochs_run, 6);
  EXPECT_EQ(r.summary.history.size(), 6u);
  ASSERT_GE(scripted.lrs.size(), 6u);
  EXPECT_EQ(scripted.lrs[4], 5e-3);     // step 5: epoch 2, batch 1
  EXPECT_EQ(scripted.lrs[5], 2.5e-3);   // the retried epoch 2 starts at half the rate
  EXPECT_EQ(r.latest.retries_used, 1);
  EXPECT_TRUE(log.contains("retry 1 of 1"));
}

TEST(Trainer, GlobalWeightsOverrideEveryConfiguration) {
  LogCapture log;
  TempDir unit_dir, global_dir;
  Config cfg = fitnn_test::small_config(unit_dir.path);
  cfg.train.learning_rate = 0.0;  // fixed parameters: losses are linear in the weights
  cfg.train.num_epochs = 1;
  Dataset unit = data16();
  std::fill(unit.eweight.begin(), unit.eweight.end(), 1.0);
  std::fill(unit.fweight.begin(), unit.fweight.end(), 1.0);
  FitRun base = fit(cfg, unit_dir.path, unit);

  Config global = cfg;
  global.train.energy_weight = 4.0;
  global.train.force_weight = 4.0;
  Dataset groups = data16();  // GROUPS weights 1/2 and 1/0.5: replaced by 4/4
  FitRun g = fit(global, global_dir.path, groups);
  EXPECT_EQ(g.summary.history.train[0], 4.0 * base.summary.history.train[0]);
  EXPECT_EQ(g.summary.history.val[0], 4.0 * base.summary.history.val[0]);

  Dataset check = data16();
  EXPECT_TRUE(apply_global_weights(global.train, check));
  for (double w : check.eweight) EXPECT_EQ(w, 4.0);
  for (double w : check.fweight) EXPECT_EQ(w, 4.0);
  global.train.force_weight.reset();
  EXPECT_THROW(apply_global_weights(global.train, check), InputError);
}

TEST(Trainer, NoValidationSetUsesTheTrainingLoss) {
  LogCapture log;
  TempDir dir;
  Config cfg = fitnn_test::small_config(dir.path);
  Dataset data = fitnn_test::synthetic_dataset(kConfigs, kDesc, 2, 42,
                                               std::vector<uint8_t>(kConfigs, 0));
  FitRun r = fit(cfg, dir.path, data);
  EXPECT_FALSE(r.summary.has_validation);
  for (double v : r.summary.history.val) EXPECT_TRUE(std::isnan(v));
  size_t best = 0;
  for (size_t k = 1; k < r.summary.history.size(); ++k)
    if (r.summary.history.train[k] < r.summary.history.train[best]) best = k;
  EXPECT_EQ(r.summary.best_epoch, int(best + 1));
  EXPECT_EQ(r.summary.best_val_loss, r.summary.history.train[best]);
  const std::string metrics = fitnn_test::read_text(dir / "metrics.md");
  EXPECT_EQ(metrics.find("nan"), std::string::npos);
  EXPECT_NE(metrics.find("n/a"), std::string::npos);
  EXPECT_TRUE(log.contains("no validation configurations"));
}

TEST(Trainer, MultiElementOptionsTrain) {
  LogCapture log;
  for (int option : {2, 3}) {
    TempDir dir;
    Config cfg = fitnn_test::small_config(dir.path);
    cfg.train.multi_element_option = option;
    cfg.train.num_epochs = 3;
    FitRun r = fit(cfg, dir.path, data16());
    EXPECT_EQ(r.latest.model.layout.option, option);
    EXPECT_LT(r.summary.history.train.back(), r.summary.history.train.front()) << option;
  }
}

TEST(Trainer, ArchitectureMismatchNamesBoth) {
  LogCapture log;
  TempDir dir;
  Config cfg = fitnn_test::small_config(dir.path);
  cfg.train.num_epochs = 1;
  fit(cfg, dir.path, data16());
  Config other = cfg;
  other.train.hidden_sizes = {8};
  other.train.save_state_input = dir / "state.bin";
  other.train.num_epochs = 2;
  try {
    fit(other, dir.path, data16());
    FAIL() << "no CheckpointError";
  } catch (const CheckpointError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("5-6-5-1"), std::string::npos) << what;
    EXPECT_NE(what.find("5-8-1"), std::string::npos) << what;
  }
}

TEST(Trainer, RefusesToOverwriteBeforeAnyWork) {
  LogCapture log;
  TempDir dir;
  Config cfg = fitnn_test::small_config(dir.path);
  cfg.extras.dump_peratom = true;
  const std::vector<std::string> planned = planned_outputs(cfg, dir.path);
  EXPECT_EQ(planned, (std::vector<std::string>{dir / "metrics.md", dir / "loss_vs_epochs.dat",
                                               dir / "state.bin", dir / "state.bin.latest",
                                               dir / "peratom.dat"}));
  fitnn_test::write_text(dir / "loss_vs_epochs.dat", "precious\n");
  std::unique_ptr<Backend> cpu = make_backend("cpu", Precision::f64, 1);
  ScriptedBackend scripted(*cpu);
  FitOptions opt;
  opt.output_dir = dir.path;
  Dataset data = data16();
  EXPECT_THROW(run_fit(cfg, data, scripted, opt), OutputError);
  EXPECT_EQ(scripted.steps, 0);
  EXPECT_EQ(fitnn_test::read_text(dir / "loss_vs_epochs.dat"), "precious\n");
  EXPECT_EQ(fitnn_test::list_dir(dir.path), std::vector<std::string>{"loss_vs_epochs.dat"});
  // Everything planned is written by a fit.
  opt.overwrite = true;
  run_fit(cfg, data, scripted, opt);
  for (const std::string& f : planned) EXPECT_TRUE(std::filesystem::exists(f)) << f;
}
