// FitSNAP JSON training files -> Configurations in metal units. A file holds an optional
// first comment line, then {"Dataset": {<unit styles>, "Data": [ {configuration}, ... ]}}.
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "fitnn/errors.hpp"
#include "fitnn/scrape.hpp"
#include "scrape/scrape_checks.hpp"

namespace fitnn {
namespace {

using nlohmann::json;

struct Units {
  double length = 1.0, energy = 1.0, force = 1.0, stress = 1.0;
};

double unit_factor(const json& ds, const char* key, const std::string& where,
                   std::initializer_list<std::pair<const char*, double>> known) {
  auto it = ds.find(key);
  if (it == ds.end()) return 1.0;
  if (!it->is_string()) throw DataError(where + ": \"" + key + "\" must be a string");
  std::string v = it->get<std::string>();
  std::string names;
  for (auto& [name, f] : known) {
    if (v == name) return f;
    names += std::string(names.empty() ? "" : ", ") + name;
  }
  throw DataError(where + ": unknown " + key + " \"" + v + "\" (known: " + names + ")");
}

Units read_units(const json& ds, const std::string& where) {
  constexpr double bohr = 0.529177210903;       // Angstrom
  constexpr double hartree = 27.211386245988;   // eV
  constexpr double rydberg = hartree / 2;
  constexpr double kcalmol = 0.0433641043;      // eV
  Units u;
  double lat = unit_factor(ds, "LatticeStyle", where, {{"angstrom", 1.0}, {"bohr", bohr}});
  double pos = unit_factor(ds, "PositionsStyle", where, {{"angstrom", 1.0}, {"bohr", bohr}});
  if (lat != pos)
    throw DataError(where + ": LatticeStyle and PositionsStyle differ; use one length unit");
  u.length = lat;
  u.energy = unit_factor(ds, "EnergyStyle", where,
                         {{"electronvolt", 1.0}, {"hartree", hartree}, {"rydberg", rydberg},
                          {"kcal/mol", kcalmol}});
  u.force = unit_factor(ds, "ForcesStyle", where,
                        {{"electronvoltperangstrom", 1.0}, {"hartreeperbohr", hartree / bohr},
                         {"rydbergperbohr", rydberg / bohr}, {"kcal/mol/angstrom", kcalmol}});
  u.stress = unit_factor(ds, "StressStyle", where,
                         {{"bar", 1.0}, {"kbar", 1e3}, {"kB", 1e3}, {"GPa", 1e4}, {"Pa", 1e-5}});
  return u;
}

double number_at(const json& j, const std::string& where) {
  if (!j.is_number()) throw DataError(where + " is not a number");
  return j.get<double>();
}

// (rows, 3) array of numbers; rows < 0 means any.
std::vector<double> read_rows3(const json& cfg, const char* key, int rows,
                               const std::string& where, double scale) {
  auto it = cfg.find(key);
  if (it == cfg.end()) throw DataError(where + ": missing \"" + key + "\"");
  if (!it->is_array()) throw DataError(where + ": \"" + key + "\" must be an array");
  if (rows >= 0 && int(it->size()) != rows) {
    std::ostringstream m;
    m << where << ": \"" << key << "\" has " << it->size() << " rows but NumAtoms is " << rows;
    throw DataError(m.str());
  }
  std::vector<double> out;
  out.reserve(it->size() * 3);
  for (size_t r = 0; r < it->size(); ++r) {
    const json& row = (*it)[r];
    if (!row.is_array() || row.size() != 3)
      throw DataError(where + ": \"" + key + "\" row " + std::to_string(r) +
                      " must hold 3 numbers");
    for (int a = 0; a < 3; ++a)
      out.push_back(scale * number_at(row[a], where + ": \"" + key + "\"[" +
                                                  std::to_string(r) + "][" +
                                                  std::to_string(a) + "]"));
  }
  return out;
}

Configuration read_one(const json& cfg, const Units& u, const std::string& where,
                       const BispectrumSettings& b) {
  if (!cfg.is_object()) throw DataError(where + ": a configuration must be a JSON object");
  Configuration c;
  auto na = cfg.find("NumAtoms");
  auto pos = cfg.find("Positions");
  if (pos == cfg.end()) throw DataError(where + ": missing \"Positions\"");
  if (na != cfg.end()) {
    if (!na->is_number_integer() || na->get<long long>() < 1 ||
        na->get<long long>() > std::numeric_limits<int>::max())
      throw DataError(where + ": \"NumAtoms\" must be a positive integer");
    c.natoms = int(na->get<long long>());
  } else {
    c.natoms = pos->is_array() ? int(pos->size()) : 0;
  }
  c.positions = read_rows3(cfg, "Positions", c.natoms, where, u.length);
  c.forces = read_rows3(cfg, "Forces", c.natoms, where, u.force);
  std::vector<double> lat = read_rows3(cfg, "Lattice", 3, where, u.length);
  std::copy(lat.begin(), lat.end(), c.lattice.begin());
  auto en = cfg.find("Energy");
  if (en == cfg.end()) throw DataError(where + ": missing \"Energy\"");
  c.energy = u.energy * number_at(*en, where + ": \"Energy\"");
  auto st = cfg.find("Stress");
  if (st != cfg.end() && !st->is_null()) {
    std::vector<double> s = read_rows3(cfg, "Stress", 3, where, u.stress);
    std::copy(s.begin(), s.end(), c.stress.begin());
    c.has_stress = true;
  }
  auto types = cfg.find("AtomTypes");
  if (types == cfg.end()) throw DataError(where + ": missing \"AtomTypes\"");
  if (!types->is_array() || int(types->size()) != c.natoms)
    throw DataError(where + ": \"AtomTypes\" must list NumAtoms = " +
                    std::to_string(c.natoms) + " element names");
  c.types.resize(c.natoms);
  for (int i = 0; i < c.natoms; ++i) {
    const json& t = (*types)[i];
    if (!t.is_string()) throw DataError(where + ": \"AtomTypes\"[" + std::to_string(i) +
                                        "] must be an element name");
    c.types[i] = element_index(b, t.get<std::string>(), where);
  }
  check_configuration(c, where);
  return c;
}

}  // namespace

std::vector<Configuration> read_fitsnap_json(const std::string& path,
                                             const BispectrumSettings& b) {
  return parse_fitsnap_json(read_data_file(path), path, b);
}

std::vector<Configuration> parse_fitsnap_json(const std::string& text, const std::string& path,
                                              const BispectrumSettings& b) {
  // Optional first comment line.
  size_t start = 0;
  while (start < text.size() && std::isspace((unsigned char)text[start])) ++start;
  if (start < text.size() && text[start] == '#') {
    size_t nl = text.find('\n', start);
    start = nl == std::string::npos ? text.size() : nl + 1;
  }
  json doc;
  try {
    doc = json::parse(text.begin() + start, text.end());
  } catch (const json::parse_error& e) {
    std::string hint;
    if (text.find("NaN") != std::string::npos || text.find("Infinity") != std::string::npos)
      hint = "; it holds NaN or Infinity, which is not valid JSON: fix or drop that "
             "configuration";
    throw DataError(path + ": malformed JSON (" + std::string(e.what()) + ")" + hint);
  } catch (const json::exception& e) {
    throw DataError(path + ": unreadable JSON value (" + std::string(e.what()) + ")");
  }
  auto ds = doc.find("Dataset");
  if (!doc.is_object() || ds == doc.end() || !ds->is_object())
    throw DataError(path + ": missing \"Dataset\" object");
  Units u = read_units(*ds, path);
  auto data = ds->find("Data");
  if (data == ds->end() || !data->is_array())
    throw DataError(path + ": missing \"Dataset\".\"Data\" array");
  if (data->empty()) throw DataError(path + ": \"Data\" holds no configuration");
  std::vector<Configuration> out;
  out.reserve(data->size());
  for (size_t k = 0; k < data->size(); ++k) {
    std::string where = path + ": configuration " + std::to_string(k);
    Configuration c = read_one((*data)[k], u, where, b);
    c.file = path;
    c.index_in_file = int(k);
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace fitnn
