// End to end, as a user runs it, on the full Ta set (363 configurations, real LAMMPS
// descriptors, the CPU float64 backend):
//   `fitnn ../Ta-example.in` (FitSNAP's settings, 100 epochs at lr 5e-5): test errors under
//     FitSNAP's own 100-epoch figures on this machine (0.100 eV/atom, 0.079 eV/A);
//   `fitnn ../Ta-fast.in`: every output FitSNAP writes exists with FitSNAP's headers, and the
//     test errors beat FitSNAP's figures after 1000 epochs (0.048 eV/atom, 0.057 eV/A).
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "support.hpp"

using namespace fitnn_test;
namespace fs = std::filesystem;

namespace {

struct Row {
  double mae = -1, rmse = -1;
  long count = -1;
};

// "*ALL Test Energy <count> <mae> <rmse>" from the metrics file.
Row metric(const std::string& text, const std::string& group, const std::string& split,
           const std::string& property) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string g, s, p;
    Row r;
    if (ls >> g >> s >> p >> r.count >> r.mae >> r.rmse && g == group && s == split &&
        p == property)
      return r;
  }
  return {};
}

std::string first_line(const std::string& path) {
  std::string text = read_text(path);
  return text.substr(0, text.find('\n'));
}
// Copies examples/Ta/<input> into dir/Ta with dataPath pointing at ../shared and runs it
// from dir/Ta/run.
CliResult run_example(const TempDir& dir, const std::string& input) {
  const std::string example = std::string(FITNN_SOURCE_DIR) + "/examples/Ta";
  fs::create_directories(dir / "Ta/run");
  std::string text = read_text(example + "/" + input);
  const size_t p = text.find("dataPath = ");
  EXPECT_NE(p, std::string::npos);
  if (p != std::string::npos)
    text.replace(p, text.find('\n', p) - p, "dataPath = " + shared_dir() + "/data/Ta");
  write_text(dir / ("Ta/" + input), text);
  return run_fitnn("../" + input, dir / "Ta/run");
}

}  // namespace

TEST(ExampleTa, ExampleBeatsFitsnapHundredEpochErrors) {
  TempDir dir;
  auto r = run_example(dir, "Ta-example.in");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("\n100 "), std::string::npos) << "100 epoch lines expected";
  const std::string metrics = read_text(dir / "Ta/run/Ta_metrics.md");
  Row e = metric(metrics, "*ALL", "Test", "Energy");
  Row f = metric(metrics, "*ALL", "Test", "Force");
  EXPECT_EQ(e.count, 110);
  std::printf("Ta example, 100 epochs: test energy MAE %.4f eV/atom, force MAE %.4f eV/A\n",
              e.mae, f.mae);
  EXPECT_GT(e.mae, 0.0);
  EXPECT_LT(e.mae, 0.100);
  EXPECT_GT(f.mae, 0.0);
  EXPECT_LT(f.mae, 0.079);
}

TEST(ExampleTa, FastFitBeatsFitsnapThousandEpochErrors) {
  TempDir dir;
  auto r = run_example(dir, "Ta-fast.in");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("scrape: 363 configurations (253 training, 110 validation)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("\n300 "), std::string::npos) << "300 epoch lines expected";

  const std::string run = dir / "Ta/run";
  for (const char* f : {"Ta_fast_metrics.md", "loss_vs_epochs.dat", "peratom.dat",
                        "perconfig.dat", "Ta_fast.pt", "Ta_fast.pt.latest",
                        "Ta_fast_pot.mliap.descriptor"})
    EXPECT_TRUE(file_exists(run + "/" + f)) << f;
  EXPECT_EQ(first_line(run + "/peratom.dat"),
            "Filename Group AtomID Type Fx_Truth Fy_Truth Fz_Truth Fx_Pred Fy_Pred Fz_Pred "
            "Testing_Bool");
  EXPECT_EQ(first_line(run + "/perconfig.dat"),
            "Filename Group Natoms Energy_Truth Energy_Pred Testing_Bool");
  std::string metrics = read_text(run + "/Ta_fast_metrics.md");
  EXPECT_EQ(metrics.substr(0, metrics.find('\n')).find("Group"), 0u);

  Row e = metric(metrics, "*ALL", "Test", "Energy");
  Row f = metric(metrics, "*ALL", "Test", "Force");
  EXPECT_EQ(e.count, 110);
  EXPECT_EQ(f.count, 4224 - metric(metrics, "*ALL", "Train", "Force").count);
  std::printf("Ta fast fit: test energy MAE %.4f eV/atom, force MAE %.4f eV/A\n", e.mae, f.mae);
  EXPECT_GT(e.mae, 0.0);
  EXPECT_LT(e.mae, 0.048);
  EXPECT_GT(f.mae, 0.0);
  EXPECT_LT(f.mae, 0.057);
}
