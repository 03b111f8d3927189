// The descriptor cache: exact round trip in both storage precisions, a key that changes with
// everything that determines descriptors and targets (and not with weights or splits), and
// corrupt or foreign files reported with a warning and treated as a miss.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "fitnn/cache.hpp"
#include "fitnn/errors.hpp"
#include "fitnn/log.hpp"
#include "support.hpp"

using namespace fitnn;
using namespace fitnn_test;

namespace {

Dataset random_dataset(int bits, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  Dataset d;
  d.ndesc = 5;
  d.ntypes = 2;
  d.type_names = {"W", "Be"};
  d.derivative_bits = bits;
  int natoms_of[3] = {2, 3, 1};
  d.atom_offset = {0};
  d.row_offset = {0};
  for (int c = 0; c < 3; ++c) {
    int n = natoms_of[c];
    d.atom_offset.push_back(d.atom_offset.back() + n);
    int rows = 0;
    for (int k = 0; k < 3 * n; ++k)
      for (int i = 0; i < n; ++i) {
        d.row_i.push_back(i);
        d.row_k.push_back(k);
        ++rows;
      }
    d.row_offset.push_back(d.row_offset.back() + rows);
    d.energy.push_back(u(rng));
    d.ref_energy.push_back(u(rng));
    d.eweight.push_back(1);
    d.fweight.push_back(1);
    d.vweight.push_back(0);
    d.testing.push_back(c == 2);
    d.group.push_back(0);
    d.file_index.push_back(c);
    d.index_in_file.push_back(0);
    d.file_names.push_back("f" + std::to_string(c));
  }
  d.group_names = {"G"};
  int64_t natoms = d.atom_offset.back(), nrows = d.row_offset.back();
  for (int64_t a = 0; a < natoms; ++a) {
    for (int k = 0; k < d.ndesc; ++k) d.descriptors.push_back(u(rng));
    d.atom_type.push_back(int(a % 2));
    for (int k = 0; k < 3; ++k) {
      d.forces.push_back(u(rng));
      d.ref_forces.push_back(u(rng));
    }
  }
  for (int64_t r = 0; r < nrows * d.ndesc; ++r) {
    if (bits == 64)
      d.dgrad64.push_back(u(rng));
    else
      d.dgrad32.push_back(float(u(rng)));
  }
  return d;
}

std::vector<Configuration> configs_for(const Dataset& d) {
  std::vector<Configuration> v(d.nconfigs());
  for (size_t c = 0; c < v.size(); ++c) {
    v[c].file = d.file_names[c];
    v[c].group = "G";
    v[c].natoms = d.natoms_of(c);
    v[c].types.assign(v[c].natoms, 0);
    v[c].positions.assign(3 * v[c].natoms, 0.5 * c);
    v[c].forces.assign(3 * v[c].natoms, 0.1);
    v[c].lattice = {3, 0, 0, 0, 3, 0, 0, 0, 3};
    v[c].energy = -1.0 - c;
    v[c].testing = c == 2;
  }
  return v;
}

Config base_config() {
  Config c;
  c.bispectrum.types = {"W", "Be"};
  c.bispectrum.num_types = 2;
  c.reference.pair_style = "zero 10.0";
  c.reference.pair_coeffs = {"* * zero"};
  return c;
}

}  // namespace

TEST(Cache, RoundTripIsExact) {
  for (int bits : {64, 32}) {
    TempDir dir;
    Dataset d = random_dataset(bits, 7);
    std::string path = dir / "c.h5";
    save_dataset_cache(path, d, 0x1234, 20250722);
    auto back = load_dataset_cache(path, 0x1234);
    ASSERT_TRUE(back.has_value());
    apply_configuration_metadata(*back, configs_for(d));
    EXPECT_EQ(back->descriptors, d.descriptors);
    EXPECT_EQ(back->dgrad64, d.dgrad64);
    EXPECT_EQ(back->dgrad32, d.dgrad32);
    EXPECT_EQ(back->row_i, d.row_i);
    EXPECT_EQ(back->row_k, d.row_k);
    EXPECT_EQ(back->atom_offset, d.atom_offset);
    EXPECT_EQ(back->row_offset, d.row_offset);
    EXPECT_EQ(back->energy, d.energy);
    EXPECT_EQ(back->forces, d.forces);
    EXPECT_EQ(back->ref_forces, d.ref_forces);
    EXPECT_EQ(back->atom_type, d.atom_type);
    EXPECT_EQ(back->type_names, d.type_names);
    EXPECT_EQ(back->testing, d.testing);
    EXPECT_EQ(back->derivative_bits, bits);
    EXPECT_NO_THROW(back->validate());
    // No temporary file left behind.
    EXPECT_EQ(list_dir(dir.path), std::vector<std::string>{"c.h5"});
  }
}

TEST(Cache, KeyChangesWithEveryInputThatMatters) {
  Dataset d = random_dataset(64, 1);
  auto configs = configs_for(d);
  Config c = base_config();
  uint64_t k0 = dataset_cache_key(c, configs, 20250722, 64);
  EXPECT_EQ(k0, dataset_cache_key(c, configs, 20250722, 64));
  std::set<uint64_t> keys{k0};
  auto differs = [&](uint64_t k, const char* what) {
    EXPECT_TRUE(keys.insert(k).second) << what << " did not change the key";
  };
  { Config x = c; x.bispectrum.twojmax = 8; differs(dataset_cache_key(x, configs, 20250722, 64), "twojmax"); }
  { Config x = c; x.bispectrum.rcutfac += 1e-9; differs(dataset_cache_key(x, configs, 20250722, 64), "rcutfac"); }
  { Config x = c; x.bispectrum.bzeroflag = 1; differs(dataset_cache_key(x, configs, 20250722, 64), "bzeroflag"); }
  { Config x = c; x.reference.pair_coeffs.push_back("* * zbl 74 74"); differs(dataset_cache_key(x, configs, 20250722, 64), "pair_coeff"); }
  { Config x = c; x.eshift["W"] = 0.1; differs(dataset_cache_key(x, configs, 20250722, 64), "ESHIFT"); }
  differs(dataset_cache_key(c, configs, 20240207, 64), "LAMMPS version");
  differs(dataset_cache_key(c, configs, 20250722, 32), "derivative bits");
  { auto v = configs; v[1].positions[0] += 1e-12; differs(dataset_cache_key(c, v, 20250722, 64), "a position"); }
  { auto v = configs; v[2].energy += 1e-9; differs(dataset_cache_key(c, v, 20250722, 64), "an energy"); }
  { auto v = configs; v.pop_back(); differs(dataset_cache_key(c, v, 20250722, 64), "the configuration set"); }
  // Weights and splits are re-applied after loading: not part of the key.
  { auto v = configs; v[0].eweight = 9; v[0].testing = true; EXPECT_EQ(dataset_cache_key(c, v, 20250722, 64), k0); }
}

TEST(Cache, CorruptOrForeignFileIsAMissWithWarning) {
  TempDir dir;
  Dataset d = random_dataset(64, 3);
  std::string path = dir / "c.h5";
  save_dataset_cache(path, d, 42, 1);
  std::vector<std::string> warnings;
  auto old = set_log_sink([&](LogLevel l, const std::string& m) {
    if (l == LogLevel::warn) warnings.push_back(m);
  });
  EXPECT_FALSE(load_dataset_cache(path, 43).has_value());  // another key
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("key does not match"), std::string::npos) << warnings[0];
  // Truncated file.
  std::string bytes = read_text(path);
  write_text(path, bytes.substr(0, bytes.size() / 2));
  EXPECT_FALSE(load_dataset_cache(path, 42).has_value());
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_NE(warnings[1].find("recomputing"), std::string::npos) << warnings[1];
  // Garbage.
  write_text(path, "not an hdf5 file");
  EXPECT_FALSE(load_dataset_cache(path, 42).has_value());
  EXPECT_EQ(warnings.size(), 3u);
  // Absent: a plain miss, no warning.
  EXPECT_FALSE(load_dataset_cache(dir / "none.h5", 42).has_value());
  EXPECT_EQ(warnings.size(), 3u);
  set_log_sink(old);
}

TEST(Cache, UnwritableLocationIsAnOutputError) {
  Dataset d = random_dataset(64, 3);
  EXPECT_THROW(save_dataset_cache("/proc/fitnn_cannot/c.h5", d, 1, 1), OutputError);
}
