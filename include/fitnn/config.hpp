// The typed settings of one FitNN run, parsed from a FitSNAP input script (INI).
// src/config/ fills it from the one table of known keys (src/config/key_table.cpp);
// nothing here touches files other than the script itself, nor LAMMPS.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace fitnn {

// [BISPECTRUM]: everything compute snap needs. Per-type vectors have num_types entries.
struct BispectrumSettings {
  int num_types = 1;
  std::vector<std::string> types{"H"};  // element names in LAMMPS type order
  int twojmax = 6;
  double rcutfac = 4.67637;
  double rfac0 = 0.99363;
  double rmin0 = 0.0;
  std::vector<double> wj{1.0};
  std::vector<double> radelem{0.5};
  int wselfallflag = 0;
  int chemflag = 0;
  int bzeroflag = 0;
  int quadraticflag = 0;
  int switchflag = 1;
  int switchinnerflag = 0;
  std::vector<double> sinner{0.9};
  std::vector<double> dinner{0.1};
  int bnormflag = 0;
  int bikflag = 0;
  int dgradflag = 0;

  // Number of descriptors per atom (ncoeff of compute snap).
  int num_descriptors() const;
  // Index of element `name` in `types`, or -1.
  int type_index(const std::string& name) const;
};

// [REFERENCE]: the potential subtracted from the DFT targets.
struct ReferenceSettings {
  std::string units = "metal";
  std::string atom_style = "atomic";
  std::string pair_style;                // e.g. "hybrid/overlay zero 10.0 zbl 4.0 4.8"
  std::vector<std::string> pair_coeffs;  // in key order: pair_coeff1, pair_coeff2, ...
};

// One line of [GROUPS].
struct GroupSpec {
  std::string name;
  double training_size = 1.0;  // < 1 or exactly 1.0 written as float: fraction; else count
  double testing_size = 0.0;  // -1: "the rest of the files" (legacy `size` column form)
  bool training_is_fraction = true;
  bool testing_is_fraction = true;
  double eweight = 1.0;
  double fweight = 1.0;
  double vweight = 1.0;
};

struct GroupSettings {
  std::vector<std::string> group_sections{"name", "size", "eweight", "fweight", "vweight"};
  std::vector<std::string> group_types;
  bool smartweights = false;
  bool random_sampling = false;
  std::optional<uint64_t> random_seed;  // recorded in the run log when drawn
  std::vector<GroupSpec> groups;        // in file order
};

enum class Activation { softplus, tanh, sigmoid, relu, linear };
const char* activation_name(Activation a);
Activation activation_from_name(const std::string& name);  // throws InputError

// [PYTORCH] plus FitNN's own keys (documented in docs/INPUT.md).
struct TrainSettings {
  std::vector<int> hidden_sizes{512, 512};  // widths after num_desc, before the final 1
  double learning_rate = 1e-2;
  int num_epochs = 10;
  int batch_size = 4;
  std::optional<double> energy_weight;
  std::optional<double> force_weight;
  std::optional<double> training_fraction;
  int multi_element_option = 1;
  int num_elements = 1;
  bool manual_seed_flag = false;
  bool shuffle_flag = true;
  std::string save_state_output = "FitTorch_Pytorch.pt.state";
  bool save_state_output_set = false;
  std::string save_state_input;
  std::string output_file = "FitTorch_Pytorch.pt";
  int save_freq = 0;
  int dtype_setting = 0;  // 0: absent (backend default), 1: float32, 2: float64
  // FitNN keys
  Activation activation = Activation::softplus;
  uint64_t seed = 12345;         // used when manual_seed_flag = 1 (else drawn and logged)
  bool lr_plateau = true;        // ReduceLROnPlateau (factor, patience, threshold below)
  double lr_factor = 0.5;
  int lr_patience = 49;
  double lr_threshold = 1e-4;
  double lr_min = 0.0;
  int early_stopping = 0;        // epochs without validation improvement; 0 = off
  int derivative_precision = 64; // storage of derivative rows: 64 or 32 bits
  int divergence_retries = 0;
  bool energy_offset = true;     // start the output bias at the per-element mean energy
  bool input_layer = false;      // FitSNAP's trainable (in x in) first layer on raw descriptors
  double output_scale = 1.0;     // E_i = output_scale * z_L; 0 = from the training energies    // on NaN/Inf: retry from the best state with lr * 0.5
};

struct OutfileSettings {
  std::string metrics = "fitsnap_metrics.md";
  std::string potential = "fitsnap_potential";
};

struct ExtrasSettings {
  bool dump_peratom = false;
  bool dump_perconfig = false;
  bool dump_configs = false;
};

struct Config {
  std::string input_path;  // the script as given
  std::string input_dir;   // its folder: dataPath is relative to it
  BispectrumSettings bispectrum;
  ReferenceSettings reference;
  GroupSettings groups;
  TrainSettings train;
  OutfileSettings outfile;
  ExtrasSettings extras;
  std::string scraper = "JSON";  // JSON | XYZ
  std::string data_path = "JSON";
  std::map<std::string, double> eshift;  // element -> eV per atom added to the target
  std::vector<std::string> notes;        // accepted-but-ignored keys etc., printed once

  // dataPath resolved against input_dir.
  std::string resolved_data_path() const;
};

// Parse a FitSNAP input script. Throws InputError naming the file, section and key.
Config parse_config_file(const std::string& path);
// Parse from text; `origin` names the source in messages, `dir` is the folder for dataPath.
Config parse_config_string(const std::string& text, const std::string& origin,
                           const std::string& dir);

}  // namespace fitnn
