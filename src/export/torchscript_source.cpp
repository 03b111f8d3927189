// The torch-free half of the TorchScript export (include/fitnn/exports.hpp,
// src/export/torchscript_source.hpp): the file name, the TorchScript source generated for a
// layout, the model checks, the checkpoint entry point, and, when FitNN is built without
// LibTorch (FITNN_HAVE_TORCH undefined), the stubs that say the export is not available.
// The module itself is built in src/export/torchscript_export.cpp, the one translation unit
// that includes LibTorch.
#include <cmath>
#include <filesystem>
#include <sstream>
#include <string>

#include "export/torchscript_source.hpp"
#include "fitnn/checkpoint.hpp"
#include "fitnn/errors.hpp"
#include "fitnn/exports.hpp"

namespace fitnn {

namespace fs = std::filesystem;

namespace torchscript {

namespace {

std::string activation_body(Activation a) {
  switch (a) {
    // Exact softplus, FitNN's formula: max(z, 0) + log1p(exp(-|z|)). Its autograd derivative
    // is sigmoid(z) (0 at z == 0 exactly, where torch takes 0 for d|z| and d relu).
    case Activation::softplus: return "torch.log1p(torch.exp(-torch.abs(z))) + torch.relu(z)";
    case Activation::tanh: return "torch.tanh(z)";
    case Activation::sigmoid: return "torch.sigmoid(z)";
    case Activation::relu: return "torch.relu(z)";
    case Activation::linear: return "z";
  }
  throw InputError("TorchScript export: unknown activation");
}

// net<k>(h0): the layers unrolled, the activation after all but the last.
void append_net(std::ostringstream& s, const ModelLayout& L, int net) {
  s << "def net" << net << "(self, h: Tensor) -> Tensor:\n";
  for (int l = 1; l <= L.nlayers(); ++l) {
    const std::string affine = "torch.addmm(self." + bias_name(net, l) + ", h, self." +
                               weight_name(net, l) + ".t())";
    if (l < L.nlayers())
      s << "    h = self.act(" << affine << ")\n";
    else
      s << "    return " << affine << ".reshape(-1)\n";
  }
  s << "\n";
}

}  // namespace

std::string weight_name(int net, int layer) {
  return "net" + std::to_string(net) + "_layer" + std::to_string(layer) + "_weight";
}

std::string bias_name(int net, int layer) {
  return "net" + std::to_string(net) + "_layer" + std::to_string(layer) + "_bias";
}

std::string module_source(const ModelLayout& L) {
  std::ostringstream s;
  // `assert`: a `raise` needs the exception class resolved, which only Python's resolver does.
  s << "def forward(self, descriptors: Tensor, elems: Tensor) -> Tensor:\n"
       "    assert descriptors.dim() == 2 and descriptors.size(1) == self.n_descriptors, "
       "\"FitNN TorchScript: descriptors must be float64 [n, "
    << L.ndesc
    << "]\"\n"
       "    n = descriptors.size(0)\n"
       "    assert elems.dim() == 1 and elems.size(0) == n, \"FitNN TorchScript: elems must be "
       "[n], one 0-based element index per row of descriptors\"\n"
       "    e = elems.long()\n"
       "    if n > 0:\n"
       "        assert int(e.min()) >= 0 and int(e.max()) < self.n_elements, "
       "\"FitNN TorchScript: elems must be in [0, "
    << L.nelements
    << ")\"\n"
       "    h0 = (descriptors - self.mean) / self.std\n";
  if (L.option == 3)
    s << "    onehot = e.unsqueeze(1) == torch.arange(self.n_elements, "
         "device=e.device).unsqueeze(0)\n"
         "    h0 = torch.cat([h0, onehot.type_as(h0)], 1)\n";
  if (L.nnets() == 1) {
    s << "    return self.net0(h0)\n\n";
  } else {
    // Per-element nets: each runs on the rows of its element only; rows of other elements
    // keep what the other nets put there (index_copy is out of place: autograd follows).
    s << "    out = h0.new_zeros([n])\n";
    for (int t = 0; t < L.nnets(); ++t)
      s << "    rows = torch.nonzero(e == " << t
        << ").reshape(-1)\n"
           "    out = out.index_copy(0, rows, self.net"
        << t << "(h0.index_select(0, rows)))\n";
    s << "    return out\n\n";
  }
  s << "def act(self, z: Tensor) -> Tensor:\n"
       "    return "
    << activation_body(L.activation) << "\n\n";
  for (int net = 0; net < L.nnets(); ++net) append_net(s, L, net);
  return s.str();
}

void check_torchscript_model(const Config& config, const Model& model) {
  const std::string& p = config.outfile.potential;
  if (p.empty() || fs::path(p).filename().empty())
    throw InputError("[OUTFILE] potential = '" + p +
                     "': give a file prefix such as Ta_pot (the TorchScript model is named "
                     "<potential>.torchscript.pt)");
  const ModelLayout& L = model.layout;
  const BispectrumSettings& b = config.bispectrum;
  if (L.ndesc != b.num_descriptors())
    throw InputError("TorchScript export: the model reads " + std::to_string(L.ndesc) +
                     " descriptors but [BISPECTRUM] (twojmax " + std::to_string(b.twojmax) +
                     ") gives " + std::to_string(b.num_descriptors()) +
                     "; export with the input script the model was trained with");
  if (L.nelements != b.num_types || int(b.types.size()) != L.nelements)
    throw InputError("TorchScript export: the model has " + std::to_string(L.nelements) +
                     " elements but [BISPECTRUM] numTypes = " + std::to_string(b.num_types));
  if (L.nlayers() < 1 || L.widths.front() != L.input_width() || L.widths.back() != 1)
    throw InputError("TorchScript export: the model's layer widths do not fit its layout");
  if (int64_t(model.params.size()) != L.nparams() || int(model.mean.size()) != L.ndesc ||
      int(model.std.size()) != L.ndesc)
    throw InputError("TorchScript export: the model holds " +
                     std::to_string(model.params.size()) + " parameters, " +
                     std::to_string(model.mean.size()) + " means and " +
                     std::to_string(model.std.size()) + " scales; its layout needs " +
                     std::to_string(L.nparams()) + ", " + std::to_string(L.ndesc) + " and " +
                     std::to_string(L.ndesc));
  for (size_t i = 0; i < model.params.size(); ++i)
    if (!std::isfinite(model.params[i]))
      throw NumericError("TorchScript export: parameter " + std::to_string(i) +
                         " is not finite");
  for (size_t k = 0; k < model.mean.size(); ++k)
    if (!std::isfinite(model.mean[k]) || !std::isfinite(model.std[k]) || model.std[k] == 0.0)
      throw NumericError("TorchScript export: the standardization of descriptor " +
                         std::to_string(k) + " is not finite (or its scale is 0)");
}

}  // namespace torchscript

std::string torchscript_export_path(const Config& config, const std::string& output_dir) {
  fs::path prefix(config.outfile.potential);
  if (prefix.is_relative() && !output_dir.empty() && output_dir != ".")
    prefix = fs::path(output_dir) / prefix;
  return prefix.string() + ".torchscript.pt";
}

std::string export_torchscript_from_checkpoint(const Config& config,
                                               const std::string& checkpoint_path,
                                               const std::string& output_dir, bool use_best) {
  const Model model =
      model_from_checkpoint(config, checkpoint_path, use_best, "TorchScript export");
  return export_torchscript(config, model, output_dir);
}

#ifndef FITNN_HAVE_TORCH
// Built without LibTorch: nothing to write; the CLI does not plan or call the export.
bool torchscript_available() { return false; }

std::string export_torchscript(const Config&, const Model&, const std::string&) {
  throw OutputError(
      "TorchScript export: not available, this fitnn was built without LibTorch (install "
      "libtorch-dev and rebuild; CMake option FITNN_TORCH). Write the file from the "
      "checkpoint with tools/fitnn_convert.py torchscript instead (docs/EXPORTS.md)");
}
#endif

}  // namespace fitnn
