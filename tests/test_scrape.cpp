// Scrapers and GROUPS: FitSNAP JSON and extended XYZ into metal units, the split semantics
// (fractions vs counts, legacy size, random sampling, smartweights, training_fraction), and
// every bad-input case naming the file and configuration.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "fitnn/config.hpp"
#include "fitnn/errors.hpp"
#include "fitnn/scrape.hpp"
#include "support.hpp"

using namespace fitnn;
using namespace fitnn_test;
namespace fs = std::filesystem;

namespace {

BispectrumSettings ta_types() {
  BispectrumSettings b;
  b.types = {"Ta"};
  return b;
}

// A 2-atom Ta configuration as FitSNAP JSON text, with optional unit styles and edits.
std::string config_json(const std::string& styles = "", double scale_len = 1.0,
                        double scale_e = 1.0, double scale_f = 1.0, double energy = -23.5) {
  char buf[1024];
  std::snprintf(buf, sizeof buf,
                "# comment line\n{\"Dataset\": {%s\"Data\": [{\"NumAtoms\": 2, "
                "\"Lattice\": [[%.12g, 0, 0], [0, %.12g, 0], [0, 0, %.12g]], "
                "\"Energy\": %.12g, \"AtomTypes\": [\"Ta\", \"Ta\"], "
                "\"Positions\": [[0, 0, 0], [%.12g, %.12g, %.12g]], "
                "\"Forces\": [[%.12g, 0, 0], [%.12g, 0, 0]]}]}}",
                styles.c_str(), 3.3 / scale_len, 3.3 / scale_len, 3.3 / scale_len,
                energy / scale_e, 1.65 / scale_len, 1.6 / scale_len, 1.7 / scale_len,
                0.1 / scale_f, -0.1 / scale_f);
  return buf;
}

std::string scrape_error(const std::string& path) {
  try {
    read_fitsnap_json(path, ta_types());
  } catch (const DataError& e) {
    EXPECT_EQ(e.exit_code(), 3);
    return e.what();
  }
  ADD_FAILURE() << "no DataError for " << path;
  return "";
}

// A dataPath with groups of n files each (names g0000.json...).
Config make_groups(const TempDir& dir, const std::vector<std::pair<std::string, int>>& groups,
                   const std::string& group_lines, const std::string& extra = "") {
  for (auto& [name, n] : groups)
    for (int k = 0; k < n; ++k) {
      char f[64];
      std::snprintf(f, sizeof f, "/%s/g%04d.json", name.c_str(), k);
      write_text(dir.path + "/data" + f, config_json("", 1, 1, 1, -20.0 - k));
    }
  std::string text =
      "[BISPECTRUM]\ntype = Ta\nbikflag = 1\ndgradflag = 1\n[PYTORCH]\nlayer_sizes = num_desc 4 "
      "1\n" + extra + "\n[PATH]\ndataPath = data\n[GROUPS]\n" + group_lines;
  return parse_config_string(text, dir / "in.in", dir.path);
}

}  // namespace

TEST(ScrapeJson, ReadsTaFileFromSharedData) {
  auto v = read_fitsnap_json(shared_dir() + "/data/Ta/GSF_110/GSF_110_nonrelax_0.0.json",
                             ta_types());
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].natoms, 24);
  EXPECT_DOUBLE_EQ(v[0].energy, -279.896025);
  EXPECT_DOUBLE_EQ(v[0].positions[3 * 1 + 2], 0.09121);
  EXPECT_DOUBLE_EQ(v[0].lattice[8], 53.1199989319);
  EXPECT_EQ(v[0].types, std::vector<int>(24, 0));
}

TEST(ScrapeJson, UnitStylesConvertToMetal) {
  TempDir dir;
  write_text(dir / "a.json", config_json());
  constexpr double bohr = 0.529177210903, hartree = 27.211386245988;
  write_text(dir / "b.json",
             config_json("\"LatticeStyle\": \"bohr\", \"PositionsStyle\": \"bohr\", "
                         "\"EnergyStyle\": \"hartree\", \"ForcesStyle\": \"hartreeperbohr\", ",
                         bohr, hartree, hartree / bohr));
  auto a = read_fitsnap_json(dir / "a.json", ta_types())[0];
  auto b = read_fitsnap_json(dir / "b.json", ta_types())[0];
  EXPECT_NEAR(b.energy, a.energy, 1e-10);
  for (int k = 0; k < 6; ++k) {
    EXPECT_NEAR(b.positions[k], a.positions[k], 1e-10);
    EXPECT_NEAR(b.forces[k], a.forces[k], 1e-10);
  }
  EXPECT_NEAR(b.lattice[0], 3.3, 1e-10);
  write_text(dir / "c.json", config_json("\"EnergyStyle\": \"furlong\", "));
  EXPECT_NE(scrape_error(dir / "c.json").find("unknown EnergyStyle \"furlong\""),
            std::string::npos);
}

TEST(ScrapeJson, BadInputsNameFileConfigAndKey) {
  TempDir dir;
  std::string good = config_json();
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    size_t p = s.find(from);
    EXPECT_NE(p, std::string::npos) << from;
    return s.replace(p, from.size(), to);
  };
  struct Case {
    std::string text, expect;
  };
  std::vector<Case> cases = {
      {good.substr(0, good.size() / 2), "malformed JSON"},
      {with("\"Positions\"", "\"Positionz\""), "configuration 0: missing \"Positions\""},
      {with("\"Forces\"", "\"Forcez\""), "missing \"Forces\""},
      {with("\"Energy\"", "\"Energie\""), "missing \"Energy\""},
      {with("\"Lattice\"", "\"Lattic\""), "missing \"Lattice\""},
      {with("\"NumAtoms\": 2", "\"NumAtoms\": 3"), "NumAtoms is 3"},
      {with("\"Energy\": -23.5", "\"Energy\": NaN"), "NaN"},
      {with("\"Energy\": -23.5", "\"Energy\": 1e999"), "number overflow"},
      {with("[\"Ta\", \"Ta\"]", "[\"Ta\", \"W\"]"), "element 'W' is not in [BISPECTRUM] type"},
      {with("[[3.3, 0, 0]", "[[-3.3, 0, 0]"), "determinant"},
      {with("[1.65, 1.6, 1.7]", "[3.3, 3.3, 0]"), "atoms 0 and 1 sit at the same position"},
      {with("[[0, 0, 0], ", "[[0, 0], "), "\"Positions\" row 0 must hold 3 numbers"},
      {"{\"Data\": []}", "missing \"Dataset\""},
  };
  for (size_t k = 0; k < cases.size(); ++k) {
    std::string path = dir / ("bad" + std::to_string(k) + ".json");
    write_text(path, cases[k].text);
    std::string m = scrape_error(path);
    EXPECT_NE(m.find(path), std::string::npos) << m;
    EXPECT_NE(m.find(cases[k].expect), std::string::npos) << "case " << k << ": " << m;
  }
  EXPECT_NE(scrape_error(dir / "absent.json").find("file not found"), std::string::npos);
  fs::create_directories(dir / "adir.json");
  EXPECT_NE(scrape_error(dir / "adir.json").find("is a directory"), std::string::npos);
  fs::create_symlink(dir / "nowhere.json", dir / "link.json");
  EXPECT_NE(scrape_error(dir / "link.json").find("dangling"), std::string::npos);
}

TEST(ScrapeXyz, FramesAndErrors) {
  TempDir dir;
  std::string frame =
      "2\nLattice=\"3.3 0 0 0 3.3 0 0 0 3.3\" Properties=species:S:1:pos:R:3:forces:R:3 "
      "energy=-23.5 pbc=\"T T T\"\nTa 0 0 0 0.1 0 0\nTa 1.65 1.6 1.7 -0.1 0 0\n";
  write_text(dir / "g.xyz", frame + frame);
  auto v = read_extxyz(dir / "g.xyz", ta_types());
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[1].index_in_file, 1);
  EXPECT_DOUBLE_EQ(v[1].energy, -23.5);
  EXPECT_DOUBLE_EQ(v[1].positions[4], 1.6);
  EXPECT_DOUBLE_EQ(v[1].forces[3], -0.1);
  std::string nolat = frame;
  nolat.replace(nolat.find("Lattice="), 37, "");
  write_text(dir / "bad.xyz", frame + nolat);
  try {
    read_extxyz(dir / "bad.xyz", ta_types());
    ADD_FAILURE();
  } catch (const DataError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("frame 1"), std::string::npos) << m;
    EXPECT_NE(m.find("no Lattice"), std::string::npos) << m;
  }
  write_text(dir / "short.xyz", frame.substr(0, frame.rfind("Ta ")));
  EXPECT_THROW(read_extxyz(dir / "short.xyz", ta_types()), DataError);
}

TEST(Groups, FractionsCountsAndLegacySize) {
  TempDir dir;
  Config c = make_groups(dir, {{"A", 10}, {"B", 10}, {"C", 5}, {"D", 7}},
                         "group_sections = name training_size testing_size eweight fweight "
                         "vweight\nA = 0.7 0.3 2 3 0\nB = 2 3 1 1 0\nC = 1.0 0.0 1 1 0\n"
                         "D = 1 0.5 1 1 0\n");
  auto v = scrape(c);
  std::map<std::string, std::pair<int, int>> counts;
  for (auto& x : v) (x.testing ? counts[x.group].second : counts[x.group].first)++;
  EXPECT_EQ(counts["A"], std::make_pair(7, 3));
  EXPECT_EQ(counts["B"], std::make_pair(2, 3));
  EXPECT_EQ(counts["C"], std::make_pair(5, 0));
  EXPECT_EQ(counts["D"], std::make_pair(1, 4));  // round(3.5) = 4 (half to even)
  for (auto& x : v)
    if (x.group == "A") {
      EXPECT_DOUBLE_EQ(x.eweight, 2.0);
      EXPECT_DOUBLE_EQ(x.fweight, 3.0);
    }
  // Without random_sampling the first files (sorted) are the training ones.
  EXPECT_NE(v[0].file.find("A/g0000.json"), std::string::npos);
  EXPECT_FALSE(v[0].testing);
  EXPECT_TRUE(v[9].testing);

  Config legacy = make_groups(dir, {}, "A = 0.5 1 1 0\n");
  ASSERT_DOUBLE_EQ(legacy.groups.groups[0].testing_size, -1.0);
  auto w = scrape(legacy);
  int ntest = 0;
  for (auto& x : w) ntest += x.testing;
  EXPECT_EQ(w.size(), 10u);
  EXPECT_EQ(ntest, 5);
}

TEST(Groups, RandomSamplingIsSeededAndRecorded) {
  TempDir dir;
  std::string lines = "group_sections = name training_size testing_size eweight fweight vweight\n"
      "random_sampling = 1\nrandom_seed = 42\nA = 0.5 0.5 1 1 0\n";
  Config c = make_groups(dir, {{"A", 20}}, lines);
  auto a = scrape(c), b = scrape(c);
  std::vector<std::string> fa, fb;
  for (auto& x : a) fa.push_back(x.file + (x.testing ? "T" : "t"));
  for (auto& x : b) fb.push_back(x.file + (x.testing ? "T" : "t"));
  EXPECT_EQ(fa, fb);
  std::vector<std::string> sorted_files;
  for (auto& x : a) sorted_files.push_back(x.file);
  EXPECT_FALSE(std::is_sorted(sorted_files.begin(), sorted_files.end()));
  c.groups.random_seed = 43;
  auto d = scrape(c);
  std::vector<std::string> fd;
  for (auto& x : d) fd.push_back(x.file + (x.testing ? "T" : "t"));
  EXPECT_NE(fa, fd);
}

TEST(Groups, SmartweightsAndTrainingFraction) {
  TempDir dir;
  Config c = make_groups(dir, {{"A", 10}}, "group_sections = name training_size testing_size eweight fweight vweight\n"
      "smartweights = 1\nA = 0.6 0.4 5 3 0\n");
  auto v = scrape(c);
  ASSERT_EQ(v.size(), 10u);
  EXPECT_DOUBLE_EQ(v[0].eweight, 0.5);
  EXPECT_DOUBLE_EQ(v[0].fweight, 3.0 / (10 * 3 * 2));
  Config f = make_groups(dir, {}, "group_sections = name training_size testing_size eweight fweight vweight\n"
      "A = 1.0 0.0 1 1 0\n",
                         "training_fraction = 0.7\nmanual_seed_flag = 1\nseed = 5");
  auto w = scrape(f);
  int ntrain = 0;
  for (auto& x : w) ntrain += !x.testing;
  EXPECT_EQ(ntrain, 7);
  auto w2 = scrape(f);
  for (size_t k = 0; k < w.size(); ++k) EXPECT_EQ(w[k].testing, w2[k].testing);
}

TEST(Groups, MissingAndEmptyGroups) {
  TempDir dir;
  Config c = make_groups(dir, {{"A", 2}}, "group_sections = name training_size testing_size eweight fweight vweight\n"
      "A = 1.0 0.0 1 1 0\nB = 1.0 0.0 1 1 0\n");
  try {
    scrape(c);
    ADD_FAILURE();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("[GROUPS] B: no folder"), std::string::npos)
        << e.what();
  }
  fs::create_directories(dir / "data/B");
  try {
    scrape(c);
    ADD_FAILURE();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("empty group"), std::string::npos) << e.what();
  }
  c.data_path = "nodata";
  try {
    scrape(c);
    ADD_FAILURE();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("dataPath"), std::string::npos) << e.what();
  }
}
