// Starting the network's output at the right energy scale: the last-layer bias is set to the
// least-squares energy per atom of each element over the training configurations
// (min over c of sum_m (e_m - sum_t n_mt c_t)^2). Per-atom DFT energies are of order -10 eV
// while a freshly initialized network outputs ~0, so without this the first hundreds of Adam
// steps only shift the mean. FitNN key `energy_offset` (default 1) turns it on.
// The output scale (key `output_scale`, model_plain.cpp) sets how far one Adam step moves the
// energies: 0 picks the spread of the training energies per atom around that fit.
#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "fit_internal.hpp"
#include "fitnn/log.hpp"

namespace fitnn::detail {

std::vector<double> per_element_energy(const Dataset& data, const std::vector<int64_t>& train) {
  const int nt = data.ntypes;
  Eigen::MatrixXd ata = Eigen::MatrixXd::Zero(nt, nt);
  Eigen::VectorXd atb = Eigen::VectorXd::Zero(nt);
  for (int64_t c : train) {
    Eigen::VectorXd n = Eigen::VectorXd::Zero(nt);
    for (int64_t a = data.atom_offset[c]; a < data.atom_offset[c + 1]; ++a)
      n[data.atom_type[a]] += 1.0;
    ata += n * n.transpose();
    atb += n * data.energy[c];
  }
  // A small ridge keeps elements absent from the training set at zero.
  ata.diagonal().array() += 1e-9 * (1.0 + ata.diagonal().maxCoeff());
  Eigen::VectorXd c = ata.ldlt().solve(atb);
  return std::vector<double>(c.data(), c.data() + nt);
}

double choose_output_scale(const TrainSettings& t, const Dataset& data,
                           const std::vector<int64_t>& train) {
  if (t.output_scale > 0.0) return t.output_scale;
  if (train.empty()) return 1.0;
  const std::vector<double> per_type = per_element_energy(data, train);
  double sum = 0.0, sum2 = 0.0;
  for (int64_t c : train) {
    double fit = 0.0;
    for (int64_t a = data.atom_offset[c]; a < data.atom_offset[c + 1]; ++a)
      fit += per_type[size_t(data.atom_type[a])];
    const double r = (data.energy[c] - fit) / double(data.natoms_of(c));
    sum += r;
    sum2 += r * r;
  }
  const double n = double(train.size()), mean = sum / n;
  const double spread = std::sqrt(std::max(0.0, sum2 / n - mean * mean));
  // Nothing to learn from (one configuration, or energies exactly linear in the counts).
  const double s = std::isfinite(spread) && spread > 1e-6 ? spread : 1.0;
  char buf[96];
  std::snprintf(buf, sizeof buf, "output_scale: %.4g eV/atom (spread of the training energies)", s);
  log_info(buf);
  return s;
}

void initialize_energy_offset(Model& model, const Dataset& data,
                              const std::vector<int64_t>& train) {
  if (train.empty()) return;
  std::vector<double> per_type = per_element_energy(data, train);
  const ModelLayout& L = model.layout;
  const int last = L.nlayers();
  if (L.option == 2) {
    for (int t = 0; t < L.nelements; ++t)
      model.params[L.bias_offset(t, last)] = per_type[t] / model.output_scale;
  } else {
    int64_t natoms = 0;
    double energy = 0;
    for (int64_t c : train) {
      natoms += data.atom_offset[c + 1] - data.atom_offset[c];
      energy += data.energy[c];
    }
    model.params[L.bias_offset(0, last)] = energy / double(natoms) / model.output_scale;
  }
  std::string msg = "energy_offset: output bias starts at";
  for (int t = 0; t < L.nelements && t < int(per_type.size()); ++t) {
    char buf[64];
    std::snprintf(buf, sizeof buf, " %s %.4f", data.type_names.size() > size_t(t)
                                                   ? data.type_names[t].c_str() : "?",
                  L.option == 2 ? per_type[t]
                                : model.params[L.bias_offset(0, last)] * model.output_scale);
    msg += buf;
  }
  log_info(msg + " eV/atom");
}

}  // namespace fitnn::detail
