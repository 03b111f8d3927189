// Shared scraper checks (scrape_checks.hpp).
#include "scrape/scrape_checks.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "fitnn/errors.hpp"

namespace fitnn {

std::string read_data_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto st = fs::symlink_status(path, ec);
  if (ec || !fs::exists(st)) throw DataError(path + ": file not found");
  if (fs::is_symlink(st) && !fs::exists(path, ec))
    throw DataError(path + ": dangling symbolic link (its target does not exist)");
  if (fs::is_directory(path, ec))
    throw DataError(path + ": is a directory, expected a training data file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(path + ": cannot be read");
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw DataError(path + ": read error");
  return ss.str();
}

int element_index(const BispectrumSettings& b, const std::string& name,
                  const std::string& where) {
  int t = b.type_index(name);
  if (t < 0) {
    std::string known;
    for (auto& x : b.types) known += (known.empty() ? "" : " ") + x;
    throw DataError(where + ": element '" + name + "' is not in [BISPECTRUM] type (" + known +
                    "); add it there or remove the configuration");
  }
  return t;
}

static double det3(const std::array<double, 9>& m) {
  return m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) +
         m[2] * (m[3] * m[7] - m[4] * m[6]);
}

void check_configuration(const Configuration& c, const std::string& where) {
  auto finite_all = [&](const std::vector<double>& v, const char* key) {
    for (size_t k = 0; k < v.size(); ++k)
      if (!std::isfinite(v[k]))
        throw DataError(where + ": \"" + key + "\" atom " + std::to_string(k / 3) +
                        " holds a NaN or Inf");
  };
  finite_all(c.positions, "Positions");
  finite_all(c.forces, "Forces");
  for (double x : c.lattice)
    if (!std::isfinite(x)) throw DataError(where + ": \"Lattice\" holds a NaN or Inf");
  if (!std::isfinite(c.energy)) throw DataError(where + ": \"Energy\" is NaN or Inf");
  double det = det3(c.lattice);
  if (!(det > 1e-12))
    throw DataError(where + ": \"Lattice\" has determinant " + std::to_string(det) +
                    " <= 0 (cell vectors must be rows of a right-handed cell)");
  // Coincident atoms (periodic images included) make the descriptors singular.
  // Fractional coordinates: f = x L^{-1} with L rows the cell vectors.
  const auto& L = c.lattice;
  double inv[9] = {(L[4] * L[8] - L[5] * L[7]) / det, (L[2] * L[7] - L[1] * L[8]) / det,
                   (L[1] * L[5] - L[2] * L[4]) / det, (L[5] * L[6] - L[3] * L[8]) / det,
                   (L[0] * L[8] - L[2] * L[6]) / det, (L[2] * L[3] - L[0] * L[5]) / det,
                   (L[3] * L[7] - L[4] * L[6]) / det, (L[1] * L[6] - L[0] * L[7]) / det,
                   (L[0] * L[4] - L[1] * L[3]) / det};
  if (c.natoms > 5000) return;  // O(N^2): skip for huge cells
  std::vector<double> frac(3 * size_t(c.natoms));
  for (int i = 0; i < c.natoms; ++i)
    for (int a = 0; a < 3; ++a) {
      double f = 0;
      for (int b = 0; b < 3; ++b) f += c.positions[3 * i + b] * inv[3 * b + a];
      frac[3 * i + a] = f - std::floor(f);
    }
  for (int i = 0; i < c.natoms; ++i)
    for (int j = i + 1; j < c.natoms; ++j) {
      // Cartesian separation of the nearest image (exact enough to detect coincidence).
      double dv[3] = {0, 0, 0};
      for (int a = 0; a < 3; ++a) {
        double df = frac[3 * i + a] - frac[3 * j + a];
        df -= std::nearbyint(df);
        for (int b = 0; b < 3; ++b) dv[b] += df * L[3 * a + b];
      }
      double d2 = dv[0] * dv[0] + dv[1] * dv[1] + dv[2] * dv[2];
      if (d2 < 1e-8)
        throw DataError(where + ": atoms " + std::to_string(i) + " and " + std::to_string(j) +
                        " sit at the same position");
    }
}

}  // namespace fitnn
