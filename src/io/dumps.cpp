// Line-per-item text outputs of a fit: peratom.dat and perconfig.dat (EXTRAS dump_peratom /
// dump_perconfig, FitSNAP's columns) and loss_vs_epochs.dat. Numbers are written as the
// shortest text that reads back exactly (as Python prints floats), booleans as True/False,
// as FitSNAP writes them. Every file goes through AtomicFile.
#include <charconv>
#include <cmath>
#include <string>

#include "fitnn/atomic_file.hpp"
#include "fitnn/errors.hpp"
#include "fitnn/outputs.hpp"

namespace fitnn {
namespace {

const std::string& file_of(const Dataset& data, int64_t c) {
  static const std::string none = "-";
  if (c >= int64_t(data.file_index.size())) return none;
  int32_t f = data.file_index[c];
  return (f >= 0 && size_t(f) < data.file_names.size()) ? data.file_names[f] : none;
}

const std::string& group_of(const Dataset& data, int64_t c) {
  static const std::string none = "-";
  int32_t g = data.group[c];
  return (g >= 0 && size_t(g) < data.group_names.size()) ? data.group_names[g] : none;
}

void check_sizes(const std::string& path, const Dataset& data, const Predictions& pred) {
  if (int64_t(pred.energy.size()) != data.nconfigs() ||
      int64_t(pred.forces.size()) != 3 * data.natoms())
    throw Error("internal error writing '" + path +
                "': predictions do not cover every configuration of the dataset");
}

}  // namespace

std::string format_exact(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, res.ptr);
  // Python writes integral floats with ".0" (1.0, not 1): keep the same look.
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

void write_peratom(const std::string& path, const Dataset& data, const Predictions& pred) {
  check_sizes(path, data, pred);
  AtomicFile out(path);
  out.write("Filename Group AtomID Type Fx_Truth Fy_Truth Fz_Truth Fx_Pred Fy_Pred Fz_Pred "
            "Testing_Bool\n");
  std::string line;
  for (int64_t c = 0; c < data.nconfigs(); ++c) {
    const std::string prefix = file_of(data, c) + " " + group_of(data, c) + " ";
    const char* testing = data.testing[c] ? "True" : "False";
    for (int64_t a = data.atom_offset[c]; a < data.atom_offset[c + 1]; ++a) {
      line = prefix + std::to_string(a - data.atom_offset[c] + 1) + " " +
             std::to_string(data.atom_type[a] + 1);
      for (int k = 0; k < 3; ++k) line += " " + format_exact(data.forces[3 * a + k]);
      for (int k = 0; k < 3; ++k) line += " " + format_exact(pred.forces[3 * a + k]);
      line += " ";
      line += testing;
      line += "\n";
      out.write(line);
    }
  }
  out.commit();
}

void write_perconfig(const std::string& path, const Dataset& data, const Predictions& pred) {
  check_sizes(path, data, pred);
  AtomicFile out(path);
  out.write("Filename Group Natoms Energy_Truth Energy_Pred Testing_Bool\n");
  for (int64_t c = 0; c < data.nconfigs(); ++c) {
    const int n = data.natoms_of(c);
    out.write(file_of(data, c) + " " + group_of(data, c) + " " + std::to_string(n) + " " +
              format_exact(data.energy[c] / n) + " " + format_exact(pred.energy[c] / n) + " " +
              (data.testing[c] ? "True" : "False") + "\n");
  }
  out.commit();
}

void write_loss_history(const std::string& path, const LossHistory& h) {
  AtomicFile out(path);
  out.write("# epoch train_loss val_loss\n");
  for (size_t k = 0; k < h.size(); ++k)
    out.write(std::to_string(h.epoch[k]) + " " + format_exact(h.train[k]) + " " +
              format_exact(h.val[k]) + "\n");
  out.commit();
}

}  // namespace fitnn
