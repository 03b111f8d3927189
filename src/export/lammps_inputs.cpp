// The LAMMPS-side text around an exported model (include/fitnn/exports.hpp): the
// `descriptor sna` settings file of ML-IAP and the .mod include that overlays the [REFERENCE]
// potential with the ML-IAP pair style.
//
// Descriptor file: LAMMPS (src/ML-IAP/mliap_descriptor_snap.cpp) reads `key value` lines; the
// per-element keys (elems, radelems, welems, sinnerelems, dinnerelems) need `nelems` first.
// Optional keys that are missing silently take LAMMPS's defaults (bzeroflag 1, where FitSNAP's
// default is 0), so every key is written. sinnerelems/dinnerelems are rejected by LAMMPS
// unless switchinnerflag is 1, so they are written only then. bikflag and dgradflag belong to
// compute snap only; quadraticflag has no ML-IAP descriptor equivalent.
//
// Include: during training the reference is typically `hybrid/overlay zero 10.0 zbl 4.0 4.8`:
// `zero` only gives LAMMPS a long neighbour list for compute snap. In MD it is dropped (style,
// cutoff, optional `nocoeff`, and its pair_coeff lines); what remains is overlaid with mliap,
// which must act on every pair, so plain `hybrid` becomes `hybrid/overlay` and a single style
// becomes a sub-style (its pair_coeff lines then name it). hybrid/scaled is refused: its scale
// factors cannot be carried over without knowing each sub-style's arguments.
#include <set>
#include <string>

#include "export/export_text.hpp"
#include "fitnn/errors.hpp"
#include "fitnn/exports.hpp"

namespace fitnn {


namespace {

void check_per_type(const std::vector<double>& v, int ntypes, const char* key) {
  if (int(v.size()) != ntypes)
    throw InputError(std::string("LAMMPS export: [BISPECTRUM] ") + key + " has " +
                     std::to_string(v.size()) + " values for " + std::to_string(ntypes) +
                     " types; give one per type");
}

std::string per_type(const std::vector<double>& v) {
  std::string s;
  for (double x : v) s += " " + exporttext::exact(x);
  return s;
}

}  // namespace

std::string mliap_descriptor_text(const BispectrumSettings& b) {
  const int n = b.num_types;
  if (int(b.types.size()) != n)
    throw InputError("LAMMPS export: [BISPECTRUM] type names " + std::to_string(b.types.size()) +
                     " elements but numTypes = " + std::to_string(n));
  check_per_type(b.radelem, n, "radelem");
  check_per_type(b.wj, n, "wj");
  if (b.switchinnerflag) {
    check_per_type(b.sinner, n, "sinner");
    check_per_type(b.dinner, n, "dinner");
  }
  if (b.quadraticflag)
    throw InputError("LAMMPS export: [BISPECTRUM] quadraticflag = 1 has no ML-IAP descriptor "
                     "(mliap descriptor sna computes the linear bispectrum only); set "
                     "quadraticflag = 0 (a nonlinear fit needs it anyway)");
  for (const auto& t : b.types)
    if (t.empty() || t.find_first_of(" \t#'\"") != std::string::npos)
      throw InputError("LAMMPS export: element name '" + t + "' cannot be written to a LAMMPS "
                       "file (spaces, quotes and '#' are not allowed)");

  using exporttext::exact;
  std::string s;
  s += "# FitNN " FITNN_VERSION " SNAP descriptor settings for LAMMPS: descriptor sna\n";
  s += "# Every key is written: a missing key silently takes LAMMPS's default.\n";
  s += "rcutfac " + exact(b.rcutfac) + "\n";
  s += "twojmax " + std::to_string(b.twojmax) + "\n";
  s += "nelems " + std::to_string(n) + "\n";
  s += "elems";
  for (const auto& t : b.types) s += " " + t;
  s += "\n";
  s += "radelems" + per_type(b.radelem) + "\n";
  s += "welems" + per_type(b.wj) + "\n";
  s += "rfac0 " + exact(b.rfac0) + "\n";
  s += "rmin0 " + exact(b.rmin0) + "\n";
  s += "switchflag " + std::to_string(b.switchflag) + "\n";
  s += "bzeroflag " + std::to_string(b.bzeroflag) + "\n";
  s += "wselfallflag " + std::to_string(b.wselfallflag) + "\n";
  s += "chemflag " + std::to_string(b.chemflag) + "\n";
  s += "bnormflag " + std::to_string(b.bnormflag) + "\n";
  s += "switchinnerflag " + std::to_string(b.switchinnerflag) + "\n";
  if (b.switchinnerflag) {
    s += "sinnerelems" + per_type(b.sinner) + "\n";
    s += "dinnerelems" + per_type(b.dinner) + "\n";
  } else {
    s += "# sinnerelems/dinnerelems: only with switchinnerflag 1 (LAMMPS rejects them "
         "otherwise)\n";
  }
  return s;
}

// ---- the include file ----

namespace {

using exporttext::is_number;
using exporttext::join_words;
using exporttext::split_words;

std::vector<std::string> strip_keyword(std::vector<std::string> words, const char* keyword) {
  if (!words.empty() && words[0] == keyword) words.erase(words.begin());
  return words;
}

// Removes every `zero <cutoff> [nocoeff]` from a hybrid sub-style list.
std::vector<std::string> without_zero(const std::vector<std::string>& tokens) {
  std::vector<std::string> kept;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] != "zero") {
      kept.push_back(tokens[i]);
      continue;
    }
    if (i + 1 < tokens.size() && is_number(tokens[i + 1])) ++i;
    if (i + 1 < tokens.size() && tokens[i + 1] == "nocoeff") ++i;
  }
  return kept;
}

}  // namespace

ReferenceOverlay reference_overlay(const ReferenceSettings& r) {
  ReferenceOverlay ov;
  const std::vector<std::string> words = strip_keyword(split_words(r.pair_style), "pair_style");
  if (words.empty()) {
    if (!r.pair_coeffs.empty())
      throw InputError("LAMMPS export: [REFERENCE] has pair_coeff lines but no pair_style");
    return ov;
  }
  const std::string style = words[0];
  if (style.rfind("hybrid/scaled", 0) == 0)
    throw InputError("LAMMPS export: [REFERENCE] pair_style " + style +
                     " cannot be rewritten for MD (its scale factors); use hybrid/overlay "
                     "for the reference potential");
  const bool hybrid = style == "hybrid" || style == "hybrid/overlay";

  if (hybrid) {
    std::vector<std::string> subs = without_zero({words.begin() + 1, words.end()});
    std::set<std::string> names;
    for (const auto& w : subs)
      if (!is_number(w)) names.insert(w);
    for (const auto& line : r.pair_coeffs) {
      std::vector<std::string> w = strip_keyword(split_words(line), "pair_coeff");
      if (w.size() < 3)
        throw InputError("LAMMPS export: [REFERENCE] pair_coeff '" + line +
                         "' needs two atom types and a sub-style of " + style);
      if (w[2] == "zero") continue;
      if (!names.count(w[2]))
        throw InputError("LAMMPS export: [REFERENCE] pair_coeff '" + line +
                         "' names no sub-style of pair_style " + r.pair_style);
      ov.pair_coeffs.push_back("pair_coeff " + join_words(w));
    }
    if (subs.empty()) {
      if (!ov.pair_coeffs.empty())
        throw InputError("LAMMPS export: [REFERENCE] has pair_coeff lines for styles other "
                         "than zero but pair_style '" + r.pair_style + "' has none");
      return ov;
    }
    ov.pair_style_args = join_words(subs);
    if (style == "hybrid")
      ov.notes.push_back("the reference's pair_style hybrid became hybrid/overlay so that "
                         "mliap acts on every pair");
    if (subs.size() + 1 < words.size())
      ov.notes.push_back("the reference's zero style (a neighbour list for training only) "
                         "was dropped");
    return ov;
  }

  if (style == "zero") {
    ov.notes.push_back("the reference is pair_style zero only: no reference potential in MD");
    return ov;
  }
  ov.pair_style_args = join_words(words);
  for (const auto& line : r.pair_coeffs) {
    std::vector<std::string> w = strip_keyword(split_words(line), "pair_coeff");
    if (w.size() < 2)
      throw InputError("LAMMPS export: [REFERENCE] pair_coeff '" + line +
                       "' needs two atom types");
    w.insert(w.begin() + 2, style);
    ov.pair_coeffs.push_back("pair_coeff " + join_words(w));
  }
  ov.notes.push_back("the reference's pair_style " + style +
                     " became a sub-style of hybrid/overlay");
  return ov;
}

std::string lammps_include_text(const ReferenceSettings& r,
                                const std::vector<std::string>& elements,
                                const std::string& model_clause,
                                const std::string& descriptor_file, const std::string& about) {
  for (const std::string& f : {model_clause, descriptor_file})
    if (f.find_first_of("#'\"") != std::string::npos)
      throw InputError("LAMMPS export: '" + f + "' cannot appear in a LAMMPS command "
                       "(quotes and '#' are not allowed); choose another [OUTFILE] potential");
  if (descriptor_file.find_first_of(" \t") != std::string::npos)
    throw InputError("LAMMPS export: the file name '" + descriptor_file +
                     "' contains a space; choose another [OUTFILE] potential");
  const ReferenceOverlay ov = reference_overlay(r);
  const std::string mliap = "mliap " + model_clause + " descriptor sna " + descriptor_file;
  std::string el;
  for (const auto& e : elements) el += " " + e;

  std::string s;
  s += "# FitNN " FITNN_VERSION " potential for LAMMPS: " + about + "\n";
  s += "# Use with: units " + r.units + ", atom_style " + r.atom_style +
       " (the [REFERENCE] settings of the fit);\n";
  s += "# atom types 1.." + std::to_string(elements.size()) + " are" + el +
       " (the [BISPECTRUM] type order).\n";
  s += "# File names are relative to LAMMPS's working directory: run LAMMPS in this folder\n";
  s += "# or edit them.\n";
  for (const auto& n : ov.notes) s += "# Note: " + n + ".\n";
  if (ov.pair_style_args.empty()) {
    s += "pair_style " + mliap + "\n";
    s += "pair_coeff * *" + el + "\n";
    return s;
  }
  s += "pair_style hybrid/overlay " + ov.pair_style_args + " " + mliap + "\n";
  for (const auto& line : ov.pair_coeffs) s += line + "\n";
  s += "pair_coeff * * mliap" + el + "\n";
  return s;
}

}  // namespace fitnn
