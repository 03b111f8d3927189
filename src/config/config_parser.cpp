// Building a typed Config from a FitSNAP input script: defaults from the key table, then the
// script's values, then the cross-key checks a network fit needs.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "config/ini_reader.hpp"
#include "config/key_table.hpp"
#include "fitnn/config.hpp"
#include "fitnn/errors.hpp"

namespace fitnn {
namespace {

const KeySpec* find_spec(const std::string& section, const std::string& key) {
  for (auto& k : key_table())
    if (section == k.section && key == k.key) return &k;
  return nullptr;
}

bool is_fraction_text(const std::string& text, double v) {
  if (v < 1.0) return true;
  bool floaty = text.find_first_of(".eE") != std::string::npos;
  return v == 1.0 && floaty;
}

void parse_group_line(Config& c, const IniEntry& e, const std::string& where) {
  const auto& cols = c.groups.group_sections;
  std::istringstream ss(e.value);
  std::vector<std::string> words;
  for (std::string w; ss >> w;) words.push_back(w);
  if (cols.empty() || cols[0] != "name")
    throw InputError(where + ": group_sections must start with 'name'");
  if (words.size() != cols.size() - 1) {
    std::ostringstream m;
    m << where << ": group '" << e.key << "' has " << words.size() << " values but "
      << "group_sections names " << cols.size() - 1 << " columns after name";
    throw InputError(m.str());
  }
  GroupSpec g;
  g.name = e.key;
  bool have_train = false, have_test = false;
  for (size_t i = 1; i < cols.size(); ++i) {
    const std::string& w = words[i - 1];
    char* end = nullptr;
    double v = std::strtod(w.c_str(), &end);
    if (!end || *end != '\0' || !std::isfinite(v))
      throw InputError(where + ": group '" + e.key + "' column '" + cols[i] + "': '" + w +
                       "' is not a number");
    const std::string& col = cols[i];
    if ((col == "training_size" || col == "size" || col == "testing_size") &&
        !is_fraction_text(w, v) && v > 1e12)  // a count: it must fit the size arithmetic
      throw InputError(where + ": group '" + e.key + "' " + col + " = " + w +
                       " is not a plausible number of configurations");
    if (col == "training_size" || col == "size") {
      if (v < 0) throw InputError(where + ": group '" + e.key + "' " + col + " is negative");
      g.training_size = v;
      g.training_is_fraction = is_fraction_text(w, v);
      have_train = true;
    } else if (col == "testing_size") {
      if (v < 0) throw InputError(where + ": group '" + e.key + "' testing_size is negative");
      g.testing_size = v;
      g.testing_is_fraction = is_fraction_text(w, v);
      have_test = true;
    } else if (col == "eweight") {
      g.eweight = v;
    } else if (col == "fweight") {
      g.fweight = v;
    } else if (col == "vweight") {
      g.vweight = v;
    }
    if ((col == "eweight" || col == "fweight" || col == "vweight") && v < 0)
      throw InputError(where + ": group '" + e.key + "' " + col + " is negative");
  }
  if (!have_train)
    throw InputError(where + ": group_sections needs a 'training_size' (or legacy 'size') column");
  if (!have_test) {  // legacy form: the files not used for training are the test set
    g.testing_size = -1;
    g.testing_is_fraction = false;
  }
  c.groups.groups.push_back(g);
}

void parse_layers(Config& c, const std::string& text, const std::string& where) {
  std::istringstream ss(text);
  std::vector<std::string> w;
  for (std::string x; ss >> x;) w.push_back(x);
  if (w.size() < 2) throw InputError(where + ": layer_sizes needs at least 'num_desc 1'");
  if (w.back() != "1")
    throw InputError(where + ": layer_sizes must end with 1 (one energy per atom), got '" +
                     w.back() + "'");
  int ndesc = c.bispectrum.num_descriptors();
  if (w[0] != "num_desc" && w[0] != std::to_string(ndesc))
    throw InputError(where + ": layer_sizes must start with num_desc (or " +
                     std::to_string(ndesc) + ", the descriptor count), got '" + w[0] + "'");
  c.train.hidden_sizes.clear();
  for (size_t i = 1; i + 1 < w.size(); ++i) {
    char* end = nullptr;
    long v = std::strtol(w[i].c_str(), &end, 10);
    if (!end || *end != '\0' || v < 1 || v > 100000)
      throw InputError(where + ": layer width '" + w[i] + "' is not a positive integer");
    c.train.hidden_sizes.push_back(int(v));
  }
}

std::string where_of(const std::string& origin, int line, const std::string& section,
                     const std::string& key) {
  return origin + ":" + std::to_string(line) + ": [" + section + "] " + key;
}

void validate(Config& c, const std::string& origin) {
  auto& b = c.bispectrum;
  auto err = [&](const std::string& m) { throw InputError(origin + ": " + m); };
  if (int(b.types.size()) != b.num_types)
    err("[BISPECTRUM] type lists " + std::to_string(b.types.size()) +
        " elements but numTypes = " + std::to_string(b.num_types));
  std::set<std::string> uniq(b.types.begin(), b.types.end());
  if (uniq.size() != b.types.size()) err("[BISPECTRUM] type lists an element twice");
  auto per_type = [&](std::vector<double>& v, const char* key) {
    if (v.size() == 1 && b.num_types > 1) v.assign(b.num_types, v[0]);
    if (int(v.size()) != b.num_types)
      err(std::string("[BISPECTRUM] ") + key + " has " + std::to_string(v.size()) +
          " values; numTypes = " + std::to_string(b.num_types) + " needs one per type");
  };
  per_type(b.wj, "wj");
  per_type(b.radelem, "radelem");
  if (b.switchinnerflag) {
    per_type(b.sinner, "sinner");
    per_type(b.dinner, "dinner");
  }
  if (!b.bikflag || !b.dgradflag)
    err("a network fit needs per-atom descriptors and their per-neighbour derivatives: set "
        "bikflag = 1 and dgradflag = 1 in [BISPECTRUM]");
  if (b.quadraticflag)
    err("a network fit cannot use quadratic descriptors: set quadraticflag = 0 in "
        "[BISPECTRUM]");
  if (c.reference.units != "metal")
    err("[REFERENCE] units = " + c.reference.units + ": FitNN works in metal units only");
  if (c.scraper != "JSON" && c.scraper != "XYZ")
    err("[SCRAPER] scraper = " + c.scraper + ": use JSON or XYZ");
  auto& t = c.train;
  if (t.energy_weight.has_value() != t.force_weight.has_value())
    err("[PYTORCH] energy_weight and force_weight must be given together (or neither)");
  if (t.training_fraction && *t.training_fraction <= 0.0)
    err("[PYTORCH] training_fraction must be in (0, 1]");
  if (t.derivative_precision != 32 && t.derivative_precision != 64)
    err("[PYTORCH] derivative_precision = " + std::to_string(t.derivative_precision) +
        ": use 64 (float64 storage) or 32 (float32, half the memory)");
  if (t.num_elements != b.num_types && t.num_elements != 1)
    c.notes.push_back("[PYTORCH] num_elements = " + std::to_string(t.num_elements) +
                      " differs from numTypes = " + std::to_string(b.num_types) +
                      "; FitNN uses numTypes");
  if (t.multi_element_option != 1 && b.num_types == 1)
    c.notes.push_back("multi_element_option " + std::to_string(t.multi_element_option) +
                      " with one element behaves like option 1");
  for (auto& [el, shift] : c.eshift)
    if (b.type_index(el) < 0)
      err("[ESHIFT] " + el + ": element not in [BISPECTRUM] type");
  if (c.groups.groups.empty()) err("[GROUPS] lists no groups: add one line per data folder");
  // Output names: an empty one would only fail when the file is written, after the work.
  for (const auto& [key, value] :
       {std::pair<const char*, const std::string*>{"[OUTFILE] metrics", &c.outfile.metrics},
        {"[OUTFILE] potential", &c.outfile.potential},
        {"[PYTORCH] save_state_output", &t.save_state_output}})
    if (value->find_first_not_of(" \t") == std::string::npos)
      err(std::string(key) + " is empty: give a file name");
}

}  // namespace

Config parse_config_string(const std::string& text, const std::string& origin,
                           const std::string& dir) {
  std::vector<IniEntry> entries = read_ini(text, origin);
  Config c;
  c.input_path = origin;
  c.input_dir = dir;
  for (auto& k : key_table())
    if (k.default_text && k.set && k.type != ValueType::layer_list)
      k.set(c, parse_value(k, k.default_text, "default"));

  std::set<std::string> sections;
  for (auto& e : entries) sections.insert(e.section);
  if (!sections.count("PYTORCH"))
    throw InputError(origin + ": no [PYTORCH] section: FitNN fits networks; add [PYTORCH] with "
                     "at least layer_sizes, learning_rate, num_epochs and batch_size");
  if (!sections.count("BISPECTRUM"))
    throw InputError(origin + ": no [BISPECTRUM] section: it defines the SNAP descriptors");
  for (auto& s : sections)
    if (!is_known_section(s))
      throw InputError(origin + ": unknown section [" + s + "] (did you mean [" +
                       closest_section(s) + "]?)");

  // Keys of the table first (BISPECTRUM before layer_sizes needs num_desc), then free keys.
  std::string layer_text = "num_desc 512 512 1";
  std::string layer_where = origin + ": [PYTORCH] layer_sizes (default)";
  std::vector<const IniEntry*> group_lines;
  std::set<std::string> ignored;
  for (auto& e : entries) {
    std::string where = where_of(origin, e.line, e.section, e.key);
    if (e.section == "REFERENCE" && e.key.rfind("pair_coeff", 0) == 0) {
      c.reference.pair_coeffs.push_back(e.value);
      continue;
    }
    if (e.section == "ESHIFT") {
      char* end = nullptr;
      double v = std::strtod(e.value.c_str(), &end);
      if (e.value.empty() || !end || *end != '\0' || !std::isfinite(v))
        throw InputError(where + ": '" + e.value + "' is not a number");
      c.eshift[e.key] = v;
      continue;
    }
    const KeySpec* spec = find_spec(e.section, e.key);
    if (!spec) {
      if (e.section == "GROUPS") {
        group_lines.push_back(&e);
        continue;
      }
      std::string near = closest_key(e.section, e.key);
      throw InputError(where + ": unknown key '" + e.key + "' in [" + e.section + "]" +
                       (near.empty() ? "" : " (did you mean '" + near + "'?)"));
    }
    if (spec->type == ValueType::layer_list) {
      layer_text = e.value;
      layer_where = where;
      continue;
    }
    KeyValue v = parse_value(*spec, e.value, where);
    if (!spec->set) {
      ignored.insert(std::string("[") + e.section + "] " + e.key);
      continue;
    }
    if (std::string(spec->key) == "calculator" && v.text != "LAMMPSSNAP")
      throw InputError(where + ": FitNN computes SNAP descriptors: use LAMMPSSNAP");
    if (std::string(spec->key) == "solver" && v.text != "PYTORCH" && v.text != "FITNN")
      throw InputError(where + ": '" + v.text + "': FitNN is a network solver; use PYTORCH");
    try {
      spec->set(c, v);
    } catch (const InputError& e) {  // e.g. an unknown activation name: say where it is
      throw InputError(where + ": " + e.what());
    }
  }
  for (auto* e : group_lines)
    parse_group_line(c, *e, where_of(origin, e->line, e->section, e->key));
  parse_layers(c, layer_text, layer_where);
  if (!ignored.empty()) {
    std::string list;
    for (auto& k : ignored) list += (list.empty() ? "" : ", ") + k;
    c.notes.push_back("accepted but not used by FitNN: " + list);
  }
  validate(c, origin);
  return c;
}

Config parse_config_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_symlink(fs::symlink_status(path, ec)) && !fs::exists(path, ec))
    throw InputError(path + ": input script not found (dangling symbolic link to '" +
                     fs::read_symlink(path, ec).string() + "')");
  if (!fs::exists(path, ec))
    throw InputError(path + ": input script not found");
  if (fs::is_directory(path, ec))
    throw InputError(path + ": is a directory, expected a FitSNAP input script");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot read the input script");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string dir = fs::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  return parse_config_string(ss.str(), path, dir);
}

}  // namespace fitnn
