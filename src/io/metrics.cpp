// The metrics file (OUTFILE metrics): energy and force MAE/RMSE per training/test split,
// over all configurations (*ALL) and per group, from the predictions of the best model.
// Energy errors are per atom and averaged over configurations; force errors are per
// component: MAE = sum |dF| / (3 natoms), RMSE = sqrt(sum dF^2 / (3 natoms)).
// A split without configurations gets Count 0 and "n/a" (never a division by zero or NaN).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>

#include "fitnn/atomic_file.hpp"
#include "fitnn/errors.hpp"
#include "fitnn/log.hpp"
#include "fitnn/outputs.hpp"

namespace fitnn {
namespace {

struct Accumulator {
  double abs_sum = 0.0, sq_sum = 0.0;
  int64_t count = 0;       // configurations (energy) or atoms (force)
  int64_t components = 0; // values summed (configurations, or 3 x atoms)
};

void check_predictions(const Dataset& data, const Predictions& pred) {
  if (int64_t(pred.energy.size()) != data.nconfigs() ||
      int64_t(pred.forces.size()) != 3 * data.natoms())
    throw Error("internal error: predictions for " + std::to_string(pred.energy.size()) +
                " configurations / " + std::to_string(pred.forces.size() / 3) +
                " atoms, the dataset has " + std::to_string(data.nconfigs()) + " / " +
                std::to_string(data.natoms()));
}

ErrorRow make_row(const std::string& group, bool test, bool force, const Accumulator& a) {
  ErrorRow r;
  r.group = group;
  r.test = test;
  r.force = force;
  r.count = a.count;
  if (a.components > 0) {
    r.mae = a.abs_sum / double(a.components);
    r.rmse = std::sqrt(a.sq_sum / double(a.components));
  }
  return r;
}

}  // namespace

std::vector<ErrorRow> compute_errors(const Dataset& data, const Predictions& pred) {
  check_predictions(data, pred);
  const size_t ngroups = data.group_names.size();
  // acc[g][test][force]; g = 0 is *ALL, g = k + 1 is group k.
  std::vector<std::array<std::array<Accumulator, 2>, 2>> acc(ngroups + 1);
  for (int64_t c = 0; c < data.nconfigs(); ++c) {
    const int n = data.natoms_of(c);
    const int test = data.testing[c] ? 1 : 0;
    const size_t g = size_t(data.group[c]) + 1;
    if (g > ngroups)
      throw DataError("configuration " + std::to_string(c) + " has group index " +
                      std::to_string(data.group[c]) + " but the dataset names " +
                      std::to_string(ngroups) + " groups");
    const double de = (pred.energy[c] - data.energy[c]) / n;
    double fabs = 0.0, fsq = 0.0;
    for (int64_t k = 3 * data.atom_offset[c]; k < 3 * data.atom_offset[c + 1]; ++k) {
      const double df = pred.forces[k] - data.forces[k];
      fabs += std::abs(df);
      fsq += df * df;
    }
    for (size_t slot : {size_t(0), g}) {
      Accumulator& e = acc[slot][test][0];
      e.abs_sum += std::abs(de);
      e.sq_sum += de * de;
      e.count += 1;
      e.components += 1;
      Accumulator& f = acc[slot][test][1];
      f.abs_sum += fabs;
      f.sq_sum += fsq;
      f.count += n;
      f.components += 3 * int64_t(n);
    }
  }
  std::vector<ErrorRow> rows;
  for (size_t g = 0; g <= ngroups; ++g) {
    const std::string name = g == 0 ? "*ALL" : data.group_names[g - 1];
    for (int test : {0, 1})
      for (int force : {0, 1}) rows.push_back(make_row(name, test, force, acc[g][test][force]));
  }
  return rows;
}

void write_metrics(const std::string& path, const std::vector<ErrorRow>& rows) {
  int gw = 5;
  for (const ErrorRow& r : rows) gw = std::max(gw, int(r.group.size()));
  AtomicFile out(path);
  out.printf("%-*s  %-10s  %-8s  %8s  %10s  %10s\n", gw, "Group", "Train/Test", "Property",
             "Count", "MAE", "RMSE");
  std::vector<std::string> empty;
  for (const ErrorRow& r : rows) {
    const char* split = r.test ? "Test" : "Train";
    const char* prop = r.force ? "Force" : "Energy";
    if (r.count == 0) {
      out.printf("%-*s  %-10s  %-8s  %8d  %10s  %10s\n", gw, r.group.c_str(), split, prop, 0,
                 "n/a", "n/a");
      if (!r.force) empty.push_back(r.group + " " + split);
    } else {
      out.printf("%-*s  %-10s  %-8s  %8lld  %10.3e  %10.3e\n", gw, r.group.c_str(), split, prop,
                 (long long)r.count, r.mae, r.rmse);
    }
  }
  out.commit();
  if (!empty.empty()) {
    std::string list;
    for (size_t k = 0; k < empty.size(); ++k) list += (k ? ", " : "") + empty[k];
    log_note("metrics '" + path + "': no configurations in " + list +
             ": those rows say Count 0 and n/a");
  }
}

}  // namespace fitnn
