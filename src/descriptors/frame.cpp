// The LAMMPS frame of a configuration (shared/docs/lammps-descriptors.md, "Frame"): with C the
// matrix whose columns are the cell vectors, C = QR, rot = diag(sign(diag R)) Q^T and
// C' = rot C is upper triangular with a positive diagonal. Positions and forces are rotated
// (x' = rot x), positions are wrapped into the cell. Forces stay in this rotated frame for the
// rest of FitNN (targets, peratom.dat), as in FitSNAP.
#include <array>
#include <cmath>
#include <cstdio>
#include <string>

#include "fitnn/descriptors.hpp"
#include "fitnn/errors.hpp"

namespace fitnn {
namespace {

using Vec3 = std::array<double, 3>;

// Farthest an atom may lie outside the cell, in cell lengths (see lammps_frame).
constexpr double kMaxCellsAway = 1e6;

double dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

std::string where(const Configuration& cfg) {
  return "configuration " + std::to_string(cfg.index_in_file) + " of '" + cfg.file + "'";
}

// Q of the QR decomposition with a positive diagonal of R, by modified Gram-Schmidt applied
// twice (orthogonal to round-off for any reasonably conditioned 3x3 cell). q[k] = column k.
std::array<Vec3, 3> orthonormal_columns(const std::array<Vec3, 3>& col) {
  std::array<Vec3, 3> q{};
  for (int k = 0; k < 3; ++k) {
    Vec3 v = col[k];
    for (int pass = 0; pass < 2; ++pass)
      for (int m = 0; m < k; ++m) {
        double p = dot(q[m], v);
        for (int d = 0; d < 3; ++d) v[d] -= p * q[m][d];
      }
    double n = std::sqrt(dot(v, v));
    for (int d = 0; d < 3; ++d) q[k][d] = v[d] / n;
  }
  return q;
}

}  // namespace

LammpsFrame lammps_frame(const Configuration& cfg) {
  // Cell vectors (JSON rows) are the columns of C.
  std::array<Vec3, 3> col{};
  for (int k = 0; k < 3; ++k)
    for (int d = 0; d < 3; ++d) col[k][d] = cfg.lattice[3 * k + d];
  for (int k = 0; k < 3; ++k)
    for (int d = 0; d < 3; ++d)
      if (!std::isfinite(col[k][d]))
        throw DataError(where(cfg) + ": the Lattice holds a non-finite number");
  const Vec3& a = col[0];
  const Vec3& b = col[1];
  const Vec3& c = col[2];
  double det = a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0]) +
               a[2] * (b[0] * c[1] - b[1] * c[0]);
  double scale = std::sqrt(dot(a, a) * dot(b, b) * dot(c, c));
  if (!(det > 1e-10 * scale)) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "%.6g", det);
    throw DataError(where(cfg) + ": the cell (Lattice rows a, b, c) has determinant " + buf +
                    (det < 0 ? ", a left-handed cell: swap two lattice vectors (and nothing "
                               "else) to make it right-handed"
                             : ": the lattice vectors are (nearly) coplanar or zero") +
                    ". LAMMPS needs a right-handed cell with positive volume.");
  }

  // rot = Q^T with R's diagonal made positive; Gram-Schmidt already gives R_kk = |v_k| > 0.
  std::array<Vec3, 3> q = orthonormal_columns(col);
  LammpsFrame f;
  for (int r = 0; r < 3; ++r)
    for (int d = 0; d < 3; ++d) f.rotation[3 * r + d] = q[r][d];
  // C' = rot C: entry (r, k) = q_r . col_k; exactly zero below the diagonal.
  for (int r = 0; r < 3; ++r)
    for (int k = 0; k < 3; ++k) f.cell[3 * r + k] = r > k ? 0.0 : dot(q[r], col[k]);

  const int n = cfg.natoms;
  if (int64_t(cfg.positions.size()) != 3 * int64_t(n) ||
      int64_t(cfg.forces.size()) != 3 * int64_t(n))
    throw DataError(where(cfg) + ": NumAtoms is " + std::to_string(n) + " but Positions has " +
                    std::to_string(cfg.positions.size() / 3) + " rows and Forces " +
                    std::to_string(cfg.forces.size() / 3));
  f.positions.resize(size_t(3) * n);
  f.forces.resize(size_t(3) * n);
  const double* C = f.cell.data();
  for (int i = 0; i < n; ++i) {
    const double* x = &cfg.positions[size_t(3) * i];
    const double* F = &cfg.forces[size_t(3) * i];
    Vec3 xr{}, fr{};
    for (int r = 0; r < 3; ++r) {
      xr[r] = dot(q[r], Vec3{x[0], x[1], x[2]});
      fr[r] = dot(q[r], Vec3{F[0], F[1], F[2]});
    }
    if (!std::isfinite(xr[0] + xr[1] + xr[2]) || !std::isfinite(fr[0] + fr[1] + fr[2]))
      throw DataError(where(cfg) + ": atom " + std::to_string(i) +
                      " has a non-finite position or force");
    // Fractional coordinates by back substitution in C' s = x', wrapped into [0, 1).
    Vec3 s{};
    s[2] = xr[2] / C[8];
    s[1] = (xr[1] - C[5] * s[2]) / C[4];
    s[0] = (xr[0] - C[1] * s[1] - C[2] * s[2]) / C[0];
    // An atom a million cells away (or so far that s overflows) is a damaged position, not
    // an unwrapped trajectory: wrapping it would lose its digits, or give LAMMPS a NaN.
    for (int d = 0; d < 3; ++d)
      if (!(std::abs(s[d]) < kMaxCellsAway)) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "(%.6g, %.6g, %.6g)", x[0], x[1], x[2]);
        throw DataError(where(cfg) + ": atom " + std::to_string(i) + " at " + buf +
                        " lies more than a million cells outside the cell: a damaged "
                        "position? (Positions and Lattice must be in the same units)");
      }
    bool moved = false;
    for (int d = 0; d < 3; ++d) {
      double w = s[d] - std::floor(s[d]);
      if (w >= 1.0) w = 0.0;  // -1e-17 - floor(-1e-17) rounds to 1.0
      if (w != s[d]) moved = true;
      s[d] = w;
    }
    if (moved) {
      xr[0] = C[0] * s[0] + C[1] * s[1] + C[2] * s[2];
      xr[1] = C[4] * s[1] + C[5] * s[2];
      xr[2] = C[8] * s[2];
    }
    for (int d = 0; d < 3; ++d) {
      f.positions[size_t(3) * i + d] = xr[d];
      f.forces[size_t(3) * i + d] = fr[d];
    }
  }
  return f;
}

}  // namespace fitnn
