// Model initialization (PyTorch nn.Linear style, from a seeded, portable generator) and the
// fixed standardization of the descriptors (mean and population standard deviation).
#include <cmath>
#include <random>
#include <string>

#include "fitnn/errors.hpp"
#include "fitnn/model.hpp"

namespace fitnn {

namespace {

// [0, 1) from the top 53 bits of one 64-bit draw: the same numbers on every platform
// (std::uniform_real_distribution is implementation-defined).
inline double unit_uniform(std::mt19937_64& gen) {
  return double(gen() >> 11) * 0x1.0p-53;
}

}  // namespace

void Model::initialize(uint64_t seed) {
  if (layout.widths.size() < 2 || layout.widths.back() != 1)
    throw InputError("model: initialize() needs a layout with an output layer of width 1");
  std::mt19937_64 gen(seed);
  params.assign(size_t(layout.nparams()), 0.0);
  // Per net, per layer: every weight of W_l (row-major), then every bias of b_l, each
  // uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = in_l.
  for (int net = 0; net < layout.nnets(); ++net) {
    for (int l = 1; l <= layout.nlayers(); ++l) {
      const int in = layout.widths[l - 1], out = layout.widths[l];
      const double bound = 1.0 / std::sqrt(double(in));
      double* w = params.data() + layout.weight_offset(net, l);
      for (int64_t k = 0; k < int64_t(out) * in; ++k) w[k] = -bound + 2.0 * bound * unit_uniform(gen);
      double* b = params.data() + layout.bias_offset(net, l);
      for (int k = 0; k < out; ++k) b[k] = -bound + 2.0 * bound * unit_uniform(gen);
    }
  }
  if (mean.size() != size_t(layout.ndesc)) mean.assign(size_t(layout.ndesc), 0.0);
  if (std.size() != size_t(layout.ndesc)) std.assign(size_t(layout.ndesc), 1.0);
}

void compute_standardization(const double* descriptors, int64_t natoms, int ndesc,
                             const std::vector<uint8_t>& mask, std::vector<double>& mean,
                             std::vector<double>& std) {
  if (ndesc < 1) throw InputError("standardization: no descriptors");
  if (!mask.empty() && int64_t(mask.size()) != natoms)
    throw DataError("standardization: the atom mask has " + std::to_string(mask.size()) +
                    " entries for " + std::to_string(natoms) + " atoms");
  auto selected = [&](int64_t a) { return mask.empty() || mask[size_t(a)] != 0; };
  int64_t count = 0;
  for (int64_t a = 0; a < natoms; ++a) count += selected(a) ? 1 : 0;
  if (count == 0)
    throw DataError("standardization: no training atoms to compute the mean and standard "
                    "deviation from (is every configuration in the test set?)");

  // Two passes (mean, then squared deviations): accurate for descriptors with a large mean.
  mean.assign(size_t(ndesc), 0.0);
  std.assign(size_t(ndesc), 0.0);
  std::vector<double> first(size_t(ndesc), 0.0);
  std::vector<uint8_t> constant(size_t(ndesc), 1);
  bool have_first = false;
  for (int64_t a = 0; a < natoms; ++a) {
    if (!selected(a)) continue;
    const double* x = descriptors + a * ndesc;
    if (!have_first) {
      for (int d = 0; d < ndesc; ++d) first[d] = x[d];
      have_first = true;
    }
    for (int d = 0; d < ndesc; ++d) {
      mean[d] += x[d];
      if (x[d] != first[d]) constant[d] = 0;
    }
  }
  for (int d = 0; d < ndesc; ++d) mean[d] /= double(count);
  for (int64_t a = 0; a < natoms; ++a) {
    if (!selected(a)) continue;
    const double* x = descriptors + a * ndesc;
    for (int d = 0; d < ndesc; ++d) {
      const double dev = x[d] - mean[d];
      std[d] += dev * dev;
    }
  }
  for (int d = 0; d < ndesc; ++d) {
    if (!std::isfinite(mean[d]) || !std::isfinite(std[d]))
      throw DataError("standardization: descriptor " + std::to_string(d) +
                      " is not finite on some training atom");
    std[d] = std::sqrt(std[d] / double(count));
    // A component that is the same on every atom has std 0: leave it unscaled (std = 1) and
    // make its standardized value exactly 0 (mean = that value, not a rounded sum).
    if (constant[d]) {
      mean[d] = first[d];
      std[d] = 1.0;
    } else if (std[d] == 0.0) {
      std[d] = 1.0;
    }
  }
}

}  // namespace fitnn
