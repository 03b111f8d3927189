// The text outputs (src/io/metrics.cpp, src/io/dumps.cpp) against values computed by hand on
// a three-configuration dataset: metrics rows and numbers, peratom/perconfig lines, the loss
// history, and empty splits (Count 0, never NaN).
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "fitnn/errors.hpp"
#include "fitnn/outputs.hpp"
#include "support.hpp"

using namespace fitnn;
using fitnn_test::TempDir;

namespace {

// c0: 2 atoms, bulk, train.   c1: 1 atom, surface, train.   c2: 3 atoms, bulk, test.
// Group "empty" has no configurations.
Dataset tiny_dataset() {
  Dataset d;
  d.ndesc = 1;
  d.ntypes = 2;
  d.type_names = {"Ta", "W"};
  d.atom_offset = {0, 2, 3, 6};
  d.row_offset = {0, 0, 0, 0};
  d.energy = {4.0, -1.0, 3.0};
  d.ref_energy = {0, 0, 0};
  d.eweight = d.fweight = d.vweight = {1, 1, 1};
  d.testing = {0, 0, 1};
  d.group = {0, 1, 0};
  d.group_names = {"bulk", "surface", "empty"};
  d.file_index = {0, 1, 2};
  d.index_in_file = {0, 0, 0};
  d.file_names = {"a.json", "b.json", "c.json"};
  d.descriptors.assign(6, 0.0);
  d.atom_type = {0, 1, 0, 0, 1, 1};
  d.forces = {0, 0, 0, 0, 0, 0,  // c0
              1, 1, 1,           // c1
              0, 0, 0, 0, 0, 0, 0, 0, 0};
  d.ref_forces.assign(18, 0.0);
  return d;
}

Predictions tiny_predictions() {
  Predictions p;
  p.energy = {5.0, -1.0, 0.0};  // per-atom errors 0.5, 0, -1
  p.atom_energy.assign(6, 0.0);
  p.forces = {1, 0, 0, 0, -2, 0,  // |dF| 3, dF^2 5
              1, 1, 0,            // |dF| 1, dF^2 1
              0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5};  // 4.5, 2.25
  return p;
}

std::vector<std::string> tokens(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> t;
  std::string w;
  while (in >> w) t.push_back(w);
  return t;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> v;
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) v.push_back(l);
  return v;
}

}  // namespace

TEST(Outputs, ErrorsMatchHandComputedValues) {
  const std::vector<ErrorRow> rows = compute_errors(tiny_dataset(), tiny_predictions());
  ASSERT_EQ(rows.size(), 16u);
  struct Want {
    const char* group;
    bool test, force;
    int64_t count;
    double mae, rmse;
  };
  const Want want[] = {
      {"*ALL", false, false, 2, 0.25, std::sqrt(0.125)},
      {"*ALL", false, true, 3, 4.0 / 9, std::sqrt(6.0 / 9)},
      {"*ALL", true, false, 1, 1.0, 1.0},
      {"*ALL", true, true, 3, 0.5, 0.5},
      {"bulk", false, false, 1, 0.5, 0.5},
      {"bulk", false, true, 2, 0.5, std::sqrt(5.0 / 6)},
      {"bulk", true, false, 1, 1.0, 1.0},
      {"bulk", true, true, 3, 0.5, 0.5},
      {"surface", false, false, 1, 0.0, 0.0},
      {"surface", false, true, 1, 1.0 / 3, std::sqrt(1.0 / 3)},
      {"surface", true, false, 0, 0.0, 0.0},
      {"surface", true, true, 0, 0.0, 0.0},
      {"empty", false, false, 0, 0.0, 0.0},
      {"empty", false, true, 0, 0.0, 0.0},
      {"empty", true, false, 0, 0.0, 0.0},
      {"empty", true, true, 0, 0.0, 0.0},
  };
  for (size_t k = 0; k < rows.size(); ++k) {
    SCOPED_TRACE(k);
    EXPECT_EQ(rows[k].group, want[k].group);
    EXPECT_EQ(rows[k].test, want[k].test);
    EXPECT_EQ(rows[k].force, want[k].force);
    EXPECT_EQ(rows[k].count, want[k].count);
    EXPECT_NEAR(rows[k].mae, want[k].mae, 1e-15);
    EXPECT_NEAR(rows[k].rmse, want[k].rmse, 1e-15);
  }
}

TEST(Outputs, MetricsFileHasFitsnapColumns) {
  TempDir dir;
  write_metrics(dir / "m.md", compute_errors(tiny_dataset(), tiny_predictions()));
  const std::vector<std::string> lines = lines_of(fitnn_test::read_text(dir / "m.md"));
  ASSERT_EQ(lines.size(), 17u);
  EXPECT_EQ(tokens(lines[0]),
            (std::vector<std::string>{"Group", "Train/Test", "Property", "Count", "MAE", "RMSE"}));
  using V = std::vector<std::string>;
  EXPECT_EQ(tokens(lines[1]), (V{"*ALL", "Train", "Energy", "2", "2.500e-01", "3.536e-01"}));
  EXPECT_EQ(tokens(lines[2]), (V{"*ALL", "Train", "Force", "3", "4.444e-01", "8.165e-01"}));
  EXPECT_EQ(tokens(lines[3]), (V{"*ALL", "Test", "Energy", "1", "1.000e+00", "1.000e+00"}));
  EXPECT_EQ(tokens(lines[4]), (V{"*ALL", "Test", "Force", "3", "5.000e-01", "5.000e-01"}));
  EXPECT_EQ(tokens(lines[6]), (V{"bulk", "Train", "Force", "2", "5.000e-01", "9.129e-01"}));
  EXPECT_EQ(tokens(lines[10]), (V{"surface", "Train", "Force", "1", "3.333e-01", "5.774e-01"}));
  EXPECT_EQ(tokens(lines[11]), (V{"surface", "Test", "Energy", "0", "n/a", "n/a"}));
  EXPECT_EQ(tokens(lines[16]), (V{"empty", "Test", "Force", "0", "n/a", "n/a"}));
  // Fixed width: every line as long as the header.
  for (const std::string& l : lines) EXPECT_EQ(l.size(), lines[0].size()) << l;
  EXPECT_EQ(fitnn_test::read_text(dir / "m.md").find("nan"), std::string::npos);
}

TEST(Outputs, PeratomLines) {
  TempDir dir;
  write_peratom(dir / "peratom.dat", tiny_dataset(), tiny_predictions());
  const std::vector<std::string> lines = lines_of(fitnn_test::read_text(dir / "peratom.dat"));
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_EQ(lines[0],
            "Filename Group AtomID Type Fx_Truth Fy_Truth Fz_Truth Fx_Pred Fy_Pred Fz_Pred "
            "Testing_Bool");
  EXPECT_EQ(lines[1], "a.json bulk 1 1 0.0 0.0 0.0 1.0 0.0 0.0 False");
  EXPECT_EQ(lines[2], "a.json bulk 2 2 0.0 0.0 0.0 0.0 -2.0 0.0 False");
  EXPECT_EQ(lines[3], "b.json surface 1 1 1.0 1.0 1.0 1.0 1.0 0.0 False");
  EXPECT_EQ(lines[6], "c.json bulk 3 2 0.0 0.0 0.0 0.5 0.5 0.5 True");
}

TEST(Outputs, PerconfigLinesArePerAtom) {
  TempDir dir;
  write_perconfig(dir / "perconfig.dat", tiny_dataset(), tiny_predictions());
  const std::vector<std::string> lines = lines_of(fitnn_test::read_text(dir / "perconfig.dat"));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "Filename Group Natoms Energy_Truth Energy_Pred Testing_Bool");
  EXPECT_EQ(lines[1], "a.json bulk 2 2.0 2.5 False");
  EXPECT_EQ(lines[2], "b.json surface 1 -1.0 -1.0 False");
  EXPECT_EQ(lines[3], "c.json bulk 3 1.0 0.0 True");
}

TEST(Outputs, LossHistoryReadsBackExactly) {
  TempDir dir;
  LossHistory h;
  h.add(1, 0.1, 0.30000000000000004);
  h.add(2, 1.0 / 3, std::nan(""));
  write_loss_history(dir / "loss.dat", h);
  const std::vector<std::string> lines = lines_of(fitnn_test::read_text(dir / "loss.dat"));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0][0], '#');
  EXPECT_EQ(lines[1], "1 0.1 0.30000000000000004");
  const std::vector<std::string> t = tokens(lines[2]);
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(std::stod(t[1]), 1.0 / 3);  // exact round trip
  EXPECT_EQ(t[2], "nan");
}

TEST(Outputs, FormatExact) {
  EXPECT_EQ(format_exact(2.0), "2.0");
  EXPECT_EQ(format_exact(-0.5), "-0.5");
  EXPECT_EQ(format_exact(1e-5), "1e-05");
  EXPECT_EQ(format_exact(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(format_exact(std::nan("")), "nan");
}

TEST(Outputs, NoTestConfigurationsMeansCountZeroNotNan) {
  Dataset d = tiny_dataset();
  d.testing = {0, 0, 0};
  TempDir dir;
  const std::vector<ErrorRow> rows = compute_errors(d, tiny_predictions());
  for (const ErrorRow& r : rows) {
    EXPECT_TRUE(std::isfinite(r.mae) && std::isfinite(r.rmse));
    if (r.test) EXPECT_EQ(r.count, 0);
  }
  EXPECT_EQ(rows[0].count, 3);  // *ALL Train Energy: every configuration
  EXPECT_NEAR(rows[0].mae, 1.5 / 3, 1e-15);
  write_metrics(dir / "m.md", rows);
  const std::string text = fitnn_test::read_text(dir / "m.md");
  EXPECT_EQ(text.find("nan"), std::string::npos);
  EXPECT_NE(text.find("n/a"), std::string::npos);
}

TEST(Outputs, PredictionsOfTheWrongSizeAreRefused) {
  Predictions p = tiny_predictions();
  p.forces.pop_back();
  EXPECT_THROW(compute_errors(tiny_dataset(), p), Error);
  TempDir dir;
  EXPECT_THROW(write_peratom(dir / "x", tiny_dataset(), p), Error);
}
