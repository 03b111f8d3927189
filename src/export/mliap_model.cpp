// The `pair_style mliap model nn` model file (include/fitnn/exports.hpp): FitNN's flat
// parameters (per net, per layer: W_l row-major (out, in), then b_l) folded into LAMMPS's
// per-element blocks, and their text.
//
// LAMMPS's layout (src/ML-IAP/mliap_model_nn.cpp): a line `nelements nparams`, a line
// `NET ndesc nlayers act_1 n_1 ... act_L n_L`, then per element ndesc means, ndesc scales and
// nparams coefficients (layer by layer, node by node: the bias, then the node's weights).
// Each block must end at a line end (LAMMPS counts values per line) and no line may hold more
// than 30 values.
#include <cmath>
#include <string>

#include "export/export_text.hpp"
#include "fitnn/errors.hpp"
#include "fitnn/exports.hpp"

namespace fitnn {

bool lammps_nn_supports(Activation a) {
  return a == Activation::linear || a == Activation::sigmoid || a == Activation::tanh ||
         a == Activation::relu;
}

namespace {

void check_finite(const std::vector<double>& v, const std::string& what) {
  for (size_t k = 0; k < v.size(); ++k)
    if (!std::isfinite(v[k]))
      throw NumericError("LAMMPS export: " + what + " [" + std::to_string(k) +
                         "] is not finite (" + std::to_string(v[k]) +
                         "); the model diverged: export an earlier checkpoint");
}

void check_model(const Model& model, const std::vector<std::string>& elements) {
  const ModelLayout& L = model.layout;
  if (!lammps_nn_supports(L.activation))
    throw InputError(std::string("LAMMPS export: activation '") +
                     activation_name(L.activation) +
                     "' cannot run in LAMMPS's mliap model nn (it knows linear, sigmoid, tanh "
                     "and relu and would silently run any other as linear); use "
                     "tools/fitnn_convert.py mliappy for a LAMMPS built with PYTHON");
  if (L.nlayers() < 1 || L.widths.back() != 1 || L.widths[0] != L.input_width())
    throw InputError("LAMMPS export: the network layout is invalid");
  if (int(elements.size()) != L.nelements)
    throw InputError("LAMMPS export: the model has " + std::to_string(L.nelements) +
                     " elements but [BISPECTRUM] type names " +
                     std::to_string(elements.size()));
  if (int64_t(model.params.size()) != L.nparams())
    throw InputError("LAMMPS export: the model has " + std::to_string(model.params.size()) +
                     " parameters, its layout needs " + std::to_string(L.nparams()));
  if (int(model.mean.size()) != L.ndesc || int(model.std.size()) != L.ndesc)
    throw InputError("LAMMPS export: the standardization does not match ndesc " +
                     std::to_string(L.ndesc));
  check_finite(model.params, "parameter");
  check_finite(model.mean, "standardization mean");
  check_finite(model.std, "standardization std");
  for (size_t k = 0; k < model.std.size(); ++k)
    if (model.std[k] == 0.0)
      throw NumericError("LAMMPS export: standardization std [" + std::to_string(k) +
                         "] is 0 (FitNN stores 1 for constant descriptors): the model is "
                         "damaged");
}

}  // namespace

LammpsNnModel fold_for_lammps(const Model& trained, const std::vector<std::string>& elements) {
  const Model model = plain_model(trained);  // input layer and output scale folded in
  check_model(model, elements);
  const ModelLayout& L = model.layout;
  const int d = L.ndesc;
  const int in_width = L.input_width();
  LammpsNnModel out;
  out.ndesc = d;
  out.widths = L.widths;
  out.widths[0] = d;  // option 3's one-hot columns are folded away
  for (int l = 1; l <= L.nlayers(); ++l)
    out.activations.push_back(l == L.nlayers() ? "linear" : activation_name(L.activation));
  for (int l = 1; l <= L.nlayers(); ++l)
    out.nparams += int64_t(out.widths[l]) * (out.widths[l - 1] + 1);

  for (int t = 0; t < L.nelements; ++t) {
    LammpsNnElement e;
    e.name = elements[size_t(t)];
    e.mean = model.mean;
    e.scale = model.std;
    e.coeffs.reserve(size_t(out.nparams));
    const int net = L.net_of_type(t);
    for (int l = 1; l <= L.nlayers(); ++l) {
      const double* W = model.params.data() + L.weight_offset(net, l);
      const double* b = model.params.data() + L.bias_offset(net, l);
      const int nin = l == 1 ? in_width : L.widths[l - 1];
      const int keep = l == 1 ? d : nin;  // weights LAMMPS sees (descriptor columns)
      for (int n = 0; n < L.widths[l]; ++n) {
        double bias = b[n];
        // Option 3: the one-hot input of element t is 1 in column d + t, 0 elsewhere.
        if (l == 1 && L.option == 3) bias += W[int64_t(n) * nin + d + t];
        e.coeffs.push_back(bias);
        for (int k = 0; k < keep; ++k) e.coeffs.push_back(W[int64_t(n) * nin + k]);
      }
    }
    out.elements.push_back(std::move(e));
  }
  return out;
}

std::string mliap_model_text(const LammpsNnModel& m) {
  using exporttext::append_values;
  const int nlayers = int(m.widths.size()) - 1;
  std::string s;
  s += "# FitNN " FITNN_VERSION " neural network for LAMMPS: pair_style mliap model nn\n";
  s += "# elements:";
  for (const auto& e : m.elements) s += " " + e.name;
  s += "\n# layers:";
  for (size_t k = 0; k < m.widths.size(); ++k) s += (k ? " -> " : " ") + std::to_string(m.widths[k]);
  s += "\n# per element: " + std::to_string(m.ndesc) + " means, " + std::to_string(m.ndesc) +
       " scales (input = (B - mean)/scale), " + std::to_string(m.nparams) +
       " coefficients\n# (layer by layer, node by node: bias, then weights)\n";
  s += std::to_string(m.elements.size()) + " " + std::to_string(m.nparams) + "\n";
  s += "NET " + std::to_string(m.ndesc) + " " + std::to_string(nlayers);
  for (int l = 1; l <= nlayers; ++l)
    s += " " + m.activations[size_t(l - 1)] + " " + std::to_string(m.widths[size_t(l)]);
  s += "\n";
  for (const auto& e : m.elements) {
    s += "# element " + e.name + ": means\n";
    append_values(s, e.mean, 0, e.mean.size(), 10);
    s += "# element " + e.name + ": scales\n";
    append_values(s, e.scale, 0, e.scale.size(), 10);
    size_t off = 0;
    for (int l = 1; l <= nlayers; ++l) {
      const size_t count = size_t(m.widths[size_t(l)]) * size_t(m.widths[size_t(l - 1)] + 1);
      s += "# element " + e.name + ": layer " + std::to_string(l) + " (" +
           std::to_string(m.widths[size_t(l)]) + " nodes x (bias + " +
           std::to_string(m.widths[size_t(l - 1)]) + " weights))\n";
      append_values(s, e.coeffs, off, count, 10);
      off += count;
    }
  }
  return s;
}

}  // namespace fitnn
