// LAMMPS exports of a trained network (src/export/, docs/EXPORTS.md): the Python-free
// `pair_style mliap model nn` model file, the `descriptor sna` settings file and the .mod
// include that overlays the [REFERENCE] potential (without its `zero` style). Written after
// every fit from the best model, or on demand from a checkpoint. When FitNN is built with
// LibTorch (CMake option FITNN_TORCH), the fit also writes the TorchScript model
// P.torchscript.pt (export_torchscript below); mliappy and FitSNAP forms (and TorchScript
// without LibTorch) are written by tools/fitnn_convert.py from a checkpoint.
//
// Files, with the [OUTFILE] potential prefix P (joined with output_dir when relative):
//   P.mliap.descriptor  always (mliappy models use it too)
//   P.mliap.model       only for activations LAMMPS's nn model runs (linear, sigmoid, tanh,
//   P.mod               relu); softplus is skipped with a note, never written as "linear".
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "fitnn/config.hpp"
#include "fitnn/model.hpp"

namespace fitnn {

// True for the activations LAMMPS's `mliap model nn` evaluates (it silently runs any other
// name as linear).
bool lammps_nn_supports(Activation a);

// One element's block of the mliap nn model file.
struct LammpsNnElement {
  std::string name;
  std::vector<double> mean;    // (ndesc)
  std::vector<double> scale;   // (ndesc)  LAMMPS's input = (B - mean) / scale
  std::vector<double> coeffs;  // (nparams) layer by layer, node by node: bias, then weights
};

// A network in LAMMPS's form: one shared layout, one block per element.
struct LammpsNnModel {
  int ndesc = 0;
  std::vector<int> widths;               // ndesc, hidden widths..., 1
  std::vector<std::string> activations;  // per layer: the hidden activation..., "linear"
  int64_t nparams = 0;                   // coefficients per element
  std::vector<LammpsNnElement> elements;
};

// Folds FitNN's model into LAMMPS's per-element blocks: the standardization becomes the
// means and scales; option 1 repeats the shared net for every element, option 2 takes each
// element's net, option 3 copies the net per element with the one-hot column of that element
// added to the first-layer bias. Throws InputError for an activation LAMMPS cannot run or
// element names that do not match the model, NumericError for non-finite numbers.
LammpsNnModel fold_for_lammps(const Model& model, const std::vector<std::string>& elements);

// File texts (exact doubles: shortest decimal that reads back to the same bits).
std::string mliap_model_text(const LammpsNnModel& m);
// Every key LAMMPS's descriptor sna reads, written explicitly. Throws InputError for
// settings ML-IAP cannot reproduce (quadraticflag 1, per-type vectors of the wrong length).
std::string mliap_descriptor_text(const BispectrumSettings& b);

// The [REFERENCE] potential as it is overlaid in MD: pair_style arguments without the
// `zero` style (empty: no reference potential left) and its pair_coeff lines without those of
// `zero`, each naming its sub-style ("pair_coeff * * zbl 73 73").
struct ReferenceOverlay {
  std::string pair_style_args;
  std::vector<std::string> pair_coeffs;
  std::vector<std::string> notes;  // what was changed (hybrid -> hybrid/overlay, ...)
};
// Throws InputError for a reference it cannot rewrite safely (hybrid/scaled, a pair_coeff
// line that names no sub-style of a hybrid reference).
ReferenceOverlay reference_overlay(const ReferenceSettings& r);

// The include text: pair_style [hybrid/overlay <reference>] mliap <model_clause> descriptor
// sna <descriptor_file>, the reference pair_coeff lines and `pair_coeff * * [mliap] <elements>`.
// model_clause: e.g. "model nn P.mliap.model" or "model mliappy FitTorch_Pytorch.pt".
std::string lammps_include_text(const ReferenceSettings& r,
                                const std::vector<std::string>& elements,
                                const std::string& model_clause,
                                const std::string& descriptor_file,
                                const std::string& about);

// The three paths for a config (output_dir joined when the prefix is relative).
struct ExportPaths {
  std::string descriptor, model, include;
};
ExportPaths export_paths(const Config& config, const std::string& output_dir = ".");

// Every file export_lammps would write for this config (the model's activation is
// config.train.activation), then export_torchscript's file when torchscript_available(), so a
// caller can refuse before the fit when one exists. Also checks that the settings can be
// exported (throws InputError otherwise).
std::vector<std::string> planned_exports(const Config& config,
                                         const std::string& output_dir = ".");

// Writes the LAMMPS files for `model` (atomically) and returns the paths written. Elements
// are config.bispectrum.types. Throws InputError (model and settings disagree),
// NumericError (non-finite parameters), OutputError (cannot write).
std::vector<std::string> export_lammps(const Config& config, const Model& model,
                                       const std::string& output_dir);

// Same from a checkpoint: its best parameters (use_best) or its current ones. Throws
// CheckpointError for an unreadable checkpoint, InputError when its layout or elements do not
// match the config's [BISPECTRUM].
// The model of a checkpoint (its best parameters when use_best) for the exports; throws
// CheckpointError, or InputError naming `what` when its elements differ from [BISPECTRUM].
Model model_from_checkpoint(const Config& config, const std::string& checkpoint_path,
                            bool use_best, const std::string& what);

std::vector<std::string> export_lammps_from_checkpoint(const Config& config,
                                                       const std::string& checkpoint_path,
                                                       const std::string& output_dir,
                                                       bool use_best = true);

// --- TorchScript (src/export/torchscript_*.cpp) ---------------------------------------------
// The model as a TorchScript module for torch.jit.load / LibTorch's torch::jit::load, the same
// interface as tools/fitnn_convert.py torchscript: forward(descriptors float64 [n, ndesc],
// elems int64 [n], 0-based in [BISPECTRUM] type order) -> atom energies float64 [n]; beta by
// autograd. Attributes n_descriptors, n_elements, n_params (FitNN's parameter count), option,
// activation, elements; buffers mean, std; parameters net<k>_layer<l>_weight/_bias.

// True when FitNN was built with LibTorch (FITNN_HAVE_TORCH); false: export_torchscript
// throws and the CLI skips it.
bool torchscript_available();

// <potential>.torchscript.pt (output_dir joined when the prefix is relative, as for the
// LAMMPS files).
std::string torchscript_export_path(const Config& config, const std::string& output_dir = ".");

// Writes the TorchScript model of `model` to torchscript_export_path (a temporary file, loaded
// back and checked, then renamed) and returns that path. Throws InputError (model and settings
// disagree), NumericError (non-finite parameters), OutputError (cannot write, or built
// without LibTorch).
std::string export_torchscript(const Config& config, const Model& model,
                               const std::string& output_dir);

// Same from a checkpoint: its best parameters (use_best) or its current ones. Throws
// CheckpointError for an unreadable checkpoint, InputError when its elements do not match
// [BISPECTRUM] type.
std::string export_torchscript_from_checkpoint(const Config& config,
                                               const std::string& checkpoint_path,
                                               const std::string& output_dir,
                                               bool use_best = true);

}  // namespace fitnn
