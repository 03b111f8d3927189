// Checkpoint format (src/io/checkpoint.cpp, docs/CHECKPOINT.md): exact round trip, and every
// kind of damage (truncation, any flipped byte, wrong version or magic, inconsistent sizes)
// rejected with a CheckpointError naming the file; writes are atomic.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <sstream>

#include "fitnn/atomic_file.hpp"
#include "fitnn/checkpoint.hpp"
#include "fitnn/errors.hpp"
#include "support.hpp"

using namespace fitnn;
using fitnn_test::TempDir;

namespace {

std::vector<double> random_vector(std::mt19937_64& g, size_t n) {
  std::vector<double> v(n);
  for (double& x : v) x = double(int64_t(g() >> 11)) * 0x1.0p-40 - 1.0;
  return v;
}

TrainState sample_state() {
  std::mt19937_64 g(99);
  TrainState s;
  ModelLayout& L = s.model.layout;
  L.ndesc = 3;
  L.nelements = 2;
  L.option = 2;
  L.widths = {3, 4, 1};
  L.activation = Activation::tanh;
  const size_t np = size_t(L.nparams());
  s.model.params = random_vector(g, np);
  s.model.mean = {0.5, -1.25, 3.0};
  s.model.std = {1.0, 0.1, 2.5e-7};
  s.elements = {"W", "Be"};
  s.adam.m = random_vector(g, np);
  s.adam.v = random_vector(g, np);
  s.adam.step = 123;
  s.adam.eps = 1e-7;
  s.plateau = {2.5e-3, 0.0625, 7};
  s.initial_lr = 1e-2;
  s.seed = 0xfedcba9876543210ULL;
  std::mt19937_64 r(5);
  r.discard(17);
  std::ostringstream rs;
  rs << r;
  s.rng_state = rs.str();
  s.epoch = 5;
  s.order = {3, 1, 2, 0};
  s.batch_position = 1;
  s.partial_loss_sum = 0.1 + 0.2;
  s.best_loss = 0.0123;
  s.best_epoch = 4;
  s.best_params = random_vector(g, np);
  s.best_adam.m = random_vector(g, np);
  s.best_adam.v = random_vector(g, np);
  s.best_adam.step = 100;
  for (int e = 1; e <= 5; ++e) s.history.add(e, 1.0 / e, e == 3 ? std::nan("") : 2.0 / e);
  s.retries_used = 1;
  s.settings = "learning_rate=0.01\nbatch_size=4\n";
  return s;
}

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 8) == 0;
}

void expect_identical(const TrainState& a, const TrainState& b) {
  EXPECT_TRUE(a.model.layout == b.model.layout);
  EXPECT_EQ(a.model.layout.activation, b.model.layout.activation);
  EXPECT_TRUE(same_bits(a.model.params, b.model.params));
  EXPECT_TRUE(same_bits(a.model.mean, b.model.mean));
  EXPECT_TRUE(same_bits(a.model.std, b.model.std));
  EXPECT_EQ(a.elements, b.elements);
  EXPECT_TRUE(same_bits(a.adam.m, b.adam.m));
  EXPECT_TRUE(same_bits(a.adam.v, b.adam.v));
  EXPECT_EQ(a.adam.step, b.adam.step);
  EXPECT_EQ(a.adam.beta1, b.adam.beta1);
  EXPECT_EQ(a.adam.beta2, b.adam.beta2);
  EXPECT_EQ(a.adam.eps, b.adam.eps);
  EXPECT_EQ(a.plateau.lr, b.plateau.lr);
  EXPECT_EQ(a.plateau.best, b.plateau.best);
  EXPECT_EQ(a.plateau.bad_epochs, b.plateau.bad_epochs);
  EXPECT_EQ(a.initial_lr, b.initial_lr);
  EXPECT_EQ(a.seed, b.seed);
  EXPECT_EQ(a.rng_state, b.rng_state);
  EXPECT_EQ(a.epoch, b.epoch);
  EXPECT_EQ(a.order, b.order);
  EXPECT_EQ(a.batch_position, b.batch_position);
  EXPECT_EQ(a.partial_loss_sum, b.partial_loss_sum);
  EXPECT_EQ(a.best_loss, b.best_loss);
  EXPECT_EQ(a.best_epoch, b.best_epoch);
  EXPECT_TRUE(same_bits(a.best_params, b.best_params));
  EXPECT_TRUE(same_bits(a.best_adam.m, b.best_adam.m));
  EXPECT_TRUE(same_bits(a.best_adam.v, b.best_adam.v));
  EXPECT_EQ(a.best_adam.step, b.best_adam.step);
  EXPECT_EQ(a.history.epoch, b.history.epoch);
  EXPECT_TRUE(same_bits(a.history.train, b.history.train));
  EXPECT_TRUE(same_bits(a.history.val, b.history.val));  // NaN included
  EXPECT_EQ(a.retries_used, b.retries_used);
  EXPECT_EQ(a.settings, b.settings);
}

std::string bytes_of(const std::string& path) { return fitnn_test::read_text(path); }

void put(const std::string& path, const std::string& bytes) {
  fitnn_test::write_text(path, bytes);
}

// Load must fail with a CheckpointError whose message names the file.
void expect_rejected(const std::string& path, const std::string& fragment = "") {
  try {
    load_checkpoint(path);
    ADD_FAILURE() << "loaded a damaged checkpoint (" << fragment << ")";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    if (!fragment.empty())
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

void set_u32(std::string& b, size_t at, uint32_t v) {
  for (int k = 0; k < 4; ++k) b[at + k] = char(v >> (8 * k));
}
void set_u64(std::string& b, size_t at, uint64_t v) {
  for (int k = 0; k < 8; ++k) b[at + k] = char(v >> (8 * k));
}

}  // namespace

TEST(Checkpoint, RoundTripIsExact) {
  TempDir dir;
  TrainState s = sample_state();
  save_checkpoint(dir / "a.ckpt", s);
  TrainState r = load_checkpoint(dir / "a.ckpt");
  expect_identical(s, r);
  // Saving what was loaded gives the same bytes.
  save_checkpoint(dir / "b.ckpt", r);
  EXPECT_EQ(bytes_of(dir / "a.ckpt"), bytes_of(dir / "b.ckpt"));
}

TEST(Checkpoint, HeaderAndTrailerFollowTheDocumentedLayout) {
  TempDir dir;
  save_checkpoint(dir / "a.ckpt", sample_state());
  std::string b = bytes_of(dir / "a.ckpt");
  ASSERT_GT(b.size(), 32u);
  EXPECT_EQ(b.substr(0, 8), "FITNNCKP");
  EXPECT_EQ(uint8_t(b[8]), kCheckpointVersion);
  uint64_t payload = 0, stored = 0;
  for (int k = 0; k < 8; ++k) payload |= uint64_t(uint8_t(b[16 + k])) << (8 * k);
  EXPECT_EQ(b.size(), 24 + payload + 8);
  for (int k = 0; k < 8; ++k) stored |= uint64_t(uint8_t(b[24 + payload + k])) << (8 * k);
  EXPECT_EQ(stored, checksum64(b.data(), 24 + payload));
  // The first section is layout.ndesc, an int64 holding 3.
  EXPECT_EQ(uint8_t(b[24]), 12);  // name length
  EXPECT_EQ(b.substr(28, 12), "layout.ndesc");
  EXPECT_EQ(uint8_t(b[40]), 2);   // dtype int64
  EXPECT_EQ(uint8_t(b[44]), 1);   // count
  EXPECT_EQ(uint8_t(b[52]), 3);   // value
}

TEST(Checkpoint, ChecksumIsWordwiseFnv1a) {
  // Independent evaluation of the documented definition.
  const uint64_t basis = 0xcbf29ce484222325ULL, prime = 0x100000001b3ULL;
  EXPECT_EQ(checksum64("", 0), basis);
  const unsigned char word[8] = {1, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(checksum64(word, 8), (basis ^ 1) * prime);
  const unsigned char nine[9] = {1, 0, 0, 0, 0, 0, 0, 0, 0x41};
  EXPECT_EQ(checksum64(nine, 9), (((basis ^ 1) * prime) ^ 0x41) * prime);
}

TEST(Checkpoint, TruncatedFilesAreRejected) {
  TempDir dir;
  save_checkpoint(dir / "a.ckpt", sample_state());
  const std::string full = bytes_of(dir / "a.ckpt");
  for (size_t len : {size_t(0), size_t(5), size_t(8), size_t(23), size_t(31), full.size() / 2,
                     full.size() - 9, full.size() - 1}) {
    put(dir / "t.ckpt", full.substr(0, len));
    expect_rejected(dir / "t.ckpt", len >= 32 ? "truncated" : "");
  }
  put(dir / "t.ckpt", full + "x");
  expect_rejected(dir / "t.ckpt", "trailing");
}

TEST(Checkpoint, AnyFlippedByteIsRejected) {
  TempDir dir;
  save_checkpoint(dir / "a.ckpt", sample_state());
  const std::string full = bytes_of(dir / "a.ckpt");
  int checksum_errors = 0;
  for (size_t at = 0; at < full.size(); ++at) {
    std::string b = full;
    b[at] = char(b[at] ^ 0x10);
    put(dir / "f.ckpt", b);
    try {
      load_checkpoint(dir / "f.ckpt");
      ADD_FAILURE() << "flipping byte " << at << " was not detected";
    } catch (const CheckpointError& e) {
      if (std::string(e.what()).find("checksum") != std::string::npos) ++checksum_errors;
    }
  }
  // Flips in the payload (not the header fields) are caught by the checksum.
  EXPECT_GT(checksum_errors, int(full.size()) - 40);
}

TEST(Checkpoint, WrongVersionAndMagicAreRejected) {
  TempDir dir;
  save_checkpoint(dir / "a.ckpt", sample_state());
  const std::string full = bytes_of(dir / "a.ckpt");
  const size_t body = full.size() - 8;

  std::string v2 = full;
  set_u32(v2, 8, 2);
  set_u64(v2, body, checksum64(v2.data(), body));  // a well-formed version-2 file
  put(dir / "v.ckpt", v2);
  expect_rejected(dir / "v.ckpt", "version 2");

  std::string magic = full;
  std::memcpy(&magic[0], "PK\x03\x04zip!", 8);
  put(dir / "m.ckpt", magic);
  expect_rejected(dir / "m.ckpt", "not a FitNN checkpoint");

  expect_rejected(dir / "missing.ckpt", "cannot open");
}

TEST(Checkpoint, SizesInconsistentWithTheLayoutAreRejected) {
  TempDir dir;
  TrainState s = sample_state();
  s.adam.v.pop_back();
  save_checkpoint(dir / "bad.ckpt", s);
  expect_rejected(dir / "bad.ckpt", "parameter arrays");

  s = sample_state();
  s.model.layout.widths = {3, 4, 2};
  save_checkpoint(dir / "bad2.ckpt", s);
  expect_rejected(dir / "bad2.ckpt", "layout");
}

TEST(Checkpoint, WritesAreAtomic) {
  TempDir dir;
  const std::string path = dir / "state.ckpt";
  TrainState first = sample_state();
  save_checkpoint(path, first);
  EXPECT_EQ(fitnn_test::list_dir(dir.path), std::vector<std::string>{"state.ckpt"});
  const std::string before = bytes_of(path);

  // Make the temporary file impossible to create: the write fails, the old file survives.
  std::filesystem::create_directory(temp_path_for(path));
  TrainState second = sample_state();
  second.epoch = 6;
  EXPECT_THROW(save_checkpoint(path, second), OutputError);
  EXPECT_EQ(bytes_of(path), before);
  expect_identical(load_checkpoint(path), first);
  std::filesystem::remove(temp_path_for(path));

  // A successful overwrite replaces it completely and leaves no temporary behind.
  save_checkpoint(path, second);
  EXPECT_EQ(load_checkpoint(path).epoch, 6);
  EXPECT_EQ(fitnn_test::list_dir(dir.path), std::vector<std::string>{"state.ckpt"});
}
