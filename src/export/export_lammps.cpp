// Writing the LAMMPS files of a trained model (include/fitnn/exports.hpp): paths from the
// [OUTFILE] potential prefix, the plan (what will be written), the writer (atomic files, the
// include last so that a complete .mod always names complete files) and the checkpoint entry.
#include <filesystem>
#include <string>

#include "export/export_text.hpp"
#include "fitnn/atomic_file.hpp"
#include "fitnn/checkpoint.hpp"
#include "fitnn/errors.hpp"
#include "fitnn/exports.hpp"
#include "fitnn/log.hpp"

namespace fitnn {

namespace fs = std::filesystem;

namespace {

std::string file_name(const std::string& path) { return fs::path(path).filename().string(); }

void check_prefix(const Config& config) {
  const std::string& p = config.outfile.potential;
  if (p.empty() || fs::path(p).filename().empty())
    throw InputError("[OUTFILE] potential = '" + p +
                     "': give a file prefix such as Ta_pot (the LAMMPS files are named "
                     "<potential>.mod, <potential>.mliap.model, <potential>.mliap.descriptor)");
  const std::string base = file_name(p);
  if (base.find_first_of(" \t#'\"") != std::string::npos)
    throw InputError("[OUTFILE] potential = '" + p +
                     "': LAMMPS cannot read file names with spaces, quotes or '#'");
}

// Settings problems surface here, before a fit, rather than after it.
void check_exportable(const Config& config) {
  check_prefix(config);
  (void)mliap_descriptor_text(config.bispectrum);
  (void)reference_overlay(config.reference);
}

std::string skip_message(Activation a) {
  return std::string("LAMMPS export: activation ") + activation_name(a) +
         " cannot run in LAMMPS's Python-free mliap model nn (it runs linear, sigmoid, tanh "
         "and relu and silently treats any other name as linear), so no .mliap.model or .mod "
         "is written; the descriptor file is. For LAMMPS built with PYTHON, write "
         "FitTorch_Pytorch.pt and its .mliappy.mod with tools/fitnn_convert.py mliappy "
         "(docs/EXPORTS.md), or train with activation = tanh";
}

void write_text(const std::string& path, const std::string& text,
                std::vector<std::string>& written) {
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (ec)
      throw OutputError("LAMMPS export: cannot create the folder '" + parent.string() +
                        "': " + ec.message());
  }
  AtomicFile out(path);
  out.write(text);
  out.commit();
  written.push_back(path);
}

}  // namespace

ExportPaths export_paths(const Config& config, const std::string& output_dir) {
  fs::path prefix(config.outfile.potential);
  if (prefix.is_relative() && !output_dir.empty() && output_dir != ".")
    prefix = fs::path(output_dir) / prefix;
  const std::string p = prefix.string();
  return {p + ".mliap.descriptor", p + ".mliap.model", p + ".mod"};
}

std::vector<std::string> planned_exports(const Config& config, const std::string& output_dir) {
  check_exportable(config);
  const ExportPaths p = export_paths(config, output_dir);
  std::vector<std::string> files = {p.descriptor};
  if (lammps_nn_supports(config.train.activation)) files = {p.descriptor, p.model, p.include};
  if (torchscript_available()) files.push_back(torchscript_export_path(config, output_dir));
  return files;
}

std::vector<std::string> export_lammps(const Config& config, const Model& trained,
                                       const std::string& output_dir) {
  check_exportable(config);
  const Model model = plain_model(trained);
  const BispectrumSettings& b = config.bispectrum;
  const ModelLayout& L = model.layout;
  if (L.ndesc != b.num_descriptors())
    throw InputError("LAMMPS export: the model reads " + std::to_string(L.ndesc) +
                     " descriptors but [BISPECTRUM] (twojmax " + std::to_string(b.twojmax) +
                     ") gives " + std::to_string(b.num_descriptors()) +
                     "; export with the input script the model was trained with");
  if (L.nelements != b.num_types)
    throw InputError("LAMMPS export: the model has " + std::to_string(L.nelements) +
                     " elements but [BISPECTRUM] numTypes = " + std::to_string(b.num_types));

  const ExportPaths p = export_paths(config, output_dir);
  const std::string descriptor_text = mliap_descriptor_text(b);
  std::vector<std::string> written;
  if (!lammps_nn_supports(L.activation)) {
    write_text(p.descriptor, descriptor_text, written);
    log_note(skip_message(L.activation));
    return written;
  }
  // Build every text before writing anything.
  const std::string model_text = mliap_model_text(fold_for_lammps(model, b.types));
  const std::string include_text = lammps_include_text(
      config.reference, b.types, "model nn " + file_name(p.model), file_name(p.descriptor),
      "include with `include " + file_name(p.include) + "`");
  write_text(p.descriptor, descriptor_text, written);
  write_text(p.model, model_text, written);
  write_text(p.include, include_text, written);
  for (const auto& n : reference_overlay(config.reference).notes)
    log_note("LAMMPS export: " + n);
  log_info("LAMMPS potential written: " + p.include + " (with " + file_name(p.model) + ", " +
           file_name(p.descriptor) + ")");
  return written;
}

Model model_from_checkpoint(const Config& config, const std::string& checkpoint_path,
                            bool use_best, const std::string& what) {
  const TrainState s = load_checkpoint(checkpoint_path);
  Model model = s.model;
  if (use_best) {
    if (s.best_params.size() != model.params.size())
      throw CheckpointError("checkpoint '" + checkpoint_path + "' holds no best parameters");
    model.params = s.best_params;
  }
  if (s.elements != config.bispectrum.types) {
    std::string a, b;
    for (const auto& e : s.elements) a += " " + e;
    for (const auto& e : config.bispectrum.types) b += " " + e;
    throw InputError(what + ": checkpoint '" + checkpoint_path + "' was trained on" + a +
                     " but [BISPECTRUM] type is" + b +
                     "; export with the input script the model was trained with");
  }
  return model;
}

std::vector<std::string> export_lammps_from_checkpoint(const Config& config,
                                                       const std::string& checkpoint_path,
                                                       const std::string& output_dir,
                                                       bool use_best) {
  const Model model = model_from_checkpoint(config, checkpoint_path, use_best, "LAMMPS export");
  return export_lammps(config, model, output_dir);
}

}  // namespace fitnn
