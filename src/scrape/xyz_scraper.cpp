// Extended XYZ files -> Configurations. Each frame: a line with the atom count, a comment
// line of key=value pairs (Lattice="9 numbers" rows = cell vectors, energy=, stress=, pbc=,
// Properties=species:S:1:pos:R:3:forces:R:3 by default), then one line per atom.
#include <cerrno>
#include <cmath>
#include <limits>
#include <map>
#include <sstream>

#include "fitnn/errors.hpp"
#include "fitnn/scrape.hpp"
#include "scrape/scrape_checks.hpp"

namespace fitnn {
namespace {

// key=value pairs of the comment line; values may be "quoted" or {braced}.
std::map<std::string, std::string> parse_comment(const std::string& line,
                                                 const std::string& where) {
  std::map<std::string, std::string> kv;
  size_t i = 0, n = line.size();
  while (i < n) {
    while (i < n && std::isspace((unsigned char)line[i])) ++i;
    if (i >= n) break;
    size_t k0 = i;
    while (i < n && line[i] != '=' && !std::isspace((unsigned char)line[i])) ++i;
    std::string key = line.substr(k0, i - k0);
    std::string value = "T";  // a bare key is a true flag
    if (i < n && line[i] == '=') {
      ++i;
      if (i < n && (line[i] == '"' || line[i] == '{')) {
        char close = line[i] == '"' ? '"' : '}';
        size_t v0 = ++i;
        while (i < n && line[i] != close) ++i;
        if (i >= n) throw DataError(where + ": unterminated quote in the comment line");
        value = line.substr(v0, i - v0);
        ++i;
      } else {
        size_t v0 = i;
        while (i < n && !std::isspace((unsigned char)line[i])) ++i;
        value = line.substr(v0, i - v0);
      }
    }
    // Keys are case-insensitive in extended XYZ.
    for (auto& ch : key) ch = char(std::tolower((unsigned char)ch));
    kv[key] = value;
  }
  return kv;
}

std::vector<double> numbers(const std::string& s, const std::string& where, const char* key) {
  std::istringstream ss(s);
  std::vector<double> v;
  std::string w;
  while (ss >> w) {
    char* end = nullptr;
    double x = std::strtod(w.c_str(), &end);
    if (!end || *end != '\0') throw DataError(where + ": " + key + ": '" + w + "' is not a number");
    v.push_back(x);
  }
  return v;
}

constexpr int kMaxColumns = 10000;  // numbers per atom line, all columns together

struct Column {
  std::string name;
  char type;
  int count;
  int start;
};

std::vector<Column> parse_properties(const std::string& p, const std::string& where) {
  std::vector<std::string> parts;
  std::stringstream ss(p);
  for (std::string x; std::getline(ss, x, ':');) parts.push_back(x);
  if (parts.size() % 3 != 0) throw DataError(where + ": malformed Properties '" + p + "'");
  std::vector<Column> cols;
  int start = 0;
  for (size_t k = 0; k < parts.size(); k += 3) {
    // A column holds 1..kMaxColumns numbers (strtol, not atoi: "32147483648" must not wrap).
    char* end = nullptr;
    errno = 0;
    const long count = std::strtol(parts[k + 2].c_str(), &end, 10);
    if (parts[k + 2].empty() || *end || errno == ERANGE || count < 1 ||
        count > kMaxColumns - start)
      throw DataError(where + ": malformed Properties '" + p + "' (column '" + parts[k] +
                      "' has count '" + parts[k + 2] + "')");
    Column c{parts[k], parts[k + 1].empty() ? 'R' : parts[k + 1][0], int(count), start};
    for (auto& ch : c.name) ch = char(std::tolower((unsigned char)ch));
    start += c.count;
    cols.push_back(c);
  }
  return cols;
}

const Column* find_column(const std::vector<Column>& cols,
                          std::initializer_list<const char*> names) {
  for (auto& c : cols)
    for (auto* n : names)
      if (c.name == n) return &c;
  return nullptr;
}

}  // namespace

std::vector<Configuration> read_extxyz(const std::string& path, const BispectrumSettings& b) {
  return parse_extxyz(read_data_file(path), path, b);
}

std::vector<Configuration> parse_extxyz(const std::string& text, const std::string& path,
                                        const BispectrumSettings& b) {
  std::istringstream in(text);
  std::vector<Configuration> out;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::string where = path + ": frame " + std::to_string(out.size()) + " (line " +
                        std::to_string(line_no) + ")";
    char* end = nullptr;
    errno = 0;
    long natoms = std::strtol(line.c_str(), &end, 10);
    if (natoms < 1 || errno == ERANGE || (end && *end && !std::isspace((unsigned char)*end)))
      throw DataError(where + ": expected the number of atoms, got '" + line + "'");
    // Every atom needs a line of its own (two bytes at least): a count the rest of the file
    // cannot hold is a damaged count line, refused before anything is allocated for it.
    const std::streamoff at = in.tellg();
    const int64_t left = at < 0 ? 0 : int64_t(text.size()) - int64_t(at);
    if (natoms > left / 2 + 1 || natoms > std::numeric_limits<int>::max())
      throw DataError(where + ": the frame declares " + std::to_string(natoms) +
                      " atoms but the file ends before them (" + std::to_string(left) +
                      " bytes left)");
    std::string comment;
    if (!std::getline(in, comment)) throw DataError(where + ": missing comment line");
    ++line_no;
    auto kv = parse_comment(comment, where);
    Configuration c;
    c.file = path;
    c.index_in_file = int(out.size());
    c.natoms = int(natoms);
    if (!kv.count("lattice"))
      throw DataError(where + ": no Lattice=\"...\" in the comment line (periodic cell needed)");
    auto lat = numbers(kv["lattice"], where, "Lattice");
    if (lat.size() != 9) throw DataError(where + ": Lattice needs 9 numbers");
    std::copy(lat.begin(), lat.end(), c.lattice.begin());
    const char* ekeys[] = {"energy", "free_energy", "total_energy"};
    bool have_e = false;
    for (auto* k : ekeys)
      if (!have_e && kv.count(k)) {
        auto e = numbers(kv[k], where, k);
        if (e.size() != 1) throw DataError(where + ": " + k + " needs one number");
        c.energy = e[0];
        have_e = true;
      }
    if (!have_e) throw DataError(where + ": no energy= in the comment line");
    if (kv.count("stress")) {
      auto s = numbers(kv["stress"], where, "stress");
      if (s.size() == 9) {
        std::copy(s.begin(), s.end(), c.stress.begin());
        c.has_stress = true;
      }
    }
    std::string props = kv.count("properties") ? kv["properties"]
                                               : "species:S:1:pos:R:3:forces:R:3";
    auto cols = parse_properties(props, where);
    const Column* sp = find_column(cols, {"species"});
    const Column* pos = find_column(cols, {"pos", "positions"});
    const Column* frc = find_column(cols, {"forces", "force", "dft_forces"});
    if (!sp || !pos || pos->count != 3)
      throw DataError(where + ": Properties must hold species:S:1 and pos:R:3");
    if (!frc || frc->count != 3)
      throw DataError(where + ": Properties has no forces:R:3 column");
    int ncols = cols.back().start + cols.back().count;
    c.types.resize(c.natoms);
    c.positions.resize(3 * size_t(c.natoms));
    c.forces.resize(3 * size_t(c.natoms));
    for (int i = 0; i < c.natoms; ++i) {
      if (!std::getline(in, line))
        throw DataError(where + ": file ends after " + std::to_string(i) + " of " +
                        std::to_string(natoms) + " atoms");
      ++line_no;
      std::istringstream ls(line);
      std::vector<std::string> w;
      for (std::string x; ls >> x;) w.push_back(x);
      if (int(w.size()) < ncols)
        throw DataError(where + ": atom line " + std::to_string(line_no) + " has " +
                        std::to_string(w.size()) + " columns, Properties needs " +
                        std::to_string(ncols));
      c.types[i] = element_index(b, w[sp->start], where);
      for (int a = 0; a < 3; ++a) {
        char* e1 = nullptr;
        char* e2 = nullptr;
        c.positions[3 * i + a] = std::strtod(w[pos->start + a].c_str(), &e1);
        c.forces[3 * i + a] = std::strtod(w[frc->start + a].c_str(), &e2);
        if (*e1 || *e2)
          throw DataError(where + ": atom line " + std::to_string(line_no) +
                          ": not a number");
      }
    }
    check_configuration(c, where);
    out.push_back(std::move(c));
  }
  if (out.empty()) throw DataError(path + ": holds no frame");
  return out;
}

}  // namespace fitnn
