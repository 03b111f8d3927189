// The network: layout of the per-element MLPs, the flat parameter vector, PyTorch-style
// initialization and the fixed standardization. Pure data and arithmetic on the layout: no
// files, no LAMMPS (src/model/).
//
// Parameters live in ONE flat vector (Adam, checkpoints and the GPU copy use it as is).
// For net n and layer l (1..L), W_l is (out_l, in_l) ROW-MAJOR (PyTorch's nn.Linear.weight),
// followed by b_l (out_l). Nets follow one another, each of nparams_per_net() numbers.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "fitnn/config.hpp"

namespace fitnn {

struct ModelLayout {
  int ndesc = 0;               // descriptors per atom (num_desc)
  int nelements = 1;
  int option = 1;              // multi_element_option: 1 shared, 2 per element, 3 one-hot
  std::vector<int> widths;     // widths[0] = input width, ..., widths.back() == 1
  Activation activation = Activation::softplus;
  // input_layer: layer 1 is FitSNAP's trainable (in, in) linear map of the raw input (no
  // activation after it); widths = {in, in, hidden..., 1}. The standardization is then the
  // identity and lives in layer 1's starting values (diag(1/std), -mean/std).
  bool input_layer = false;

  // Build from settings: widths = {input_width, hidden..., 1}.
  static ModelLayout from_settings(int ndesc, int nelements, const TrainSettings& t);
  int nlayers() const { return int(widths.size()) - 1; }           // L
  // The activation after layer l (1..L-1): linear for the input layer.
  Activation activation_of(int l) const {
    return input_layer && l == 1 ? Activation::linear : activation;
  }
  int input_width() const { return ndesc + (option == 3 ? nelements : 0); }
  int nnets() const { return option == 2 ? nelements : 1; }
  int net_of_type(int t) const { return option == 2 ? t : 0; }
  int64_t nparams_per_net() const;
  int64_t nparams() const { return nparams_per_net() * nnets(); }
  // Offsets into the flat vector; layer l in 1..L.
  int64_t weight_offset(int net, int l) const;
  int64_t bias_offset(int net, int l) const;
  bool operator==(const ModelLayout& o) const;
  // "net 0 layer 2 weight [3, 5]" / "net 1 layer 3 bias [0]" for a flat parameter index.
  std::string describe_parameter(int64_t index) const;
};

struct Model {
  ModelLayout layout;
  std::vector<double> params;  // (nparams)
  std::vector<double> mean;    // (ndesc) standardization: h0 = (x - mean) / std
  std::vector<double> std;     // (ndesc) population std, 1 where it is 0
  double output_scale = 1.0;   // E_i = output_scale * z_L (a fixed constant, like mean/std)

  // uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases, like nn.Linear.
  void initialize(uint64_t seed);
  // With layout.input_layer: moves mean/std into layer 1 (W_1 = diag(1/std) on the
  // descriptors, identity on option 3's one-hot inputs, b_1 = -mean/std) and makes the
  // standardization the identity. Without: nothing.
  void start_input_layer();
};

// The same function of the descriptors in the plain form every export understands: the
// input layer folded into the next one (W_2 W_1, W_2 b_1 + b_2) and the output scale into the
// last (s W_L, s b_L), output_scale 1. A model in plain form is returned as it is.
Model plain_model(const Model& model);

// Mean and population standard deviation (ddof 0) of descriptors over the selected atoms.
// descriptors: (natoms, ndesc); atoms selected where mask[atom] != 0 (mask empty: all).
void compute_standardization(const double* descriptors, int64_t natoms, int ndesc,
                             const std::vector<uint8_t>& mask, std::vector<double>& mean,
                             std::vector<double>& std);

}  // namespace fitnn
