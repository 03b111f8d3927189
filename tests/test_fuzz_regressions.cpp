// Regression tests for what fuzzing (fuzz/, docs/RELIABILITY.md) and the review around it
// found. Every input in tests/fuzz_regressions/ is fed to the entry point of the fuzz target
// its name starts with, under the same invariants (fuzz/fuzz_checks.hpp); each finding also
// has a test of its own asserting the typed error and the message it now gets.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "../fuzz/fuzz_checks.hpp"
#include "fitnn/checkpoint.hpp"
#include "fitnn/config.hpp"
#include "fitnn/descriptors.hpp"
#include "fitnn/errors.hpp"
#include "fitnn/model.hpp"
#include "fitnn/scrape.hpp"
#include "fitnn/trainer.hpp"
#include "support.hpp"

using namespace fitnn;
using fitnn_test::read_text;
namespace fs = std::filesystem;

namespace {

std::string regressions_dir() { return std::string(FITNN_SOURCE_DIR) + "/tests/fuzz_regressions"; }

// What each fuzz target does with its input; throws only the target's own error type.
void run_like_fuzz_target(const std::string& name, const std::string& bytes) {
  const BispectrumSettings b = fitnn_fuzz::three_elements();
  if (name.rfind("xyz-", 0) == 0) {
    try {
      for (const Configuration& c : parse_extxyz(bytes, name, b))
        fitnn_fuzz::check_configuration_and_frame(c, b);
    } catch (const DataError&) {
    }
  } else if (name.rfind("json-", 0) == 0) {
    try {
      for (const Configuration& c : parse_fitsnap_json(bytes, name, b))
        fitnn_fuzz::check_configuration_and_frame(c, b);
    } catch (const DataError&) {
    }
  } else if (name.rfind("config-", 0) == 0) {
    try {
      parse_config_string(bytes, name, "/nonexistent");
    } catch (const InputError&) {
    }
  } else if (name.rfind("checkpoint-", 0) == 0) {
    try {
      parse_checkpoint(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), name);
    } catch (const CheckpointError&) {
    }
  } else {
    FAIL() << name << ": the file name must start with the fuzz target (xyz-, json-, ...)";
  }
}

// A valid checkpoint of a small network, as bytes.
std::string small_checkpoint() {
  TrainSettings t;
  t.hidden_sizes = {4};
  TrainState s;
  s.model.layout = ModelLayout::from_settings(5, 1, t);
  s.model.initialize(3);
  const size_t np = size_t(s.model.layout.nparams());
  s.model.mean.assign(5, 0.0);
  s.model.std.assign(5, 1.0);
  s.elements = {"Ta"};
  s.adam.m.assign(np, 0.0);
  s.adam.v.assign(np, 0.0);
  s.rng_state = rng_to_text(shuffle_rng(3));
  s.best_params = s.model.params;
  s.best_adam = s.adam;
  fitnn_test::TempDir dir;
  save_checkpoint(dir / "c.ckpt", s);
  return read_text(dir / "c.ckpt");
}

// Offset of the data of section `name` in checkpoint bytes.
size_t section_data(const std::string& b, const std::string& name) {
  size_t p = b.find(name);
  EXPECT_NE(p, std::string::npos) << name;
  return p + name.size() + 4 + 8;  // dtype, count
}

// Recomputes the trailing checksum after an edit (what a damaged-but-consistent file is).
void fix_checksum(std::string& b) {
  const uint64_t sum = checksum64(b.data(), b.size() - 8);
  for (int k = 0; k < 8; ++k) b[b.size() - 8 + size_t(k)] = char(uint8_t(sum >> (8 * k)));
}

void expect_checkpoint_error(const std::string& bytes, const std::string& message) {
  try {
    parse_checkpoint(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "x.ckpt");
    FAIL() << "no CheckpointError";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("x.ckpt"), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(FuzzRegressions, EveryStoredInputIsHandledLikeInTheFuzzTarget) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(regressions_dir())) {
    const std::string name = e.path().filename().string();
    SCOPED_TRACE(name);
    run_like_fuzz_target(name, read_text(e.path().string()));
    ++n;
  }
  EXPECT_GE(n, 2);
}

// fuzz_xyz: a count line of 2^63 atoms was cast to int (-1) and the arrays resized with it:
// std::length_error, an internal error. Now refused before any allocation.
TEST(FuzzRegressions, XyzAtomCountBeyondTheFileIsADataError) {
  const BispectrumSettings b = fitnn_fuzz::three_elements();
  const std::string text = read_text(regressions_dir() + "/xyz-huge-atom-count.xyz");
  try {
    parse_extxyz(text, "f.xyz", b);
    FAIL() << "no DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("f.xyz: frame 0 (line 1): "), std::string::npos)
        << e.what();
  }
  try {
    parse_extxyz("1000000\nLattice=\"3 0 0 0 3 0 0 0 3\" energy=1\nTa 0 0 0 0 0 0\n", "g.xyz",
                 b);
    FAIL() << "no DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("declares 1000000 atoms but the file ends before"),
              std::string::npos)
        << e.what();
  }
}

// fuzz_xyz: a position of 1.1e308 passed the finiteness checks, but its fractional
// coordinate overflowed in lammps_frame and LAMMPS would have received NaN.
TEST(FuzzRegressions, AtomFarOutsideTheCellIsADataErrorNotANan) {
  const BispectrumSettings b = fitnn_fuzz::three_elements();
  const auto configs =
      parse_extxyz(read_text(regressions_dir() + "/xyz-position-overflows-frame.xyz"), "h.xyz", b);
  ASSERT_EQ(configs.size(), 1u);
  try {
    lammps_frame(configs[0]);
    FAIL() << "no DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("atom 1 at (1.11e+308, 1.1, 1.1) lies more than a "
                                         "million cells outside the cell"),
              std::string::npos)
        << e.what();
  }
  // An unwrapped trajectory a few hundred cells away is still fine, and wraps exactly.
  Configuration c = configs[0];
  c.positions = {0.0, 0.0, 0.0, 1.1 + 3.6 * 500, 1.1, 1.1};
  const LammpsFrame f = lammps_frame(c);
  for (double x : f.positions) EXPECT_TRUE(std::isfinite(x));
}

// Review of the JSON scraper: NumAtoms = 2^32 + 2 was cast to int (2) and accepted with two
// atoms.
TEST(FuzzRegressions, JsonNumAtomsBeyondIntIsRefused) {
  const BispectrumSettings b = fitnn_fuzz::three_elements();
  const std::string text =
      R"({"Dataset": {"Data": [{"NumAtoms": 4294967298, "Positions": [[0,0,0],[1,1,1]],)"
      R"("Forces": [[0,0,0],[0,0,0]], "Lattice": [[2,0,0],[0,2,0],[0,0,2]], "Energy": 1.0,)"
      R"("AtomTypes": ["Ta", "Ta"]}]}})";
  try {
    parse_fitsnap_json(text, "n.json", b);
    FAIL() << "no DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("n.json: configuration 0: \"NumAtoms\" must be a "
                                         "positive integer"),
              std::string::npos)
        << e.what();
  }
}

// Review of the checkpoint reader behind the checksum (what fuzz_checkpoint's fixed-up
// inputs reach): layout numbers that would overflow the parameter count, and an unreadable
// shuffle state, are CheckpointErrors.
TEST(FuzzRegressions, CheckpointLayoutAndRngStateAreValidated) {
  const std::string good = small_checkpoint();
  ASSERT_NO_THROW(parse_checkpoint(reinterpret_cast<const uint8_t*>(good.data()), good.size(),
                                   "x.ckpt"));
  for (const auto& [section, value] : std::vector<std::pair<std::string, int64_t>>{
           {"layout.ndesc", int64_t(1) << 40},
           {"layout.ndesc", (int64_t(1) << 32) + 5},  // used to narrow to 5 silently
           {"layout.nelements", 2147483647},
           {"layout.option", 7},
           {"layout.widths", -1}}) {
    SCOPED_TRACE(section + " = " + std::to_string(value));
    std::string b = good;
    const size_t at = section_data(b, section);
    for (int k = 0; k < 8; ++k) b[at + size_t(k)] = char(uint8_t(uint64_t(value) >> (8 * k)));
    fix_checksum(b);
    expect_checkpoint_error(b, "the network layout is invalid");
  }
  std::string b = good;
  const size_t at = section_data(b, "train.rng_state");
  std::memcpy(&b[at], "garbage!", 8);
  fix_checksum(b);
  expect_checkpoint_error(b, "the shuffle generator state cannot be read");
}

// Review of [GROUPS]: a count of 1e300 reached int64_t(1e300) in the split (undefined
// behaviour). Now an InputError naming the group.
TEST(FuzzRegressions, AbsurdGroupCountIsAnInputError) {
  const std::string text = read_text(std::string(FITNN_SOURCE_DIR) + "/tests/bad_inputs/base.in");
  std::string bad = text;
  bad.replace(bad.find("Volume_BCC = 1 1 1 1 0"), 22, "Volume_BCC = 1 2e15 1 1 0");
  try {
    parse_config_string(bad, "g.in", ".");
    FAIL() << "no InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("group 'Volume_BCC' testing_size = 2e15 is not a "
                                         "plausible number of configurations"),
              std::string::npos)
        << e.what();
  }
  EXPECT_NO_THROW(parse_config_string(text, "g.in", "."));
}

// fuzz_xyz: a Properties count of "32147483648" went through atoi (undefined on overflow)
// and the column offsets overflowed int. Now a DataError naming the column.
TEST(FuzzRegressions, XyzPropertiesCountOverflowIsADataError) {
  const BispectrumSettings b = fitnn_fuzz::three_elements();
  try {
    parse_extxyz("1\nLattice=\"3 0 0 0 3 0 0 0 3\" Properties=species:S:1:pos:R:3:"
                 "forces:R:32147483648 energy=1\nTa 0 0 0 0 0 0\n",
                 "p.xyz", b);
    FAIL() << "no DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("malformed Properties"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("column 'forces' has count '32147483648'"),
              std::string::npos)
        << e.what();
  }
}
