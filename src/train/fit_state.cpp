// Where a fit starts: a fresh TrainState (seeded initialization, standardization over the
// training atoms) or one loaded from a checkpoint, checked against the input's network and
// reconciled with settings or data that changed since it was written. Also the split into
// training and validation configurations and the global weight override.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <random>
#include <sstream>

#include "fitnn/checkpoint.hpp"
#include "fitnn/errors.hpp"
#include "fitnn/log.hpp"
#include "fitnn/outputs.hpp"
#include "train/fit_internal.hpp"
#include "util/hash.hpp"

namespace fitnn {

bool apply_global_weights(const TrainSettings& t, Dataset& data) {
  if (t.energy_weight.has_value() != t.force_weight.has_value())
    throw InputError("[PYTORCH] energy_weight and force_weight must be given together "
                     "(or neither)");
  if (!t.energy_weight) return false;
  std::fill(data.eweight.begin(), data.eweight.end(), *t.energy_weight);
  std::fill(data.fweight.begin(), data.fweight.end(), *t.force_weight);
  return true;
}

namespace detail {
namespace {

std::string describe(const ModelLayout& L, const std::vector<std::string>& elements) {
  std::string s;
  for (size_t k = 0; k < L.widths.size(); ++k) s += (k ? "-" : "") + std::to_string(L.widths[k]);
  s += std::string(" ") + activation_name(L.activation) + ", multi_element_option " +
       std::to_string(L.option) + ", elements";
  for (const std::string& e : elements) s += " " + e;
  return s;
}

std::map<std::string, std::string> parse_settings(const std::string& text) {
  std::map<std::string, std::string> m;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    size_t eq = line.find('=');
    if (eq != std::string::npos) m[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return m;
}

uint64_t data_checksum(const Dataset& d) {
  Hasher h;
  h.bytes(d.atom_offset.data(), d.atom_offset.size() * sizeof(int64_t));
  h.f64s(d.descriptors);
  h.bytes(d.atom_type.data(), d.atom_type.size() * sizeof(int32_t));
  h.f64s(d.energy);
  h.f64s(d.forces);
  h.f64s(d.eweight);
  h.f64s(d.fweight);
  h.bytes(d.testing.data(), d.testing.size());
  return h.digest();
}

// Settings whose change makes the stored best loss and the epoch in progress meaningless.
bool data_changed(const std::map<std::string, std::string>& a,
                  const std::map<std::string, std::string>& b) {
  for (const char* k : {"data_checksum", "configurations", "training_configurations",
                        "validation_configurations", "atoms"}) {
    auto ia = a.find(k), ib = b.find(k);
    if (ia == a.end() || ib == b.end() || ia->second != ib->second) return true;
  }
  return false;
}

}  // namespace

FitPaths fit_paths(const Config& config, const std::string& output_dir) {
  auto place = [&](const std::string& name) {
    if (name.empty() || std::filesystem::path(name).is_absolute() || output_dir.empty() ||
        output_dir == ".")
      return name;
    return (std::filesystem::path(output_dir) / name).string();
  };
  FitPaths p;
  p.metrics = place(config.outfile.metrics);
  p.loss = place("loss_vs_epochs.dat");
  p.best = place(config.train.save_state_output);
  p.latest = p.best + ".latest";
  p.peratom = place("peratom.dat");
  p.perconfig = place("perconfig.dat");
  return p;
}

Split split_configs(const Dataset& data) {
  Split s;
  for (int64_t c = 0; c < data.nconfigs(); ++c) (data.testing[c] ? s.val : s.train).push_back(c);
  return s;
}

std::vector<std::string> element_names(const Dataset& data) {
  if (int(data.type_names.size()) == data.ntypes) return data.type_names;
  std::vector<std::string> names;
  for (int t = 0; t < data.ntypes; ++t) names.push_back("type" + std::to_string(t + 1));
  return names;
}

std::string run_settings(const Config& config, const Dataset& data, const Split& split,
                         uint64_t seed) {
  const TrainSettings& t = config.train;
  std::ostringstream s;
  s << "fitnn_version=" << FITNN_VERSION << "\n";
  s << "layer_sizes=" << data.ndesc;
  for (int w : t.hidden_sizes) s << " " << w;
  s << " 1\nactivation=" << activation_name(t.activation) << "\n";
  s << "input_layer=" << (t.input_layer ? "trainable" : "fixed") << "\n";
  s << "multi_element_option=" << t.multi_element_option << "\n";
  s << "learning_rate=" << format_exact(t.learning_rate) << "\n";
  s << "batch_size=" << t.batch_size << "\n";
  s << "shuffle_flag=" << int(t.shuffle_flag) << "\n";
  s << "seed=" << seed << "\n";
  s << "energy_weight=" << (t.energy_weight ? format_exact(*t.energy_weight) : "groups") << "\n";
  s << "force_weight=" << (t.force_weight ? format_exact(*t.force_weight) : "groups") << "\n";
  s << "lr_plateau=" << int(t.lr_plateau) << "\n";
  s << "lr_factor=" << format_exact(t.lr_factor) << "\n";
  s << "lr_patience=" << t.lr_patience << "\n";
  s << "lr_threshold=" << format_exact(t.lr_threshold) << "\n";
  s << "lr_min=" << format_exact(t.lr_min) << "\n";
  s << "early_stopping=" << t.early_stopping << "\n";
  s << "divergence_retries=" << t.divergence_retries << "\n";
  s << "configurations=" << data.nconfigs() << "\n";
  s << "training_configurations=" << split.train.size() << "\n";
  s << "validation_configurations=" << split.val.size() << "\n";
  s << "atoms=" << data.natoms() << "\n";
  char hex[32];
  std::snprintf(hex, sizeof hex, "%016llx", (unsigned long long)data_checksum(data));
  s << "data_checksum=" << hex << "\n";
  return s.str();
}

uint64_t choose_seed(const TrainSettings& t) {
  if (t.manual_seed_flag) return t.seed;
  std::random_device rd;
  uint64_t seed = (uint64_t(rd()) << 32) ^ uint64_t(rd());
  log_info("seed " + std::to_string(seed) + " (drawn; to repeat this run set [PYTORCH] "
           "manual_seed_flag = 1 and seed = " + std::to_string(seed) + ")");
  return seed;
}

TrainState fresh_state(const Config& config, const Dataset& data, const Split& split) {
  const TrainSettings& t = config.train;
  TrainState s;
  s.seed = choose_seed(t);
  s.model.layout = ModelLayout::from_settings(data.ndesc, data.ntypes, t);
  s.model.initialize(s.seed);
  std::vector<uint8_t> mask(size_t(data.natoms()), 0);
  for (int64_t c : split.train)
    std::fill(mask.begin() + data.atom_offset[c], mask.begin() + data.atom_offset[c + 1], 1);
  compute_standardization(data.descriptors.data(), data.natoms(), data.ndesc, mask,
                          s.model.mean, s.model.std);
  s.model.start_input_layer();
  s.model.output_scale = choose_output_scale(t, data, split.train);
  if (t.energy_offset) initialize_energy_offset(s.model, data, split.train);
  s.elements = element_names(data);
  const size_t np = size_t(s.model.layout.nparams());
  s.adam.m.assign(np, 0.0);
  s.adam.v.assign(np, 0.0);
  s.plateau.lr = t.learning_rate;
  s.initial_lr = t.learning_rate;
  s.rng_state = rng_to_text(shuffle_rng(s.seed));
  s.best_params = s.model.params;
  s.best_adam = s.adam;
  s.settings = run_settings(config, data, split, s.seed);
  return s;
}

namespace {

TrainState load_checkpoint_for(const Config& config, const std::string& path, int ndesc,
                               int ntypes, const std::vector<std::string>& names) {
  TrainState s = load_checkpoint(path);
  ModelLayout want = ModelLayout::from_settings(ndesc, ntypes, config.train);
  if (!(s.model.layout == want) || s.elements != names)
    throw CheckpointError("checkpoint '" + path + "' holds a network " +
                          describe(s.model.layout, s.elements) + ", but the input '" +
                          config.input_path + "' asks for " + describe(want, names) +
                          ": use the checkpoint's [PYTORCH] layer_sizes, activation and "
                          "multi_element_option (and BISPECTRUM settings), or remove "
                          "save_state_input to start a new fit");
  return s;
}

}  // namespace

TrainState load_compatible_checkpoint(const Config& config, const Dataset& data,
                                      const std::string& path) {
  return load_checkpoint_for(config, path, data.ndesc, data.ntypes, element_names(data));
}

TrainState restart_state(const Config& config, const Dataset& data, const Split& split,
                         const std::string& path) {
  TrainState s = load_compatible_checkpoint(config, data, path);
  const TrainSettings& t = config.train;
  const std::string now = run_settings(config, data, split, s.seed);
  const auto before = parse_settings(s.settings), after = parse_settings(now);
  std::string changes;
  for (const auto& [key, value] : after) {
    auto it = before.find(key);
    const std::string old = it == before.end() ? "(none)" : it->second;
    if (old != value) changes += (changes.empty() ? "" : "; ") + key + " " + old + " -> " + value;
  }
  log_info("restarting from '" + path + "' after epoch " + std::to_string(s.epoch) +
           (s.batch_position ? " (+" + std::to_string(s.batch_position) + " batches)" : "") +
           ": " + std::to_string(t.num_epochs) + " more epochs");
  if (!changes.empty())
    log_note("settings differ from the checkpoint's (" + changes +
             "): the continuation is not the run the checkpoint came from");

  const bool new_data = data_changed(before, after);
  if (new_data) {
    log_note("the training data differ from the checkpoint's: its best loss and the epoch in "
             "progress are discarded; the standardization of the checkpoint is kept");
    s.best_loss = std::numeric_limits<double>::infinity();
    s.best_epoch = s.epoch;
    s.best_params = s.model.params;
    s.best_adam = s.adam;
    s.plateau.best = std::numeric_limits<double>::infinity();
    s.plateau.bad_epochs = 0;
  }
  if (format_exact(t.learning_rate) != format_exact(s.initial_lr)) {
    log_note("learning_rate changed: the schedule restarts at " + format_exact(t.learning_rate));
    s.initial_lr = t.learning_rate;
    s.plateau = PlateauState{};
    s.plateau.lr = t.learning_rate;
  }
  // The epoch in progress continues only if its order still names the training set.
  if (!s.order.empty()) {
    std::vector<int64_t> sorted = s.order;
    std::sort(sorted.begin(), sorted.end());
    const int64_t nbatches = (int64_t(split.train.size()) + t.batch_size - 1) / t.batch_size;
    const bool same_batches = before.count("batch_size") &&
                              before.at("batch_size") == after.at("batch_size");
    if (new_data || sorted != split.train || !same_batches || s.batch_position > nbatches) {
      log_note("the epoch in progress in '" + path + "' starts again with a new order");
      s.order.clear();
      s.batch_position = 0;
      s.partial_loss_sum = 0.0;
    }
  }
  s.settings = now;
  return s;
}

}  // namespace detail

void check_restart_checkpoint(const Config& config) {
  const std::string& path = config.train.save_state_input;
  if (path.empty()) return;
  const BispectrumSettings& b = config.bispectrum;
  detail::load_checkpoint_for(config, path, b.num_descriptors(), b.num_types, b.types);
}

}  // namespace fitnn
