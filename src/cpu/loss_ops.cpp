// Configuration energies, the batch loss (FitSNAP's documented formula, per-atom energies)
// and the adjoints of the predicted energies and forces that start the reverse pass.
// Sums and residuals are taken in double whatever the compute precision.
#include "cpu/ops.hpp"

namespace fitnn {
namespace cpu {

template <class S>
void config_energy_cpu(int nconf, const int64_t* atom_base, const int32_t* col_of,
                       const S* atom_energy, double* energy) {
  for (int m = 0; m < nconf; ++m) {
    double e = 0.0;
    for (int64_t a = atom_base[m]; a < atom_base[m + 1]; ++a)
      e += double(atom_energy[col_of ? col_of[a] : a]);
    energy[m] = e;
  }
}

template <class S>
double loss_part_cpu(int m, const int64_t* configs, int k0, int k1, bool energy_term,
                     const int64_t* atom_offset, const double* energy_target,
                     const double* forces_target, const double* eweight, const double* fweight,
                     const int64_t* atom_base, const int32_t* col_of, const double* energy,
                     const S* forces, double inv_m, double* eps, S* eps_col) {
  const int64_t c = configs[m], base = atom_base[m];
  const int64_t natoms = atom_base[m + 1] - base;
  const double nat = double(natoms);
  double term = 0.0;
  if (energy_term) {
    const double de = (energy[m] - energy_target[c]) / nat;
    term = eweight[c] * de * de;
    eps[m] = 2.0 * eweight[c] * de / nat * inv_m;
    if (eps_col) {
      const S e = S(eps[m]);
      for (int64_t a = base; a < base + natoms; ++a) eps_col[col_of ? col_of[a] : a] = e;
    }
  }
  const double* ft = forces_target + 3 * atom_offset[c];
  const S* fp = forces + 3 * base;
  double fsum = 0.0;
  for (int k = k0; k < k1; ++k) {
    const double df = double(fp[k]) - ft[k];
    fsum += df * df;
  }
  term += fweight[c] / (3.0 * nat) * fsum;
  return term * inv_m;
}

template <class S>
double loss_cpu(int nconf, const int64_t* configs, const int64_t* atom_offset,
                const double* energy_target, const double* forces_target,
                const double* eweight, const double* fweight, const int64_t* atom_base,
                const int32_t* col_of, const double* energy, const S* forces, double inv_m,
                double* eps, S* phi, S* eps_col) {
  double loss = 0.0;
  for (int m = 0; m < nconf; ++m) {
    const int64_t c = configs[m], base = atom_base[m];
    const int64_t natoms = atom_base[m + 1] - base;
    // The whole configuration is one part: every component and the energy term.
    loss += loss_part_cpu(m, configs, 0, int(3 * natoms), true, atom_offset, energy_target,
                          forces_target, eweight, fweight, atom_base, col_of, energy, forces,
                          inv_m, eps, eps_col);
    // phi_k = 2 wF / (3N) (F_k - f_k) / M.
    const double* ft = forces_target + 3 * atom_offset[c];
    const S* fp = forces + 3 * base;
    S* ph = phi + 3 * base;
    const double pscale = force_adjoint_scale(fweight[c], natoms, inv_m);
    for (int64_t k = 0; k < 3 * natoms; ++k) ph[k] = S(pscale * (double(fp[k]) - ft[k]));
  }
  return loss;
}

#define FITNN_INSTANTIATE_LOSS(S)                                                            \
  template void config_energy_cpu<S>(int, const int64_t*, const int32_t*, const S*,          \
                                     double*);                                               \
  template double loss_cpu<S>(int, const int64_t*, const int64_t*, const double*,            \
                              const double*, const double*, const double*, const int64_t*,   \
                              const int32_t*, const double*, const S*, double, double*, S*,  \
                              S*);                                                           \
  template double loss_part_cpu<S>(int, const int64_t*, int, int, bool, const int64_t*,      \
                                   const double*, const double*, const double*,              \
                                   const double*, const int64_t*, const int32_t*,            \
                                   const double*, const S*, double, double*, S*);

FITNN_INSTANTIATE_LOSS(double)
FITNN_INSTANTIATE_LOSS(float)

}  // namespace cpu
}  // namespace fitnn
