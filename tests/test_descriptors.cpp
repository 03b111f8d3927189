// Descriptors through the real LAMMPS library (never mocked): golden values for every
// configuration of ta_golden.json and wbe_golden.json read from their original JSON files,
// and the frame rotation (cells turned into LAMMPS's upper-triangular form, bad cells).
// The library, LAMMPS errors and parallel == serial: test_descriptors_library.cpp.
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
