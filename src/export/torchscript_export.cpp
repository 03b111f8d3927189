// The TorchScript model written after a fit when FitNN is built with LibTorch
// (include/fitnn/exports.hpp, docs/EXPORTS.md). The only translation unit of FitNN that
// includes LibTorch headers: CMake compiles it into the small static library fitnn_torch
// (with LibTorch's compile flags) and defines FITNN_HAVE_TORCH for fitnn_core.
//
// The module is built directly with torch::jit::Module: the weights and biases as float64
// parameters (net<k>_layer<l>_weight (out, in), net<k>_layer<l>_bias), the standardization as
// float64 buffers mean and std, the attributes n_descriptors, n_elements, n_params, option,
// activation and elements, and the methods compiled from the TorchScript source generated for
// the layout (src/export/torchscript_source.cpp). It is saved to a temporary file beside the
// target, loaded back and checked to reproduce the module bit for bit on a probe batch, and
// only then renamed onto <potential>.torchscript.pt.
#include <torch/script.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "export/torchscript_source.hpp"
#include "fitnn/atomic_file.hpp"
#include "fitnn/errors.hpp"
#include "fitnn/exports.hpp"

namespace fitnn {

namespace fs = std::filesystem;

namespace {

torch::Tensor tensor_of(const double* data, std::vector<int64_t> shape) {
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  torch::Tensor t = torch::empty(shape, torch::TensorOptions().dtype(torch::kFloat64));
  if (count > 0) std::copy(data, data + count, t.data_ptr<double>());
  return t;
}

torch::jit::Module build_module(const Config& config, const Model& model) {
  const ModelLayout& L = model.layout;
  torch::jit::Module m{c10::QualifiedName(torchscript::kClassName)};
  m.register_attribute("n_descriptors", c10::IntType::get(), int64_t(L.ndesc));
  m.register_attribute("n_elements", c10::IntType::get(), int64_t(L.nelements));
  m.register_attribute("n_params", c10::IntType::get(), int64_t(L.nparams()));
  m.register_attribute("option", c10::IntType::get(), int64_t(L.option));
  m.register_attribute("activation", c10::StringType::get(),
                       std::string(activation_name(L.activation)));
  c10::List<std::string> elements;
  for (const auto& e : config.bispectrum.types) elements.push_back(e);
  m.register_attribute("elements", c10::ListType::ofStrings(), elements);
  m.register_buffer("mean", tensor_of(model.mean.data(), {L.ndesc}));
  m.register_buffer("std", tensor_of(model.std.data(), {L.ndesc}));
  for (int net = 0; net < L.nnets(); ++net)
    for (int l = 1; l <= L.nlayers(); ++l) {
      const int64_t out = L.widths[size_t(l)], in = L.widths[size_t(l - 1)];
      // Trainable like nn.Linear's (requires_grad), so the loaded module can be fine-tuned.
      m.register_parameter(
          torchscript::weight_name(net, l),
          tensor_of(model.params.data() + L.weight_offset(net, l), {out, in}).requires_grad_(),
          /*is_buffer=*/false);
      m.register_parameter(
          torchscript::bias_name(net, l),
          tensor_of(model.params.data() + L.bias_offset(net, l), {out}).requires_grad_(),
          /*is_buffer=*/false);
    }
  m.define(torchscript::module_source(L));
  m.eval();
  return m;
}

// A few atoms of every element around the standardization's centre.
std::vector<torch::jit::IValue> probe_inputs(const Model& model) {
  const ModelLayout& L = model.layout;
  const int64_t n = 2 * int64_t(L.nelements) + 1;
  std::vector<double> x(size_t(n * L.ndesc));
  std::vector<int64_t> elems(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    elems[size_t(i)] = i % L.nelements;
    for (int k = 0; k < L.ndesc; ++k)
      x[size_t(i * L.ndesc + k)] =
          model.mean[size_t(k)] + model.std[size_t(k)] * (0.25 * double((i + k) % 7) - 0.75);
  }
  torch::Tensor e = torch::empty({n}, torch::TensorOptions().dtype(torch::kInt64));
  std::copy(elems.begin(), elems.end(), e.data_ptr<int64_t>());
  return {tensor_of(x.data(), {n, int64_t(L.ndesc)}), e};
}

void remove_quietly(const std::string& path) {
  std::error_code ec;
  fs::remove(path, ec);
}

}  // namespace

bool torchscript_available() { return true; }

std::string export_torchscript(const Config& config, const Model& trained,
                               const std::string& output_dir) {
  const Model model = plain_model(trained);  // input layer and output scale folded in
  torchscript::check_torchscript_model(config, model);
  const std::string path = torchscript_export_path(config, output_dir);
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (ec)
      throw OutputError("TorchScript export: cannot create the folder '" + parent.string() +
                        "': " + ec.message());
  }
  const std::string temp = temp_path_for(path);
  try {
    torch::NoGradGuard no_grad;
    torch::jit::Module m = build_module(config, model);
    m.save(temp);
    torch::jit::Module back = torch::jit::load(temp);
    const auto probe = probe_inputs(model);
    const torch::Tensor want = m.forward(probe).toTensor();
    const torch::Tensor got = back.forward(probe).toTensor();
    if (!torch::equal(want, got) || back.attr("n_params").toInt() != model.layout.nparams())
      throw OutputError("TorchScript export: '" + temp +
                        "' does not reproduce the model after loading");
  } catch (const Error&) {
    remove_quietly(temp);
    throw;
  } catch (const c10::Error& e) {
    remove_quietly(temp);
    throw OutputError("TorchScript export: LibTorch failed writing '" + path +
                      "': " + e.what_without_backtrace());
  } catch (const std::exception& e) {  // e.g. torch::jit::JITException
    remove_quietly(temp);
    throw OutputError("TorchScript export: LibTorch failed writing '" + path + "': " + e.what());
  }
  commit_temp_file(temp, path);
  return path;
}

}  // namespace fitnn
