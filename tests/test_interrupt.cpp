// Interruption, kill -9 and divergence of REAL fitnn runs (the binary, real LAMMPS, a small
// Ta subset): SIGTERM/SIGINT during training finish the step, write consistent outputs and
// the latest checkpoint, exit 143/130, and resuming from that checkpoint ends bit-for-bit
// where an uninterrupted run ends; SIGKILL at any moment leaves checkpoints that load, and
// resuming from them gives the same bits too; a signal during descriptors stops the worker
// processes at once and writes nothing; a NaN/Inf loss exits 6 naming epoch and batch and
// keeps the best checkpoint (and divergence_retries retries with half the rate).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <regex>
#include <thread>

#include "fitnn/checkpoint.hpp"
#include "fitnn/errors.hpp"
#include "support.hpp"

using namespace fitnn_test;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// A Ta fit of ~0.5 s per 100 epochs on 10 configurations. `extra` lines go to [PYTORCH].
std::string fit_input(int epochs, const std::string& extra = "",
                      const std::string& groups = "Displaced_BCC = 4 1 100 1 0\n"
                                                  "Volume_BCC = 4 1 1 1 0\n") {
  return "[BISPECTRUM]\nnumTypes = 1\ntwojmax = 4\nrcutfac = 4.67637\nrfac0 = 0.99363\n"
         "rmin0 = 0.0\nwj = 1.0\nradelem = 0.5\ntype = Ta\nbzeroflag = 1\nquadraticflag = 0\n"
         "bikflag = 1\ndgradflag = 1\n"
         "[PYTORCH]\nlayer_sizes = num_desc 16 16 1\nlearning_rate = 2e-3\nnum_epochs = " +
         std::to_string(epochs) +
         "\nbatch_size = 2\nmanual_seed_flag = 1\nsave_state_output = run.pt\n"
         "energy_weight = 1e-2\nforce_weight = 1.0\n" +
         extra +
         "\n[SCRAPER]\nscraper = JSON\n[PATH]\ndataPath = " + shared_dir() + "/data/Ta\n"
         "[OUTFILE]\nmetrics = run_metrics.md\npotential = run_pot\n"
         "[REFERENCE]\nunits = metal\natom_style = atomic\n"
         "pair_style = hybrid/overlay zero 10.0 zbl 4.0 4.8\npair_coeff1 = * * zero\n"
         "pair_coeff2 = * * zbl 73 73\n"
         "[GROUPS]\ngroup_sections = name training_size testing_size eweight fweight vweight\n" +
         groups + "[EXTRAS]\ndump_perconfig = 1\n";
}

// `input` with the value of `key` replaced.
std::string with(const std::string& input, const std::string& key, const std::string& value) {
  return std::regex_replace(input, std::regex("(^|\n)" + key + " = [^\n]*"),
                            "$1" + key + " = " + value);
}

// A fitnn process started in `cwd` with its output going to `log`.
struct Child {
  pid_t pid = -1;
  std::string log;
  int wait_status = 0;

  Child(const std::vector<std::string>& args, const std::string& cwd, std::string log_path,
        const std::string& tmpdir = "")
      : log(std::move(log_path)) {
    pid = fork();
    if (pid == 0) {
      if (chdir(cwd.c_str()) != 0) _exit(126);
      FILE* f = std::fopen(log.c_str(), "w");
      if (!f) _exit(126);
      dup2(fileno(f), 1);
      dup2(fileno(f), 2);
      if (!tmpdir.empty()) setenv("TMPDIR", tmpdir.c_str(), 1);
      std::vector<char*> argv{const_cast<char*>(FITNN_BINARY)};
      for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(FITNN_BINARY, argv.data());
      _exit(127);
    }
  }
  // Waits until the log matches `re` (true) or the process ends or time runs out (false).
  bool wait_for(const std::regex& re, double seconds) {
    const auto end = Clock::now() + std::chrono::duration<double>(seconds);
    while (Clock::now() < end) {
      if (std::regex_search(read_text(log), re)) return true;
      int st;
      if (waitpid(pid, &st, WNOHANG) == pid) {
        wait_status = st;
        pid = -1;
        return std::regex_search(read_text(log), re);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return false;
  }
  // Exit code, or 128 + signal.
  int finish() {
    if (pid > 0) {
      waitpid(pid, &wait_status, 0);
      pid = -1;
    }
    return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
  }
  ~Child() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
};

const std::regex kEpochLine(R"((^|\n)(\d+) \d\.\d{6}e[-+]\d+ )");

int last_epoch_line(const std::string& log) {
  int last = 0;
  for (std::sregex_iterator it(log.begin(), log.end(), kEpochLine), end; it != end; ++it)
    last = std::stoi((*it)[2]);
  return last;
}

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), 8 * a.size()) == 0;
}

void expect_same_state(const fitnn::TrainState& a, const fitnn::TrainState& b) {
  EXPECT_EQ(a.epoch, b.epoch);
  EXPECT_TRUE(same_bits(a.model.params, b.model.params)) << "model.params differ";
  EXPECT_TRUE(same_bits(a.adam.m, b.adam.m)) << "adam.m differs";
  EXPECT_TRUE(same_bits(a.adam.v, b.adam.v)) << "adam.v differs";
  EXPECT_EQ(a.adam.step, b.adam.step);
  EXPECT_TRUE(same_bits(a.best_params, b.best_params)) << "best.params differ";
  EXPECT_EQ(a.best_epoch, b.best_epoch);
  EXPECT_TRUE(same_bits(a.history.train, b.history.train)) << "training losses differ";
  EXPECT_EQ(a.rng_state, b.rng_state);
  EXPECT_EQ(a.plateau.lr, b.plateau.lr);
}

std::vector<std::string> temp_files(const std::string& dir) {
  std::vector<std::string> out;
  for (auto& n : list_dir(dir))
    if (n.find(".tmp.") != std::string::npos) out.push_back(n);
  return out;
}

// A fit to interrupt: `epochs` epochs of `batch_size` on `groups` (the GROUPS lines).
struct Variant {
  std::string name;
  int epochs;
  int batch_size;
  std::string groups;
  std::string input(int num_epochs, const std::string& extra = "") const {
    return with(fit_input(num_epochs, extra, groups), "batch_size", std::to_string(batch_size));
  }
};
// 240 short epochs (4 batches): a signal mostly lands in the end-of-epoch writes.
const Variant kShortEpochs{"short-epochs", 240, 2,
                           "Displaced_BCC = 4 1 100 1 0\nVolume_BCC = 4 1 1 1 0\n"};
// 40 epochs of 24 one-configuration batches: a signal mostly lands inside an epoch.
const Variant kLongEpochs{"long-epochs", 40, 1,
                          "Displaced_BCC = 8 1 100 1 0\nDisplaced_FCC = 8 1 100 1 0\n"
                          "Volume_BCC = 8 1 1 1 0\n"};

// The uninterrupted run of a variant, and a descriptor cache shared by every run.
struct Reference {
  TempDir dir;
  fitnn::TrainState latest;
  std::string metrics, loss, best;
};

const std::string& cache_dir() {
  static TempDir cache;
  return cache.path;
}

const Reference& reference(const Variant& v) {
  static std::map<std::string, std::unique_ptr<Reference>> done;
  auto& ref = done[v.name];
  if (!ref) {
    ref = std::make_unique<Reference>();
    write_text(ref->dir / "in.in", v.input(v.epochs));
    auto r = run_fitnn("--threads 1 --cache-dir " + cache_dir() + " in.in", ref->dir.path);
    EXPECT_EQ(r.exit_code, 0) << r.out;
    ref->latest = fitnn::load_checkpoint(ref->dir / "run.pt.latest");
    ref->metrics = read_text(ref->dir / "run_metrics.md");
    ref->loss = read_text(ref->dir / "loss_vs_epochs.dat");
    ref->best = read_text(ref->dir / "run.pt");
  }
  return *ref;
}

// Runs a fit, signals it once `after` epoch lines are out, resumes from its .latest and
// compares the end with the uninterrupted reference, bit for bit.
void interrupt_and_resume(const Variant& v, int sig, int after) {
  const Reference& ref = reference(v);
  TempDir dir, logs;
  write_text(dir / "in.in", v.input(v.epochs));
  const std::string cache = "--cache-dir=" + cache_dir();
  Child run({"--threads", "1", cache, "in.in"}, dir.path, logs / "run.log");
  ASSERT_TRUE(run.wait_for(std::regex("(^|\\n)" + std::to_string(after) + " "), 60))
      << read_text(run.log);
  kill(run.pid, sig);
  const int code = run.finish();
  const std::string log = read_text(run.log);
  const int seen = last_epoch_line(log);
  ASSERT_LT(seen, v.epochs) << "the run ended before the signal\n" << log;

  const fitnn::TrainState latest = fitnn::load_checkpoint(dir / "run.pt.latest");
  fitnn::load_checkpoint(dir / "run.pt");  // the best checkpoint loads too
  if (sig == SIGKILL) {
    EXPECT_EQ(code, 128 + SIGKILL);
    EXPECT_GE(latest.epoch, seen) << "the last epoch printed was " << seen;
    EXPECT_EQ(latest.batch_position, 0);  // written at epoch ends only
  } else {
    EXPECT_EQ(code, sig == SIGTERM ? 143 : 130) << log;
    EXPECT_NE(log.find("interrupted after epoch " + std::to_string(latest.epoch)),
              std::string::npos)
        << log;
    EXPECT_EQ(latest.epoch, last_epoch_line(log));
    EXPECT_EQ(latest.order.empty(), latest.batch_position == 0);
    // Consistent outputs of the best model so far, nothing half-written.
    for (const char* f : {"run_metrics.md", "loss_vs_epochs.dat", "perconfig.dat", "run.pt",
                          "run_pot.mliap.descriptor"})
      EXPECT_TRUE(file_exists(dir / f)) << f;
    EXPECT_TRUE(temp_files(dir.path).empty());
    const std::string loss = read_text(dir / "loss_vs_epochs.dat");
    EXPECT_EQ(std::count(loss.begin(), loss.end(), '\n'), latest.epoch + 1) << loss;
    EXPECT_EQ(latest.history.epoch.size(), size_t(latest.epoch));
  }
  std::printf("%s, signal %d after epoch line %d: exit %d, latest at epoch %lld + %lld "
              "batches\n", v.name.c_str(), sig, seen, code, (long long)latest.epoch,
              (long long)latest.batch_position);

  // Resume: the epochs still to do (an epoch cut midway counts as one of them).
  fs::copy_file(dir / "run.pt.latest", dir / "resume.state");
  write_text(dir / "in.in",
             v.input(int(v.epochs - latest.epoch), "save_state_input = resume.state\n"));
  auto r = run_fitnn("--overwrite --threads 1 " + cache + " in.in", dir.path);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  expect_same_state(ref.latest, fitnn::load_checkpoint(dir / "run.pt.latest"));
  EXPECT_EQ(read_text(dir / "loss_vs_epochs.dat"), ref.loss);
  EXPECT_EQ(read_text(dir / "run_metrics.md"), ref.metrics);
  EXPECT_EQ(read_text(dir / "run.pt"), ref.best) << "best checkpoints differ";
}

std::vector<pid_t> processes_in(const std::string& dir) {
  std::vector<pid_t> out;
  const fs::path want = fs::canonical(dir);
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::error_code ec;
    fs::path cwd = fs::read_symlink(e.path() / "cwd", ec);
    if (!ec && cwd == want) out.push_back(std::stoi(name));
  }
  return out;
}

}  // namespace

TEST(Interrupt, SigtermDuringTrainingResumesBitForBit) {
  interrupt_and_resume(kShortEpochs, SIGTERM, 30);
  interrupt_and_resume(kLongEpochs, SIGTERM, 5);
}
TEST(Interrupt, SigintDuringTrainingResumesBitForBit) {
  interrupt_and_resume(kLongEpochs, SIGINT, 12);
}
TEST(Interrupt, SigkillDuringTrainingResumesBitForBit) {
  interrupt_and_resume(kShortEpochs, SIGKILL, 60);
  interrupt_and_resume(kLongEpochs, SIGKILL, 20);
}

// kill -9 at random moments of training (checkpoints are rewritten every epoch): every
// checkpoint left behind loads (magic, size, checksum, layout), whatever the moment was.
TEST(Interrupt, SigkillAtRandomMomentsNeverLeavesACorruptCheckpoint) {
  TempDir dir, logs;
  write_text(dir / "in.in", kShortEpochs.input(kShortEpochs.epochs));
  std::mt19937 rng(2024);
  int with_temp = 0, kills = 0;
  for (int k = 0; k < 12; ++k) {
    Child run({"--overwrite", "--threads", "1", "--cache-dir=" + cache_dir(), "in.in"},
              dir.path, logs / "run.log");
    ASSERT_TRUE(run.wait_for(std::regex(R"((^|\n)1 )"), 60)) << read_text(run.log);
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 300000));
    kill(run.pid, SIGKILL);
    EXPECT_EQ(run.finish(), 128 + SIGKILL);
    ++kills;
    for (const char* f : {"run.pt", "run.pt.latest"}) {
      ASSERT_TRUE(file_exists(dir / f)) << f;
      EXPECT_NO_THROW(fitnn::load_checkpoint(dir / f)) << f << " after kill " << k;
    }
    with_temp += !temp_files(dir.path).empty();
    for (auto& t : temp_files(dir.path)) fs::remove(dir / t);
  }
  std::printf("%d kills, %d left a temporary file (removed; never the checkpoint itself)\n",
              kills, with_temp);
}

// SIGTERM/SIGINT while the descriptor workers run: they are stopped at once (not after the
// remaining configurations), the exit code is 143/130, and nothing is written: no cache, no
// output, no staging file in TMPDIR, no process left.
void signal_during_descriptors(int sig) {
  TempDir dir, logs, tmp;
  // The whole Ta set (363 configurations) at twojmax 8 with one worker: 10-20 s of
  // descriptors, so the signal lands while the worker computes.
  std::string groups;
  for (const char* g : {"Displaced_A15", "Displaced_BCC", "Displaced_FCC", "Elastic_BCC",
                        "Elastic_FCC", "GSF_110", "GSF_112", "Liquid", "Surface", "Volume_A15",
                        "Volume_BCC", "Volume_FCC"})
    groups += std::string(g) + " = 1.0 0.0 1 1 0\n";
  std::string input = fit_input(5, "", groups);
  input = std::regex_replace(input, std::regex("twojmax = 4"), "twojmax = 8");
  write_text(dir / "in.in", input);
  Child run({"--threads", "1", "in.in"}, dir.path, logs / "run.log", tmp.path);
  ASSERT_TRUE(run.wait_for(std::regex("descriptors: LAMMPS"), 60)) << read_text(run.log);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const auto t0 = Clock::now();
  kill(run.pid, sig);
  const int code = run.finish();
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const std::string log = read_text(run.log);
  EXPECT_EQ(code, sig == SIGTERM ? 143 : 130) << log;
  EXPECT_NE(log.find("interrupted while computing descriptors"), std::string::npos) << log;
  EXPECT_NE(log.find("nothing was written"), std::string::npos) << log;
  EXPECT_EQ(log.find("descriptors: cached"), std::string::npos) << log;
  EXPECT_EQ(log.find("descriptors: 363 configurations"), std::string::npos)
      << "the signal came after the descriptors\n" << log;
  EXPECT_LT(seconds, 2.0) << "the workers were not stopped at once\n" << log;
  EXPECT_EQ(list_dir(dir.path), std::vector<std::string>{"in.in"});
  EXPECT_TRUE(list_dir(tmp.path).empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(processes_in(dir.path).empty()) << "a descriptor worker outlived fitnn";
  std::printf("signal %d during descriptors: exit %d after %.3f s\n", sig, code, seconds);
}

TEST(Interrupt, SigtermDuringDescriptorsStopsTheWorkersAndWritesNothing) {
  signal_during_descriptors(SIGTERM);
}
TEST(Interrupt, SigintDuringDescriptorsStopsTheWorkersAndWritesNothing) {
  signal_during_descriptors(SIGINT);
}

// learning_rate 1e200: the parameters overflow after the first step; the loss of the next
// batch is Inf/NaN. The fit stops with exit 6 naming epoch and batch; the best checkpoint of
// the run is kept and loads; the metrics describe it.
TEST(Divergence, ContinuingWithAnAbsurdLearningRateExitsSixAndKeepsTheBest) {
  TempDir dir;
  write_text(dir / "in.in", fit_input(3));
  const std::string cache = " --threads 1 --cache-dir " + cache_dir() + " ";
  auto first = run_fitnn(cache + "in.in", dir.path);
  ASSERT_EQ(first.exit_code, 0) << first.out;
  const std::string best = read_text(dir / "run.pt"), metrics = read_text(dir / "run_metrics.md");
  const fitnn::TrainState best_state = fitnn::load_checkpoint(dir / "run.pt");

  fs::copy_file(dir / "run.pt.latest", dir / "good.state");
  write_text(dir / "in.in", with(fit_input(5, "save_state_input = good.state\n"),
                                 "learning_rate", "1e200"));
  auto r = run_fitnn("--overwrite" + cache + "in.in", dir.path);
  EXPECT_EQ(r.exit_code, 6) << r.out;
  EXPECT_NE(r.out.find("training diverged in epoch 4, batch 2 of 4 (configurations "),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("/data/Ta/"), std::string::npos) << r.out;  // the batch's files
  EXPECT_NE(r.out.find("the best model (epoch " + std::to_string(best_state.best_epoch) +
                       ") is kept in 'run.pt' and the metrics describe it"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("Lower [PYTORCH] learning_rate"), std::string::npos) << r.out;
  // The best checkpoint of the run it continues is untouched; the metrics are its metrics.
  EXPECT_EQ(read_text(dir / "run.pt"), best);
  EXPECT_EQ(read_text(dir / "run_metrics.md"), metrics);
  EXPECT_EQ(fitnn::load_checkpoint(dir / "run.pt.latest").epoch, 3);  // last completed epoch
  EXPECT_TRUE(temp_files(dir.path).empty());
}

TEST(Divergence, FreshFitDivergingInItsFirstEpochReplacesAnOlderRunsBest) {
  TempDir dir;
  write_text(dir / "run.pt", "an older run's best checkpoint\n");
  write_text(dir / "in.in", with(fit_input(5), "learning_rate", "1e200"));
  auto r = run_fitnn("--overwrite --threads 1 --cache-dir " + cache_dir() + " in.in",
                     dir.path);
  EXPECT_EQ(r.exit_code, 6) << r.out;
  EXPECT_NE(r.out.find("training diverged in epoch 1, batch 2 of 4"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("the best model (epoch 0) is kept in 'run.pt'"), std::string::npos)
      << r.out;
  const fitnn::TrainState s = fitnn::load_checkpoint(dir / "run.pt");  // this run's start
  EXPECT_EQ(s.best_epoch, 0);
  EXPECT_EQ(s.plateau.lr, 1e200);
  EXPECT_TRUE(file_exists(dir / "run_metrics.md"));
}

TEST(Divergence, RetriesRestartFromTheBestWithHalfTheRateThenGiveUp) {
  TempDir dir;
  write_text(dir / "in.in",
             with(fit_input(5, "divergence_retries = 2\n"), "learning_rate", "1e200"));
  auto r = run_fitnn("--threads 1 --cache-dir " + cache_dir() + " in.in", dir.path);
  EXPECT_EQ(r.exit_code, 6) << r.out;
  EXPECT_NE(r.out.find("retry 1 of 2 from the best state (epoch 0) with learning rate 5e+199"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("retry 2 of 2 from the best state (epoch 0) with learning rate 2.5e+199"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("training diverged in epoch 1, batch 2 of 4"), std::string::npos)
      << r.out;
  EXPECT_EQ(fitnn::load_checkpoint(dir / "run.pt").best_epoch, 0);
}
