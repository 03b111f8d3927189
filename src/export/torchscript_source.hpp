// The TorchScript export's torch-free half (src/export/torchscript_source.cpp): the names of
// the module's tensors, the TorchScript source of its methods for a layout, and the checks that
// a model can be exported for a config. src/export/torchscript_export.cpp (the only translation
// unit that includes LibTorch headers) builds the torch::jit::Module from these.
#pragma once
#include <string>

#include "fitnn/config.hpp"
#include "fitnn/model.hpp"

namespace fitnn {
namespace torchscript {

// The class of the scripted module ("__torch__." prefixed, as Python's scripted classes are).
constexpr const char* kClassName = "__torch__.fitnn.FitnnTorchScript";

// Parameter names of net `net`, layer l in 1..L: "net0_layer1_weight" (out, in) and
// "net0_layer1_bias" (out), float64, the flat vector's W_l and b_l (include/fitnn/model.hpp).
std::string weight_name(int net, int layer);
std::string bias_name(int net, int layer);

// The TorchScript source of the module's methods for `layout`:
//   forward(descriptors: Tensor [n, nd], elems: Tensor [n]) -> Tensor [n]  (atom energies)
//   act(z) (the activation; not named `activation`, the attribute holding its name), and
//   net<k>(h0) per network (layers unrolled).
// forward checks its arguments (an assert naming the expected shapes and range),
// standardizes h0 = (x - mean) / std, appends option 3's one-hot, and runs option 2's
// per-element nets on the rows of their element (index_select / index_copy), so any mix of
// elements works. softplus is log1p(exp(-|z|)) + relu(z): exact like FitNN's (torch's
// Softplus returns z above its threshold).
std::string module_source(const ModelLayout& layout);

// Throws InputError when the model does not fit the config's [BISPECTRUM] (descriptor count,
// element count) or its own layout (parameter, mean or std sizes), or the [OUTFILE] potential
// prefix names no file; NumericError for non-finite parameters, means or scales (or a zero
// scale).
void check_torchscript_model(const Config& config, const Model& model);

}  // namespace torchscript
}  // namespace fitnn
