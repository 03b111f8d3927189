// The fitnn binary as a user runs it: options, exit codes, errors naming the culprit, nothing
// written on failure, refusal to overwrite, and the descriptor cache (hit, miss on change,
// corrupt file recomputed with a warning). Real LAMMPS; a few Ta configurations.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "support.hpp"

using namespace fitnn_test;
namespace fs = std::filesystem;

namespace {

// A small Ta fit: 2 groups of 3 files copied from ../shared/data/Ta.
std::string small_input(const std::string& extra_pytorch = "",
                        const std::string& rcutfac = "4.67637") {
  return "[BISPECTRUM]\nnumTypes = 1\ntwojmax = 4\nrcutfac = " + rcutfac +
         "\nrfac0 = 0.99363\nrmin0 = 0.0\nwj = 1.0\nradelem = 0.5\ntype = Ta\nbzeroflag = 1\n"
         "quadraticflag = 0\nbikflag = 1\ndgradflag = 1\n"
         "[CALCULATOR]\ncalculator = LAMMPSSNAP\nenergy = 1\nforce = 1\nnonlinear = 1\n"
         "[PYTORCH]\nlayer_sizes = num_desc 8 1\nlearning_rate = 1e-3\nnum_epochs = 2\n"
         "batch_size = 2\nmanual_seed_flag = 1\nsave_state_output = small.pt\n" +
         extra_pytorch +
         "\n[SOLVER]\nsolver = PYTORCH\n[SCRAPER]\nscraper = JSON\n[PATH]\ndataPath = data\n"
         "[OUTFILE]\nmetrics = small_metrics.md\npotential = small_pot\n"
         "[REFERENCE]\nunits = metal\natom_style = atomic\n"
         "pair_style = hybrid/overlay zero 10.0 zbl 4.0 4.8\npair_coeff1 = * * zero\n"
         "pair_coeff2 = * * zbl 73 73\n"
         "[GROUPS]\ngroup_sections = name training_size testing_size eweight fweight vweight\n"
         "Displaced_BCC = 2 1 100 1 0\nVolume_BCC = 2 1 1 1 0\n"
         "[EXTRAS]\ndump_peratom = 1\ndump_perconfig = 1\n";
}

void copy_group(const TempDir& dir, const std::string& group, int n) {
  auto files = list_dir(shared_dir() + "/data/Ta/" + group);
  fs::create_directories(dir / ("data/" + group));
  for (int k = 0; k < n; ++k)
    fs::copy_file(shared_dir() + "/data/Ta/" + group + "/" + files[k],
                  dir / ("data/" + group + "/" + files[k]));
}

void make_small_case(const TempDir& dir, const std::string& input) {
  copy_group(dir, "Displaced_BCC", 3);
  copy_group(dir, "Volume_BCC", 3);
  write_text(dir / "in.in", input);
}

// Names in `dir` other than the inputs we created.
std::vector<std::string> outputs_in(const TempDir& dir) {
  std::vector<std::string> out;
  for (auto& n : list_dir(dir.path))
    if (n != "data" && n != "in.in") out.push_back(n);
  return out;
}

}  // namespace

TEST(Cli, VersionAndHelp) {
  TempDir dir;
  auto r = run_fitnn("--version", dir.path);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("fitnn "), std::string::npos) << r.out;
  r = run_fitnn("--help", dir.path);
  EXPECT_EQ(r.exit_code, 0);
  for (const char* opt : {"--overwrite", "--descriptors-only", "--device", "--threads",
                          "--lammps-lib", "--version"})
    EXPECT_NE(r.out.find(opt), std::string::npos) << opt;
  r = run_fitnn("--list-keys", dir.path);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("layer_sizes"), std::string::npos);
}

TEST(Cli, UsageErrors) {
  TempDir dir;
  EXPECT_EQ(run_fitnn("", dir.path).exit_code, 2);
  auto r = run_fitnn("missing.in", dir.path);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("missing.in: input script not found"), std::string::npos) << r.out;
  r = run_fitnn("--device gpu in.in", dir.path);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(outputs_in(dir).empty());
}

TEST(Cli, BadKeyExitsTwoAndWritesNothing) {
  TempDir dir;
  make_small_case(dir, small_input("learning_rat = 1\n"));
  auto r = run_fitnn("in.in", dir.path);
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.out.find("in.in:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("did you mean 'learning_rate'"), std::string::npos) << r.out;
  EXPECT_TRUE(outputs_in(dir).empty());
}

TEST(Cli, BadDataExitsThreeNamingTheFile) {
  TempDir dir;
  make_small_case(dir, small_input());
  auto files = list_dir(dir / "data/Volume_BCC");
  std::string victim = dir / ("data/Volume_BCC/" + files[1]);
  std::string text = read_text(victim);
  write_text(victim, text.substr(0, text.size() - 40));
  auto r = run_fitnn("in.in", dir.path);
  EXPECT_EQ(r.exit_code, 3) << r.out;
  EXPECT_NE(r.out.find(files[1]), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("malformed JSON"), std::string::npos) << r.out;
  EXPECT_TRUE(outputs_in(dir).empty());
}

TEST(Cli, LammpsLibraryNotFound) {
  TempDir dir;
  make_small_case(dir, small_input());
  auto r = run_fitnn("--lammps-lib /nonexistent/liblammps.so in.in", dir.path);
  EXPECT_EQ(r.exit_code, 4) << r.out;
  EXPECT_NE(r.out.find("/nonexistent/liblammps.so"), std::string::npos) << r.out;
  EXPECT_TRUE(outputs_in(dir).empty());
}

TEST(Cli, RefusesToOverwriteBeforeAnyWork) {
  TempDir dir;
  make_small_case(dir, small_input());
  write_text(dir / "small_metrics.md", "precious");
  auto r = run_fitnn("in.in", dir.path);
  EXPECT_EQ(r.exit_code, 7) << r.out;
  EXPECT_NE(r.out.find("small_metrics.md"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--overwrite"), std::string::npos) << r.out;
  EXPECT_EQ(read_text(dir / "small_metrics.md"), "precious");
  EXPECT_FALSE(file_exists(dir / "fitnn_cache"));
}

TEST(Cli, DescriptorCacheHitMissAndCorruption) {
  TempDir dir;
  make_small_case(dir, small_input());
  auto r1 = run_fitnn("--descriptors-only in.in", dir.path);
  ASSERT_EQ(r1.exit_code, 0) << r1.out;
  EXPECT_NE(r1.out.find("descriptors: cached in"), std::string::npos) << r1.out;
  EXPECT_EQ(r1.out.find("loaded from cache"), std::string::npos) << r1.out;
  auto caches = list_dir(dir / "fitnn_cache");
  ASSERT_EQ(caches.size(), 1u);
  // Hit.
  auto r2 = run_fitnn("--descriptors-only in.in", dir.path);
  ASSERT_EQ(r2.exit_code, 0) << r2.out;
  EXPECT_NE(r2.out.find("loaded from cache"), std::string::npos) << r2.out;
  // Weights are not part of the key: still a hit.
  std::string reweighted = small_input();
  reweighted.replace(reweighted.find("Volume_BCC = 2 1 1 1 0"), 22, "Volume_BCC = 2 1 5 1 0");
  write_text(dir / "in.in", reweighted);
  auto r3 = run_fitnn("--descriptors-only in.in", dir.path);
  EXPECT_NE(r3.out.find("loaded from cache"), std::string::npos) << r3.out;
  // A descriptor setting changes: miss, a second cache file.
  write_text(dir / "in.in", small_input("", "4.7"));
  auto r4 = run_fitnn("--descriptors-only in.in", dir.path);
  ASSERT_EQ(r4.exit_code, 0) << r4.out;
  EXPECT_EQ(r4.out.find("loaded from cache"), std::string::npos) << r4.out;
  EXPECT_EQ(list_dir(dir / "fitnn_cache").size(), 2u);
  // Data change: miss.
  auto files = list_dir(dir / "data/Volume_BCC");
  std::string victim = dir / ("data/Volume_BCC/" + files[0]);
  std::string text = read_text(victim);
  size_t p = text.find("\"Energy\"");
  ASSERT_NE(p, std::string::npos);
  text.insert(text.find_first_of("-0123456789", p), "1");
  write_text(victim, text);
  auto r5 = run_fitnn("--descriptors-only in.in", dir.path);
  ASSERT_EQ(r5.exit_code, 0) << r5.out;
  EXPECT_EQ(r5.out.find("loaded from cache"), std::string::npos) << r5.out;
  // Corrupt cache: warning, recomputed, rewritten, then a hit again.
  auto now = list_dir(dir / "fitnn_cache");
  for (auto& f : now) write_text(dir / ("fitnn_cache/" + f), "garbage");
  auto r6 = run_fitnn("--descriptors-only in.in", dir.path);
  ASSERT_EQ(r6.exit_code, 0) << r6.out;
  EXPECT_NE(r6.out.find("warning: descriptor cache"), std::string::npos) << r6.out;
  auto r7 = run_fitnn("--descriptors-only in.in", dir.path);
  EXPECT_NE(r7.out.find("loaded from cache"), std::string::npos) << r7.out;
}
