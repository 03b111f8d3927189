// Test fixtures of the CPU backend tests: datasets and models built from the golden JSON files
// and small random datasets with random derivative rows, plus naive reference loops.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <random>
#include <tuple>
#include <vector>

#include "fitnn/dataset.hpp"
#include "fitnn/model.hpp"

namespace fitnn_test {

// Derivative rows (i, j, a, D) of one configuration, sorted as the Dataset requires
// (k = 3 j + a, then i) and appended to `data`.
struct RawRow {
  int i, j, a;
  std::vector<double> D;
};

inline void append_rows(fitnn::Dataset& data, std::vector<RawRow> rows) {
  std::sort(rows.begin(), rows.end(), [](const RawRow& x, const RawRow& y) {
    return std::make_tuple(3 * x.j + x.a, x.i) < std::make_tuple(3 * y.j + y.a, y.i);
  });
  for (const auto& r : rows) {
    data.row_i.push_back(r.i);
    data.row_k.push_back(3 * r.j + r.a);
    for (double v : r.D) {
      data.dgrad64.push_back(v);
      data.dgrad32.push_back(float(v));
    }
  }
  data.row_offset.push_back(int64_t(data.row_i.size()));
}

inline void begin_dataset(fitnn::Dataset& data, int ndesc, int ntypes) {
  data = fitnn::Dataset();
  data.ndesc = ndesc;
  data.ntypes = ntypes;
  for (int t = 0; t < ntypes; ++t) data.type_names.push_back("E" + std::to_string(t));
  data.atom_offset = {0};
  data.row_offset = {0};
  data.group_names = {"all"};
  data.file_names = {"test"};
}

// Per-configuration bookkeeping arrays (targets and weights are pushed by the caller).
inline void push_config_meta(fitnn::Dataset& data, int natoms) {
  data.atom_offset.push_back(data.atom_offset.back() + natoms);
  data.ref_energy.push_back(0.0);
  data.vweight.push_back(1.0);
  data.testing.push_back(0);
  data.group.push_back(0);
  data.file_index.push_back(0);
  data.index_in_file.push_back(int32_t(data.index_in_file.size()));
}

// The golden file as a Dataset (all configurations) and the golden Model.
inline void golden_dataset(const nlohmann::json& gold, fitnn::Dataset& data,
                           fitnn::Model& model) {
  const auto& net = gold["network"];
  const int ndesc = int(gold["bispectrum"]["ncoeff"]);
  const int ntypes = int(gold["bispectrum"]["types"].size());
  begin_dataset(data, ndesc, ntypes);
  for (const auto& c : gold["configs"]) {
    const int n = int(c["natoms"]);
    push_config_meta(data, n);
    data.energy.push_back(double(c["energy_target_per_atom"]) * n);
    data.eweight.push_back(double(gold["loss"]["eweight"]));
    data.fweight.push_back(double(gold["loss"]["fweight"]));
    for (int i = 0; i < n; ++i) {
      data.atom_type.push_back(int(c["types"][i]) - 1);
      for (int k = 0; k < ndesc; ++k) data.descriptors.push_back(double(c["descriptors"][i][k]));
      for (int a = 0; a < 3; ++a) {
        data.forces.push_back(double(c["forces_target"][i][a]));
        data.ref_forces.push_back(double(c["ref_forces"][i][a]));
      }
    }
    std::vector<RawRow> rows;
    for (size_t r = 0; r < c["dgrad_index"].size(); ++r) {
      const auto& ix = c["dgrad_index"][r];
      RawRow row{int(ix[0]), int(ix[1]), int(ix[2]), {}};
      for (int k = 0; k < ndesc; ++k) row.D.push_back(double(c["dgrad"][r][k]));
      rows.push_back(std::move(row));
    }
    append_rows(data, std::move(rows));
  }
  data.derivative_bits = 64;
  data.dgrad32.clear();

  fitnn::TrainSettings t;
  t.hidden_sizes.clear();
  const auto& ls = net["layer_sizes"];
  for (size_t l = 1; l + 1 < ls.size(); ++l) t.hidden_sizes.push_back(int(ls[l]));
  t.multi_element_option = int(net["multi_element_option"]);
  t.activation = fitnn::activation_from_name(std::string(net["activation"]));
  model = fitnn::Model();
  model.layout = fitnn::ModelLayout::from_settings(ndesc, ntypes, t);
  model.params.assign(size_t(model.layout.nparams()), 0.0);
  for (int e = 0; e < model.layout.nnets(); ++e) {
    const auto& nj = net["nets"][e];
    for (int l = 1; l <= model.layout.nlayers(); ++l) {
      int64_t off = model.layout.weight_offset(e, l);
      for (const auto& row : nj["weights"][l - 1])
        for (const auto& v : row) model.params[size_t(off++)] = double(v);
      off = model.layout.bias_offset(e, l);
      for (const auto& v : nj["biases"][l - 1]) model.params[size_t(off++)] = double(v);
    }
  }
  for (const auto& v : net["standardize_mean"]) model.mean.push_back(double(v));
  for (const auto& v : net["standardize_std"]) model.std.push_back(double(v));
}

// The golden gradient in the flat parameter layout.
inline std::vector<double> golden_gradient(const nlohmann::json& gold,
                                           const fitnn::ModelLayout& layout) {
  std::vector<double> g(size_t(layout.nparams()), 0.0);
  for (int e = 0; e < layout.nnets(); ++e) {
    const auto& nj = gold["network"]["nets"][e];
    for (int l = 1; l <= layout.nlayers(); ++l) {
      int64_t off = layout.weight_offset(e, l);
      for (const auto& row : nj["grad_weights"][l - 1])
        for (const auto& v : row) g[size_t(off++)] = double(v);
      off = layout.bias_offset(e, l);
      for (const auto& v : nj["grad_biases"][l - 1]) g[size_t(off++)] = double(v);
    }
  }
  return g;
}

// A small random dataset: `nconf` configurations of 2..max_atoms atoms of `ntypes` elements,
// descriptors with non-trivial means and spreads, random neighbour pairs with random rows.
inline fitnn::Dataset random_dataset(uint64_t seed, int nconf, int ndesc, int ntypes,
                                     int max_atoms = 5) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::uniform_int_distribution<int> natoms_d(2, max_atoms), type_d(0, ntypes - 1);
  fitnn::Dataset data;
  begin_dataset(data, ndesc, ntypes);
  std::vector<double> center(static_cast<size_t>(ndesc)), spread(static_cast<size_t>(ndesc));
  for (int k = 0; k < ndesc; ++k) {
    center[k] = 3.0 * u(gen);
    spread[k] = 0.5 + std::abs(u(gen));
  }
  for (int c = 0; c < nconf; ++c) {
    const int n = natoms_d(gen);
    push_config_meta(data, n);
    data.energy.push_back(0.5 * n * u(gen));
    data.eweight.push_back(1.0 + std::abs(u(gen)));
    data.fweight.push_back(0.5 + std::abs(u(gen)));
    for (int i = 0; i < n; ++i) {
      data.atom_type.push_back(type_d(gen));
      for (int k = 0; k < ndesc; ++k) data.descriptors.push_back(center[k] + spread[k] * u(gen));
      for (int a = 0; a < 3; ++a) {
        data.forces.push_back(u(gen));
        data.ref_forces.push_back(0.0);
      }
    }
    std::vector<RawRow> rows;
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) {
        if (i != j && u(gen) < -0.3) continue;  // not every pair are neighbours
        for (int a = 0; a < 3; ++a) {
          RawRow r{i, j, a, {}};
          for (int k = 0; k < ndesc; ++k) r.D.push_back(0.3 * u(gen));
          rows.push_back(std::move(r));
        }
      }
    append_rows(data, std::move(rows));
  }
  data.derivative_bits = 64;
  return data;
}

// A model for `data` with random parameters (initialize(seed)) and the data's standardization.
// reparameterized: with the trainable input layer (started at the standardization, then every
// entry perturbed so that it is a full matrix) and output_scale 2.7.
inline fitnn::Model random_model(const fitnn::Dataset& data, int option,
                                 fitnn::Activation act, std::vector<int> hidden,
                                 uint64_t seed, bool reparameterized = false) {
  fitnn::TrainSettings t;
  t.hidden_sizes = std::move(hidden);
  t.multi_element_option = option;
  t.activation = act;
  t.input_layer = reparameterized;
  fitnn::Model m;
  m.layout = fitnn::ModelLayout::from_settings(data.ndesc, data.ntypes, t);
  m.initialize(seed);
  fitnn::compute_standardization(data.descriptors.data(), data.natoms(), data.ndesc, {}, m.mean,
                                 m.std);
  if (reparameterized) {
    m.start_input_layer();
    const auto& L = m.layout;
    for (int net = 0; net < L.nnets(); ++net) {
      const int64_t w0 = L.weight_offset(net, 1), end = L.bias_offset(net, 1) + L.widths[1];
      for (int64_t k = w0; k < end; ++k)
        m.params[size_t(k)] += 0.05 * std::sin(1.7 * double(k) + double(seed));
    }
    m.output_scale = 2.7;
  }
  return m;
}

inline std::vector<int64_t> all_configs(const fitnn::Dataset& data) {
  std::vector<int64_t> c(size_t(data.nconfigs()));
  for (size_t i = 0; i < c.size(); ++i) c[i] = int64_t(i);
  return c;
}

}  // namespace fitnn_test
