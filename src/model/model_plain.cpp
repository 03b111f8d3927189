// The two reparameterizations of the network that only change how Adam moves it, and their
// folding back into the plain form (loss-and-gradients.md's model) that every export reads:
//
//   input layer (input_layer = trainable): FitSNAP's first layer, a trainable (in, in) linear
//     map of the raw descriptors started at the standardization, no activation after it.
//     Adam moves each of its entries by ~lr per step against raw descriptors of size up to
//     ~100, a much faster start than a fixed standardization gives at the same learning rate.
//     Folded: z_2 = W_2 (W_1 x + b_1) + b_2 = (W_2 W_1) x + (W_2 b_1 + b_2).
//   output scale (output_scale = s): E_i = s z_L. Folded: W_L <- s W_L, b_L <- s b_L.
//
// Both folds are exact functions of the descriptors (up to rounding of the products).
#include <cmath>
#include <string>

#include "fitnn/errors.hpp"
#include "fitnn/model.hpp"

namespace fitnn {

void Model::start_input_layer() {
  if (!layout.input_layer) return;
  const int in = layout.input_width(), d = layout.ndesc;
  if (layout.nlayers() < 2 || layout.widths[1] != in)
    throw InputError("model: the input layer must be (" + std::to_string(in) + ", " +
                     std::to_string(in) + ")");
  if (mean.size() != size_t(d) || std.size() != size_t(d))
    throw InputError("model: start_input_layer() needs the standardization");
  for (int net = 0; net < layout.nnets(); ++net) {
    double* w = params.data() + layout.weight_offset(net, 1);  // (in, in) row-major
    double* b = params.data() + layout.bias_offset(net, 1);
    for (int r = 0; r < in; ++r) {
      for (int c = 0; c < in; ++c) w[int64_t(r) * in + c] = 0.0;
      w[int64_t(r) * in + r] = r < d ? 1.0 / std[size_t(r)] : 1.0;
      b[r] = r < d ? -mean[size_t(r)] / std[size_t(r)] : 0.0;
    }
  }
  mean.assign(size_t(d), 0.0);
  std.assign(size_t(d), 1.0);
}

Model plain_model(const Model& model) {
  const ModelLayout& L = model.layout;
  if (!L.input_layer && model.output_scale == 1.0) return model;
  if (!(std::isfinite(model.output_scale) && model.output_scale > 0.0))
    throw InputError("model: output_scale " + std::to_string(model.output_scale) +
                     " is not a positive number");
  Model out;
  out.layout = L;
  out.layout.input_layer = false;
  if (L.input_layer) out.layout.widths.erase(out.layout.widths.begin() + 1);
  out.mean = model.mean;
  out.std = model.std;
  out.output_scale = 1.0;
  out.params.assign(size_t(out.layout.nparams()), 0.0);
  const int shift = L.input_layer ? 1 : 0;  // layer l of `out` is layer l + shift of `model`
  const int Lout = out.layout.nlayers();
  for (int net = 0; net < L.nnets(); ++net) {
    for (int l = 1; l <= Lout; ++l) {
      const int lin = l + shift, rows = out.layout.widths[l], cols = out.layout.widths[l - 1];
      const double* w = model.params.data() + L.weight_offset(net, lin);
      const double* b = model.params.data() + L.bias_offset(net, lin);
      double* wo = out.params.data() + out.layout.weight_offset(net, l);
      double* bo = out.params.data() + out.layout.bias_offset(net, l);
      const double s = l == Lout ? model.output_scale : 1.0;
      if (l == 1 && shift == 1) {
        // W_2 W_1 and W_2 b_1 + b_2; W_1 is (in, in).
        const int in = L.widths[0];
        const double* w1 = model.params.data() + L.weight_offset(net, 1);
        const double* b1 = model.params.data() + L.bias_offset(net, 1);
        for (int r = 0; r < rows; ++r) {
          for (int c = 0; c < cols; ++c) {
            double acc = 0.0;
            for (int k = 0; k < in; ++k) acc += w[int64_t(r) * in + k] * w1[int64_t(k) * in + c];
            wo[int64_t(r) * cols + c] = s * acc;
          }
          double acc = b[r];
          for (int k = 0; k < in; ++k) acc += w[int64_t(r) * in + k] * b1[k];
          bo[r] = s * acc;
        }
      } else {
        for (int64_t k = 0; k < int64_t(rows) * cols; ++k) wo[k] = s * w[k];
        for (int r = 0; r < rows; ++r) bo[r] = s * b[r];
      }
    }
  }
  return out;
}

}  // namespace fitnn
