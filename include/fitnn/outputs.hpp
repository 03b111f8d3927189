// The text outputs of a fit (src/io/): the metrics file, peratom.dat, perconfig.dat and
// loss_vs_epochs.dat, in FitSNAP's formats (shared/docs/file-formats.md). Everything here is
// pure arithmetic on a Dataset and Predictions of ALL its configurations (dataset order);
// the trainer obtains the predictions from the Backend with the best model.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "fitnn/backend.hpp"
#include "fitnn/dataset.hpp"
#include "fitnn/train_state.hpp"

namespace fitnn {

// One row of the metrics file. Energy: Count = configurations, errors per atom (eV/atom)
// averaged over configurations. Force: Count = atoms, errors per force component.
// count == 0: nothing to average (mae and rmse are 0 and written as "n/a", never NaN).
struct ErrorRow {
  std::string group;  // "*ALL" or a group name
  bool test = false;  // Train (false) or Test (true)
  bool force = false; // Energy (false) or Force (true)
  int64_t count = 0;
  double mae = 0.0;
  double rmse = 0.0;
};

// Rows in FitSNAP's order: *ALL Train Energy, *ALL Train Force, *ALL Test Energy,
// *ALL Test Force, then the same four for every group of data.group_names (groups without
// configurations included, with count 0). Errors use the reference-subtracted targets
// (data.energy, data.forces). `pred` holds every configuration, in dataset order.
std::vector<ErrorRow> compute_errors(const Dataset& data, const Predictions& pred);

// The metrics file: header `Group Train/Test Property Count MAE RMSE`, fixed-width columns,
// values %.3e. Written atomically.
void write_metrics(const std::string& path, const std::vector<ErrorRow>& rows);

// peratom.dat: `Filename Group AtomID Type Fx_Truth Fy_Truth Fz_Truth Fx_Pred Fy_Pred Fz_Pred
// Testing_Bool`, one line per atom, AtomID and Type 1-based, Testing_Bool True/False.
void write_peratom(const std::string& path, const Dataset& data, const Predictions& pred);

// perconfig.dat: `Filename Group Natoms Energy_Truth Energy_Pred Testing_Bool`, energies per
// atom (reference-subtracted).
void write_perconfig(const std::string& path, const Dataset& data, const Predictions& pred);

// loss_vs_epochs.dat: a '#' header line, then `epoch train_loss val_loss` per epoch
// (np.loadtxt reads it; val_loss is `nan` when the fit has no validation set).
void write_loss_history(const std::string& path, const LossHistory& history);

// Shortest decimal text that reads back as exactly `v`, with ".0" on integral values
// (as Python prints a float): 0.5, 2.0, 1e-05, nan.
std::string format_exact(double v);

}  // namespace fitnn
