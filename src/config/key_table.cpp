// The table of every input key FitNN accepts (FitSNAP's keys for a PyTorch fit plus FitNN's
// own, marked "FitNN:"), with types, defaults, ranges and where each value lands.
#include "config/key_table.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>

#include "fitnn/errors.hpp"

namespace fitnn {
namespace {

constexpr double kNoMin = 1, kNoMax = 0;  // min > max: no range check
constexpr double kInf = std::numeric_limits<double>::infinity();

bool parse_input_layer(const std::string& w) {
  if (w == "fixed") return false;
  if (w == "trainable") return true;
  throw InputError("[PYTORCH] input_layer = " + w + ": use fixed or trainable");
}

#define SET(body) [](Config& c, const KeyValue& v) { (void)c; (void)v; body; }

const std::vector<KeySpec> kTable = {
    // [BISPECTRUM]
    {"BISPECTRUM", "numTypes", ValueType::integer, "1", 1, 64, "number of element types",
     SET(c.bispectrum.num_types = int(v.integer))},
    {"BISPECTRUM", "twojmax", ValueType::real_list, "6", 0, 20,
     "2 Jmax; one value or one per type (the largest is used)",
     SET(c.bispectrum.twojmax = int(*std::max_element(v.reals.begin(), v.reals.end())))},
    {"BISPECTRUM", "rcutfac", ValueType::real, "4.67637", 0, kInf, "cutoff scale (Angstrom)",
     SET(c.bispectrum.rcutfac = v.real)},
    {"BISPECTRUM", "rfac0", ValueType::real, "0.99363", 0, 1, "rfac0 of compute snap",
     SET(c.bispectrum.rfac0 = v.real)},
    {"BISPECTRUM", "rmin0", ValueType::real, "0.0", 0, kInf, "rmin0 of compute snap",
     SET(c.bispectrum.rmin0 = v.real)},
    {"BISPECTRUM", "wj", ValueType::real_list, "1.0", 0, kInf, "neighbour weight per type",
     SET(c.bispectrum.wj = v.reals)},
    {"BISPECTRUM", "radelem", ValueType::real_list, "0.5", 0, kInf, "cutoff radius per type",
     SET(c.bispectrum.radelem = v.reals)},
    {"BISPECTRUM", "type", ValueType::word_list, "H", kNoMin, kNoMax,
     "element names in LAMMPS type order", SET(c.bispectrum.types = v.words)},
    {"BISPECTRUM", "wselfallflag", ValueType::boolean, "0", kNoMin, kNoMax, "compute snap flag",
     SET(c.bispectrum.wselfallflag = v.boolean)},
    {"BISPECTRUM", "chemflag", ValueType::boolean, "0", kNoMin, kNoMax,
     "explicit multi-element descriptors", SET(c.bispectrum.chemflag = v.boolean)},
    {"BISPECTRUM", "bzeroflag", ValueType::boolean, "0", kNoMin, kNoMax,
     "subtract B of an isolated atom (FitSNAP default 0; LAMMPS's is 1)",
     SET(c.bispectrum.bzeroflag = v.boolean)},
    {"BISPECTRUM", "quadraticflag", ValueType::boolean, "0", kNoMin, kNoMax,
     "must be 0 for a network fit", SET(c.bispectrum.quadraticflag = v.boolean)},
    {"BISPECTRUM", "switchflag", ValueType::boolean, "1", kNoMin, kNoMax, "compute snap flag",
     SET(c.bispectrum.switchflag = v.boolean)},
    {"BISPECTRUM", "switchinnerflag", ValueType::boolean, "0", kNoMin, kNoMax,
     "inner switching function", SET(c.bispectrum.switchinnerflag = v.boolean)},
    {"BISPECTRUM", "sinner", ValueType::real_list, "0.9", 0, kInf, "inner cutoff per type",
     SET(c.bispectrum.sinner = v.reals)},
    {"BISPECTRUM", "dinner", ValueType::real_list, "0.1", 0, kInf, "inner width per type",
     SET(c.bispectrum.dinner = v.reals)},
    {"BISPECTRUM", "bnormflag", ValueType::boolean, "0", kNoMin, kNoMax, "compute snap flag",
     SET(c.bispectrum.bnormflag = v.boolean)},
    {"BISPECTRUM", "bikflag", ValueType::boolean, "0", kNoMin, kNoMax,
     "per-atom descriptors: must be 1 for a network fit", SET(c.bispectrum.bikflag = v.boolean)},
    {"BISPECTRUM", "dgradflag", ValueType::boolean, "0", kNoMin, kNoMax,
     "per-neighbour derivatives: must be 1 for a network fit",
     SET(c.bispectrum.dgradflag = v.boolean)},
    // [CALCULATOR]
    {"CALCULATOR", "calculator", ValueType::word, "LAMMPSSNAP", kNoMin, kNoMax,
     "must be LAMMPSSNAP", SET((void)0)},
    {"CALCULATOR", "energy", ValueType::boolean, "1", kNoMin, kNoMax, "fit energies", nullptr},
    {"CALCULATOR", "force", ValueType::boolean, "1", kNoMin, kNoMax, "fit forces", nullptr},
    {"CALCULATOR", "stress", ValueType::boolean, "0", kNoMin, kNoMax,
     "stress fitting (not used by network fits)", nullptr},
    {"CALCULATOR", "per_atom_energy", ValueType::boolean, "1", kNoMin, kNoMax,
     "per-atom descriptors (always on)", nullptr},
    {"CALCULATOR", "nonlinear", ValueType::boolean, "1", kNoMin, kNoMax,
     "network fit (always on)", nullptr},
    // [PYTORCH]
    {"PYTORCH", "layer_sizes", ValueType::layer_list, "num_desc 512 512 1", kNoMin, kNoMax,
     "network widths: num_desc, hidden widths..., 1", SET((void)0)},
    {"PYTORCH", "learning_rate", ValueType::real, "1e-2", 0, kInf, "Adam learning rate",
     SET(c.train.learning_rate = v.real)},
    {"PYTORCH", "num_epochs", ValueType::integer, "10", 0, 1e9, "epochs",
     SET(c.train.num_epochs = int(v.integer))},
    {"PYTORCH", "batch_size", ValueType::integer, "4", 1, 1e9, "configurations per step",
     SET(c.train.batch_size = int(v.integer))},
    {"PYTORCH", "energy_weight", ValueType::real, nullptr, 0, kInf,
     "global energy weight (needs force_weight)", SET(c.train.energy_weight = v.real)},
    {"PYTORCH", "force_weight", ValueType::real, nullptr, 0, kInf,
     "global force weight (needs energy_weight)", SET(c.train.force_weight = v.real)},
    {"PYTORCH", "training_fraction", ValueType::real, nullptr, 0, 1,
     "random train/validation split of all configurations, in (0, 1]",
     SET(c.train.training_fraction = v.real)},
    {"PYTORCH", "multi_element_option", ValueType::integer, "1", 1, 3,
     "1 shared network, 2 network per element, 3 one-hot input",
     SET(c.train.multi_element_option = int(v.integer))},
    {"PYTORCH", "num_elements", ValueType::integer, "1", 1, 64,
     "accepted (FitNN uses BISPECTRUM numTypes)", SET(c.train.num_elements = int(v.integer))},
    {"PYTORCH", "manual_seed_flag", ValueType::boolean, "0", kNoMin, kNoMax,
     "fixed seed (FitNN key `seed`)", SET(c.train.manual_seed_flag = v.boolean)},
    {"PYTORCH", "shuffle_flag", ValueType::boolean, "1", kNoMin, kNoMax,
     "reshuffle training configurations every epoch", SET(c.train.shuffle_flag = v.boolean)},
    {"PYTORCH", "save_state_output", ValueType::text, "FitTorch_Pytorch.pt.state", kNoMin,
     kNoMax, "best-model checkpoint (FitNN format)",
     SET(c.train.save_state_output = v.text; c.train.save_state_output_set = true)},
    {"PYTORCH", "save_state_input", ValueType::text, nullptr, kNoMin, kNoMax,
     "checkpoint to restart from (or evaluate with num_epochs = 1)",
     SET(c.train.save_state_input = v.text)},
    {"PYTORCH", "output_file", ValueType::text, "FitTorch_Pytorch.pt", kNoMin, kNoMax,
     "mliappy model written by tools/fitnn_convert", SET(c.train.output_file = v.text)},
    {"PYTORCH", "save_freq", ValueType::integer, "0", 0, 1e9,
     "accepted (FitNN writes the latest checkpoint every epoch)",
     SET(c.train.save_freq = int(v.integer))},
    {"PYTORCH", "dtype_setting", ValueType::integer, nullptr, 1, 2,
     "1 float32, 2 float64 (absent: float64 on CPU, float32 on CUDA)",
     SET(c.train.dtype_setting = int(v.integer))},
    {"PYTORCH", "silence_ace_multi_warning", ValueType::boolean, "0", kNoMin, kNoMax,
     "accepted (ACE only)", nullptr},
    {"PYTORCH", "activation", ValueType::word, "softplus", kNoMin, kNoMax,
     "FitNN: softplus, tanh, sigmoid, relu or linear",
     SET(c.train.activation = activation_from_name(v.text))},
    {"PYTORCH", "seed", ValueType::integer, "12345", 0, 9.2e18,
     "FitNN: seed used when manual_seed_flag = 1", SET(c.train.seed = uint64_t(v.integer))},
    {"PYTORCH", "lr_plateau", ValueType::boolean, "1", kNoMin, kNoMax,
     "FitNN: step ReduceLROnPlateau on the validation loss", SET(c.train.lr_plateau = v.boolean)},
    {"PYTORCH", "lr_factor", ValueType::real, "0.5", 0, 1, "FitNN: plateau factor",
     SET(c.train.lr_factor = v.real)},
    {"PYTORCH", "lr_patience", ValueType::integer, "49", 0, 1e9, "FitNN: plateau patience",
     SET(c.train.lr_patience = int(v.integer))},
    {"PYTORCH", "lr_threshold", ValueType::real, "1e-4", 0, kInf,
     "FitNN: plateau absolute threshold", SET(c.train.lr_threshold = v.real)},
    {"PYTORCH", "lr_min", ValueType::real, "0", 0, kInf, "FitNN: smallest learning rate",
     SET(c.train.lr_min = v.real)},
    {"PYTORCH", "early_stopping", ValueType::integer, "0", 0, 1e9,
     "FitNN: stop after this many epochs without improvement (0 off)",
     SET(c.train.early_stopping = int(v.integer))},
    {"PYTORCH", "derivative_precision", ValueType::integer, "64", 32, 64,
     "FitNN: storage of descriptor derivatives, 64 or 32 bits",
     SET(c.train.derivative_precision = int(v.integer))},
    {"PYTORCH", "divergence_retries", ValueType::integer, "0", 0, 100,
     "FitNN: on NaN/Inf retry from the best state with half the learning rate",
     SET(c.train.divergence_retries = int(v.integer))},
    {"PYTORCH", "energy_offset", ValueType::boolean, "1", kNoMin, kNoMax,
     "FitNN: start the output bias at the least-squares energy per atom of each element",
     SET(c.train.energy_offset = v.boolean)},
    {"PYTORCH", "input_layer", ValueType::word, "fixed", kNoMin, kNoMax,
     "FitNN: fixed standardization, or trainable: FitSNAP's (in x in) linear first layer on the "
     "raw descriptors, started at the standardization",
     SET(c.train.input_layer = parse_input_layer(v.text))},
    {"PYTORCH", "output_scale", ValueType::real, "1", 0, 1e6,
     "FitNN: atom energy = output_scale * network output (0: the spread of the training "
     "energies per atom)",
     SET(c.train.output_scale = v.real)},
    // [SOLVER]
    {"SOLVER", "solver", ValueType::word, "PYTORCH", kNoMin, kNoMax, "PYTORCH (or FITNN)",
     SET((void)0)},
    {"SOLVER", "compute_testerrs", ValueType::boolean, "1", kNoMin, kNoMax,
     "accepted (test errors are always computed)", nullptr},
    {"SOLVER", "detailed_errors", ValueType::boolean, "1", kNoMin, kNoMax,
     "accepted (per-group rows are always written)", nullptr},
    // [SCRAPER] [PATH] [OUTFILE]
    {"SCRAPER", "scraper", ValueType::word, "JSON", kNoMin, kNoMax, "JSON or XYZ",
     SET(c.scraper = v.text)},
    {"PATH", "dataPath", ValueType::text, "JSON", kNoMin, kNoMax,
     "training data folder, relative to the input file", SET(c.data_path = v.text)},
    {"OUTFILE", "metrics", ValueType::text, "fitsnap_metrics.md", kNoMin, kNoMax,
     "error metrics file", SET(c.outfile.metrics = v.text)},
    {"OUTFILE", "potential", ValueType::text, "fitsnap_potential", kNoMin, kNoMax,
     "prefix of the LAMMPS files", SET(c.outfile.potential = v.text)},
    {"OUTFILE", "output_style", ValueType::word, "SNAP", kNoMin, kNoMax, "accepted", nullptr},
    // [REFERENCE] (pair_coeff* keys are free)
    {"REFERENCE", "units", ValueType::word, "metal", kNoMin, kNoMax, "must be metal",
     SET(c.reference.units = v.text)},
    {"REFERENCE", "atom_style", ValueType::word, "atomic", kNoMin, kNoMax, "LAMMPS atom_style",
     SET(c.reference.atom_style = v.text)},
    {"REFERENCE", "pair_style", ValueType::text, "zero 10.0", kNoMin, kNoMax,
     "reference potential subtracted from the targets", SET(c.reference.pair_style = v.text)},
    // [GROUPS] (other keys are group lines)
    {"GROUPS", "group_sections", ValueType::word_list, "name size eweight fweight vweight",
     kNoMin, kNoMax, "column names of the group lines", SET(c.groups.group_sections = v.words)},
    {"GROUPS", "group_types", ValueType::word_list, "str float float float float", kNoMin,
     kNoMax, "column types (accepted)", SET(c.groups.group_types = v.words)},
    {"GROUPS", "smartweights", ValueType::boolean, "0", kNoMin, kNoMax,
     "divide weights by the group's count", SET(c.groups.smartweights = v.boolean)},
    {"GROUPS", "random_sampling", ValueType::boolean, "0", kNoMin, kNoMax,
     "shuffle each group's files before the split", SET(c.groups.random_sampling = v.boolean)},
    {"GROUPS", "random_seed", ValueType::integer, nullptr, 0, 9.2e18,
     "FitNN: seed of random_sampling (drawn and logged when absent)",
     SET(c.groups.random_seed = uint64_t(v.integer))},
    {"GROUPS", "BOLTZT", ValueType::real, nullptr, 0, kInf, "accepted (not used)", nullptr},
    // [EXTRAS]
    {"EXTRAS", "dump_peratom", ValueType::boolean, "0", kNoMin, kNoMax, "write peratom.dat",
     SET(c.extras.dump_peratom = v.boolean)},
    {"EXTRAS", "dump_perconfig", ValueType::boolean, "0", kNoMin, kNoMax,
     "write perconfig.dat", SET(c.extras.dump_perconfig = v.boolean)},
    {"EXTRAS", "dump_configs", ValueType::boolean, "0", kNoMin, kNoMax, "accepted",
     SET(c.extras.dump_configs = v.boolean)},
    {"EXTRAS", "dump_descriptors", ValueType::boolean, "0", kNoMin, kNoMax,
     "accepted (the descriptor cache holds them)", nullptr},
    {"EXTRAS", "dump_truth", ValueType::boolean, "0", kNoMin, kNoMax, "accepted", nullptr},
    {"EXTRAS", "dump_weights", ValueType::boolean, "0", kNoMin, kNoMax, "accepted", nullptr},
    {"EXTRAS", "dump_dataframe", ValueType::boolean, "0", kNoMin, kNoMax, "accepted", nullptr},
    // [MEMORY]
    {"MEMORY", "override", ValueType::boolean, "0", kNoMin, kNoMax, "accepted", nullptr},
};

#undef SET

const char* kFreeSections[] = {"GROUPS", "ESHIFT", "REFERENCE"};

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (std::tolower(a[i - 1]) == std::tolower(b[j - 1]) ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

const std::vector<KeySpec>& key_table() { return kTable; }

bool is_known_section(const std::string& section) {
  for (auto& k : kTable)
    if (section == k.section) return true;
  for (auto* s : kFreeSections)
    if (section == s) return true;
  return false;
}

const char* value_type_name(ValueType t) {
  switch (t) {
    case ValueType::integer: return "integer";
    case ValueType::real: return "number";
    case ValueType::boolean: return "boolean (0/1, True/False)";
    case ValueType::text: return "text";
    case ValueType::word: return "word";
    case ValueType::real_list: return "list of numbers";
    case ValueType::word_list: return "list of words";
    case ValueType::layer_list: return "layer list";
  }
  return "?";
}

static bool parse_double(const std::string& s, double& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return end && *end == '\0' && std::isfinite(out);
}

KeyValue parse_value(const KeySpec& spec, const std::string& text, const std::string& where) {
  KeyValue v;
  v.text = text;
  std::istringstream ss(text);
  for (std::string w; ss >> w;) v.words.push_back(w);
  auto fail = [&](const std::string& why) {
    throw InputError(where + ": " + why);
  };
  auto check_range = [&](double x) {
    if (spec.min <= spec.max && (x < spec.min || x > spec.max)) {
      std::ostringstream m;
      m << "value " << x << " out of range [" << spec.min << ", " << spec.max << "]";
      fail(m.str());
    }
  };
  if (v.words.empty() && spec.type != ValueType::text) fail("empty value");
  switch (spec.type) {
    case ValueType::integer: {
      double x;
      if (v.words.size() != 1 || !parse_double(v.words[0], x) || x != std::floor(x))
        fail("'" + text + "' is not an integer");
      check_range(x);
      v.integer = (long long)x;
      v.real = x;
      break;
    }
    case ValueType::real: {
      if (v.words.size() != 1 || !parse_double(v.words[0], v.real))
        fail("'" + text + "' is not a number");
      check_range(v.real);
      break;
    }
    case ValueType::boolean: {
      const std::string& w = v.words[0];
      if (v.words.size() == 1 && (w == "1" || w == "True" || w == "true" || w == "yes" ||
                                  w == "on" || w == "TRUE"))
        v.boolean = true;
      else if (v.words.size() == 1 && (w == "0" || w == "False" || w == "false" ||
                                       w == "no" || w == "off" || w == "FALSE"))
        v.boolean = false;
      else
        fail("'" + text + "' is not a boolean (use 0/1 or True/False)");
      v.integer = v.boolean;
      break;
    }
    case ValueType::real_list: {
      for (auto& w : v.words) {
        double x;
        if (!parse_double(w, x)) fail("'" + w + "' is not a number");
        check_range(x);
        v.reals.push_back(x);
      }
      break;
    }
    case ValueType::word:
      if (v.words.size() != 1) fail("expected one word, got '" + text + "'");
      v.text = v.words[0];
      break;
    case ValueType::text:
    case ValueType::word_list:
    case ValueType::layer_list:
      break;
  }
  return v;
}

std::string closest_key(const std::string& section, const std::string& key) {
  std::string best;
  size_t best_d = ~size_t(0);
  for (auto& k : kTable) {
    if (section != k.section) continue;
    size_t d = edit_distance(key, k.key);
    if (d < best_d) best_d = d, best = k.key;
  }
  return best;
}

std::string closest_section(const std::string& section) {
  std::string best;
  size_t best_d = ~size_t(0);
  auto consider = [&](const std::string& s) {
    size_t d = edit_distance(section, s);
    if (d < best_d) best_d = d, best = s;
  };
  for (auto& k : kTable) consider(k.section);
  for (auto* s : kFreeSections) consider(s);
  return best;
}

std::string describe_keys() {
  std::ostringstream out;
  std::string section;
  for (auto& k : kTable) {
    if (section != k.section) {
      section = k.section;
      out << "[" << section << "]\n";
    }
    out << "  " << k.key << " (" << value_type_name(k.type) << ", default "
        << (k.default_text ? k.default_text : "unset");
    if (k.min <= k.max) out << ", range [" << k.min << ", " << k.max << "]";
    out << "): " << k.doc << (k.set ? "" : " [ignored by FitNN]") << "\n";
  }
  out << "[REFERENCE] pair_coeff<anything> = LAMMPS pair_coeff arguments, in key order\n"
      << "[ESHIFT] <element> = energy per atom added to the target energy\n"
      << "[GROUPS] <group> = values for the group_sections columns after name\n";
  return out.str();
}

}  // namespace fitnn
