// The reference arithmetic of FitNN as named operations (loss-and-gradients.md, literally).
// Every op here has a CUDA twin in kernels/ with the same name and a _cuda suffix and the same
// arguments (device pointers instead of host pointers), so that the two paths can be read
// side by side and tested against each other.
//
// Conventions
//   S   the compute scalar (double or float); Dg the derivative-row storage (double or float).
//   Matrices of per-atom vectors are COLUMN-major (width, n): atom c is the contiguous column
//   c (equivalently: (n, width) row-major, one row per atom, like Dataset::descriptors).
//   Weights W_l are (out, in) ROW-major inside the flat parameter vector (model.hpp).
//   A "block" is a set of n atoms run through one net; with multi_element_option 2 the atoms
//   of a batch are reordered so that each element's atoms are contiguous (one block, one set
//   of GEMMs per element). col_of maps a batch atom (configuration order) to its column;
//   nullptr means the identity.
//   A batch slice is `nconf` configurations `configs` (dataset indices) whose atoms occupy
//   batch atoms [atom_base[m], atom_base[m+1]) and whose forces occupy 3 * that range.
#pragma once
#include <cstdint>

#include "fitnn/config.hpp"

namespace fitnn {
namespace cpu {

constexpr int kMaxLayers = 66;  // L: up to 64 hidden layers (model_layout.cpp) + output

// ---- Activations ----------------------------------------------------------------------
// In place over `len` values: z -> h = act(z); a1 = act'(z), a2 = act''(z).
template <class S>
void activation_cpu(Activation act, S* z_to_h, S* a1, S* a2, int64_t len);

// ---- MLP over a block of atoms ----------------------------------------------------------
// One net's parameters: W_l at weight(l) (out_l, in_l) row-major, b_l right after it.
template <class S>
struct MlpNet {
  const S* params = nullptr;  // first parameter of this net in the flat vector
  const S* params_t = nullptr;  // the same with every W_l transposed (transpose_weights_cpu)
  const int* widths = nullptr;  // (nlayers + 1): widths[0] = input width, widths[L] = 1
  int nlayers = 0;            // L
  Activation act = Activation::softplus;
  bool linear_first = false;  // layer 1 is the linear input layer (ModelLayout::input_layer)
  Activation act_of(int l) const { return linear_first && l == 1 ? Activation::linear : act; }
  int64_t weight(int l) const;  // offset of W_l from params (l in 1..L)
  int64_t bias(int l) const { return weight(l) + int64_t(widths[l]) * widths[l - 1]; }
};

// dst (cols, rows) row-major = src (rows, cols) row-major, transposed.
template <class S>
void transpose_cpu(int rows, int cols, const S* src, S* dst);

// params_t from a flat vector of `nnets` nets, for the layers that start in [p0, p1): W_l^T
// (in, out) row-major at W_l's offset and b_l copied, so that W_l h reads contiguous columns of
// W_l^T (MlpNet::params_t). Disjoint ranges write disjoint layers (threads share the work).
template <class S>
void transpose_weights_cpu(const int* widths, int nlayers, int nnets, int64_t p0, int64_t p1,
                           const S* params, S* params_t);

// ---- The input layer folded (fold_ops.cpp) -------------------------------------------------
// For nets whose layer 1 is the linear input layer (widths {w0, w1, w2, ...}, L >= 2): the
// folded net of L - 1 layers, widths {w0, w2, ...}, W_f = W_2 W_1, b_f = W_2 b_1 + b_2, the
// later layers as they are. The same function of h_0, so the backend can train on it.

// The folded nets (`nnets` nets, flat like params) from the full `params`: fparams and its
// transposed copy fparams_t (MlpNet::params_t's layout), for the layers of params that start
// in [p0, p1): layers 1 and 2 of a net give folded layer 1, layer l >= 3 folded layer l - 1.
// Disjoint ranges write disjoint parts, so threads may share the work.
template <class S>
void fold_input_layer_cpu(const int* widths, int nlayers, int nnets, int64_t p0, int64_t p1,
                          const S* params, S* fparams, S* fparams_t);

// The gradient of the full nets from the folded nets' gradient `fgrad`, for the layers of the
// full vector that start in [p0, p1), by the chain rule of the fold: dW_1 = W_2^T dW_f,
// db_1 = W_2^T db_f, dW_2 = dW_f W_1^T + db_f b_1^T, db_2 = db_f, later layers copied.
// params_t: the transposed copy (transpose_weights_cpu) of at least every W_1. Overwrites grad.
template <class S>
void unfold_input_layer_grad_cpu(const int* widths, int nlayers, int nnets, int64_t p0,
                                 int64_t p1, const S* params, const S* params_t,
                                 const S* fgrad, S* grad);

// Work arrays of one block of n atoms (owned by Workspace, workspace.hpp).
template <class S>
struct MlpBlock {
  int64_t n = 0;
  S* hh[kMaxLayers] = {};   // l = 0..L-1: (w_l, 2n) = [h_l | hd_l]; hh[0] = [h_0 | g/s]
  S* a1[kMaxLayers] = {};   // l = 1..L-1: (w_l, n) act'(z_l)
  S* a2[kMaxLayers] = {};   // l = 1..L-1: (w_l, n) act''(z_l)
  S* tb[kMaxLayers] = {};   // l = 1..L-1: (w_l, n) tbar_l = W_{l+1}^T delta_{l+1}, then the
                            //   curvature term tbar_l * act''(z_l) * zd_l (tangent pass)
  S* bar[kMaxLayers + 1] = {};  // l = 1..L: (w_l, 2n) = [zbar_l | delta_l], delta_l = dE/dz_l
  S* energy = nullptr;      // (n) E_i = z_L
};

// h_0 for `n` atoms: column c = (x[atoms[c]] - mean) / std, then (option 3) a one-hot vector
// of atom_type[atoms[c]] with `onehot` entries (0: none). x: dataset descriptors (natoms, d).
// h0: the block's hh[0] (ld = d + onehot).
template <class S>
void standardize_cpu(int64_t n, const int64_t* atoms, const double* x, int d,
                     const double* mean, const double* std, const int32_t* atom_type,
                     int onehot, S* h0);

// Primal pass: z_l = W_l h_{l-1} + b_l, h_l = act(z_l) with act', act'' kept; E = z_L.
template <class S>
void mlp_forward_cpu(const MlpNet<S>& net, const MlpBlock<S>& blk);

// beta = dE/dx (d, n) column-major with leading dimension d: delta_L = 1,
// tbar_l = W_{l+1}^T delta_{l+1}, delta_l = act'(z_l) tbar_l, beta = (W_1^T delta_1)[0:d] / std.
// Keeps tbar_l and delta_l in the block for the reverse pass.
template <class S>
void mlp_beta_cpu(const MlpNet<S>& net, const MlpBlock<S>& blk, int d, const S* std,
                  S* beta);

// Tangent pass along g (d, n): hd_0 = g / std (one-hot rows 0), zd_l = W_l hd_{l-1},
// hd_l = act'(z_l) zd_l; tb[l] becomes tbar_l act''(z_l) zd_l. Needs forward and beta first.
template <class S>
void mlp_tangent_cpu(const MlpNet<S>& net, const MlpBlock<S>& blk, int d, const S* std,
                     const S* g);

// Reverse pass over primal and tangent together, with eps (n) = dL/dE_i:
//   zbar_L = eps; zbar_l = (W_{l+1}^T zbar_{l+1}) act'(z_l) + tb_l;
//   dW_l += [zbar_l | delta_l] [h_{l-1} | hd_{l-1}]^T  (one stacked GEMM);  db_l += sum zbar_l.
// (The tangent adjoint zdbar_l of the spec equals delta_l of the beta pass, so it is reused.)
// grad: this net's slice of the gradient (same layout as params), accumulated into.
template <class S>
void mlp_reverse_cpu(const MlpNet<S>& net, const MlpBlock<S>& blk, const S* eps, S* grad);

// ---- Derivative rows ----------------------------------------------------------------------
// F_k = sum over rows r with row_k = k of beta_{i_r} . D_r, per configuration of the slice.
// Rows of configs[m] are dataset rows [row_offset[c], row_offset[c+1]); row_i/row_k are local
// to the configuration. beta: (d, *) columns col_of[atom_base[m] + i]. forces: (3 n) in
// batch-atom order, every entry written.
template <class S, class Dg>
void force_contract_cpu(int nconf, const int64_t* configs, const int64_t* row_offset,
                        const int64_t* atom_base, const int32_t* col_of, const int32_t* row_i,
                        const int32_t* row_k, const Dg* dgrad, int d, const S* beta,
                        S* forces);

// g_i = sum over rows r with row_i = i of phi_{k_r} D_r: the transpose of force_contract.
// g: (d, *) columns col_of[...]; every column of the slice's atoms is written.
template <class S, class Dg>
void force_transpose_cpu(int nconf, const int64_t* configs, const int64_t* row_offset,
                         const int64_t* atom_base, const int32_t* col_of, const int32_t* row_i,
                         const int32_t* row_k, const Dg* dgrad, int d, const S* phi, S* g);

// Both in one pass over the rows (each row read once): per run of rows of component k, F_k,
// then phi_k = 2 wF (F_k - f_k) / (3 N M) exactly as loss_cpu forms it, then phi_k D_r into g.
// Writes forces and phi (3 n) and every g column of the slice. Needs the rows of each k
// contiguous (the Dataset's sort order); forces_target/fweight/atom_offset: dataset arrays.
template <class S, class Dg>
void force_contract_transpose_cpu(int nconf, const int64_t* configs, const int64_t* row_offset,
                                  const int64_t* atom_offset, const double* forces_target,
                                  const double* fweight, const int64_t* atom_base,
                                  const int32_t* col_of, const int32_t* row_i,
                                  const int32_t* row_k, const Dg* dgrad, int d, const S* beta,
                                  double inv_m, S* forces, S* phi, S* g);

// A part of force_contract_transpose_cpu, for splitting one batch's rows between threads (CPU
// only; the row parts of row_parts.cpp): slice configuration m's dataset rows
// [r0, r1), each the start of a run of one component, and its force components [k0, k1), which
// hold every component of those rows (the parts of m partition [0, 3 N_m)). Writes forces and
// phi of [k0, k1) and ADDS phi_k D_r into g's columns (g null: forces and phi only).
template <class S, class Dg>
void force_rows_part_cpu(int m, const int64_t* configs, int64_t r0, int64_t r1, int k0, int k1,
                         const int64_t* atom_offset, const double* forces_target,
                         const double* fweight, const int64_t* atom_base, const int32_t* col_of,
                         const int32_t* row_i, const int32_t* row_k, const Dg* dgrad, int d,
                         const S* beta, double inv_m, S* forces, S* phi, S* g);

// phi_k = force_adjoint_scale(wF, N, 1/M) (F_k - f_k): 2 wF / (3 N) / M, formed in this one
// place so that loss_cpu and the rows passes give the same bits.
inline double force_adjoint_scale(double fweight, int64_t natoms, double inv_m) {
  return 2.0 * (fweight / (3.0 * double(natoms))) * inv_m;
}

// ---- Energies, loss and adjoints -----------------------------------------------------------
// E_m = sum of the atom energies of configuration m (atom_energy in column order), in double.
template <class S>
void config_energy_cpu(int nconf, const int64_t* atom_base, const int32_t* col_of,
                       const S* atom_energy, double* energy);

// The loss terms of the slice, already divided by M = batch_size (inv_m = 1/M):
//   sum_m [ wE (E_m - e_m)^2 / N_m^2 + wF / (3 N_m) sum_k (F_mk - f_mk)^2 ] / M,
// and the adjoints eps_m = 2 wE (E_m - e_m) / (N_m^2 M) (nconf) and
// phi_mk = 2 wF (F_mk - f_mk) / (3 N_m M) (3 n). Targets e (energy), f (forces (natoms, 3)),
// eweight, fweight and atom_offset are the dataset's arrays. eps_col: when non-null, eps_m is
// also written to the column of every atom of m (the reverse pass's per-atom eps).
template <class S>
double loss_cpu(int nconf, const int64_t* configs, const int64_t* atom_offset,
                const double* energy_target, const double* forces_target,
                const double* eweight, const double* fweight, const int64_t* atom_base,
                const int32_t* col_of, const double* energy, const S* forces, double inv_m,
                double* eps, S* phi, S* eps_col);

// The loss terms of a part of slice configuration m (force_rows_part_cpu), already divided by
// M: wF / (3 N_m) sum over k in [k0, k1) of (F_mk - f_mk)^2, and with `energy_term` also
// wE (E_m - e_m)^2 / N_m^2 with eps_m into eps[m] (and into eps_col's columns of m's atoms when
// eps_col is non-null). The same formulas as loss_cpu; phi is force_rows_part_cpu's.
template <class S>
double loss_part_cpu(int m, const int64_t* configs, int k0, int k1, bool energy_term,
                     const int64_t* atom_offset, const double* energy_target,
                     const double* forces_target, const double* eweight, const double* fweight,
                     const int64_t* atom_base, const int32_t* col_of, const double* energy,
                     const S* forces, double inv_m, double* eps, S* eps_col);

// x <- s x for `n` values (the model's output scale applied to energies, beta and adjoints).
template <class S>
void scale_cpu(int64_t n, S s, S* x);

// ---- Optimizer ------------------------------------------------------------------------------
// PyTorch's Adam (no weight decay, no amsgrad) for `n` parameters; `step` is the step number
// after this update (1 for the first). m, v are the moments; updated in place.
template <class S>
void adam_step_cpu(S* params, const S* grad, S* m, S* v, int64_t n, double lr, double beta1,
                   double beta2, double eps, int64_t step);
// The same step (the same bits) from (params, m, v) into (params_out, m_out, v_out), which may
// be the inputs: the CPU backend steps from one copy of its state into the other.
template <class S>
void adam_step_cpu(const S* params, const S* grad, const S* m, const S* v, S* params_out,
                   S* m_out, S* v_out, int64_t n, double lr, double beta1, double beta2,
                   double eps, int64_t step);

}  // namespace cpu
}  // namespace fitnn
