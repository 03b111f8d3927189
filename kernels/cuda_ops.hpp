// The CUDA twins of the CPU reference ops (src/cpu/ops.hpp): the same names with a _cuda
// suffix and the same arguments, as DEVICE pointers, after a leading CudaContext (stream,
// cuBLAS handle, scratch). The row ops take one more trailing argument, `natoms`: the number
// of batch atoms of the slice (or an upper bound), which sizes their grids on the host without
// reading atom_base back from the device. Ops only enqueue work on the context's stream.
//
// Conventions are those of src/cpu/ops.hpp: per-atom vectors are COLUMN-major (width, n), atom
// c is the contiguous column c; W_l is (out, in) row-major inside the flat parameter vector; a
// block is the n atoms one net sees; col_of maps a batch atom to its column (nullptr: identity).
// One extension: standardize_cuda treats atoms[c] < 0 as a padding column (h0 column = 0);
// padding columns carry exactly zero adjoints (g = 0, eps = 0), so they add nothing to the
// gradient (see docs/CUDA.md, "Padding").
//
// No CUDA header is included here: tests and tools may include this file.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "device.hpp"
#include "fitnn/config.hpp"
#include "fitnn/dataset.hpp"

namespace fitnn {
namespace cuda {

constexpr int kMaxLayers = 66;  // as cpu::kMaxLayers

// One net's parameters on the device; widths stay on the host (they size the launches).
template <class S>
struct MlpNet {
  const S* params = nullptr;    // DEVICE: first parameter of this net in the flat vector
  const int* widths = nullptr;  // HOST: (nlayers + 1), widths[0] = input width, widths[L] = 1
  int nlayers = 0;              // L
  Activation act = Activation::softplus;
  bool linear_first = false;    // layer 1 is the linear input layer (ModelLayout::input_layer)
  Activation act_of(int l) const { return linear_first && l == 1 ? Activation::linear : act; }
  int64_t weight(int l) const {
    int64_t off = 0;
    for (int k = 1; k < l; ++k) off += int64_t(widths[k]) * widths[k - 1] + widths[k];
    return off;
  }
  int64_t bias(int l) const { return weight(l) + int64_t(widths[l]) * widths[l - 1]; }
  int64_t nparams() const { return weight(nlayers + 1); }
};

// The work arrays of one block of n atoms, DEVICE pointers, laid out as cpu::MlpBlock.
template <class S>
struct MlpBlock {
  int64_t n = 0;
  S* hh[kMaxLayers] = {};       // l = 0..L-1: (w_l, 2n) = [h_l | hd_l]
  S* a1[kMaxLayers] = {};       // l = 1..L-1: (w_l, n) act'(z_l)
  S* a2[kMaxLayers] = {};       // l = 1..L-1: (w_l, n) act''(z_l)
  S* tb[kMaxLayers] = {};       // l = 1..L-1: (w_l, n) tbar_l, then tbar_l act''(z_l) zd_l
  S* bar[kMaxLayers + 1] = {};  // l = 1..L: (w_l, 2n) = [zbar_l | delta_l]
  S* energy = nullptr;          // (n) E_i = z_L
};

// ---- Activations ----------------------------------------------------------------------------
template <class S>
void activation_cuda(const CudaContext& ctx, Activation act, S* z_to_h, S* a1, S* a2,
                     int64_t len);

// ---- MLP over a block of atoms (cuBLAS GEMMs + elementwise kernels) -------------------------
template <class S>
void standardize_cuda(const CudaContext& ctx, int64_t n, const int64_t* atoms, const double* x,
                      int d, const double* mean, const double* std, const int32_t* atom_type,
                      int onehot, S* h0);
template <class S>
void mlp_forward_cuda(const CudaContext& ctx, const MlpNet<S>& net, const MlpBlock<S>& blk);
template <class S>
void mlp_beta_cuda(const CudaContext& ctx, const MlpNet<S>& net, const MlpBlock<S>& blk, int d,
                   const S* std, S* beta);
template <class S>
void mlp_tangent_cuda(const CudaContext& ctx, const MlpNet<S>& net, const MlpBlock<S>& blk,
                      int d, const S* std, const S* g);
template <class S>
void mlp_reverse_cuda(const CudaContext& ctx, const MlpNet<S>& net, const MlpBlock<S>& blk,
                      const S* eps, S* grad);
// Scratch bytes mlp_reverse_cuda borrows from the context for a block of n atoms.
template <class S>
size_t mlp_reverse_scratch_bytes(const MlpNet<S>& net, int64_t n);

// ---- The fused small-MLP alternative (kernels/mlp_fused_cuda.cu) -----------------------------
// One thread block runs a tile of atoms through the whole net in shared memory.
// forward+beta = mlp_forward_cuda then mlp_beta_cuda, keeping only energy (n) and beta (d, n);
// tangent+reverse = mlp_tangent_cuda then mlp_reverse_cuda (the primal is recomputed from h0,
// nothing else is stored between the two). h0: (widths[0], n) with leading dimension widths[0].
// Used when mlp_fused_supported(); grad is accumulated into, deterministically.
template <class S>
bool mlp_fused_supported(const CudaContext& ctx, const MlpNet<S>& net);
template <class S>
void mlp_forward_beta_fused_cuda(const CudaContext& ctx, const MlpNet<S>& net, int64_t n,
                                 const S* h0, int d, const S* std, S* energy, S* beta);
template <class S>
void mlp_tangent_reverse_fused_cuda(const CudaContext& ctx, const MlpNet<S>& net, int64_t n,
                                    const S* h0, int d, const S* std, const S* g, const S* eps,
                                    S* grad);
template <class S>
size_t mlp_fused_scratch_bytes(const CudaContext& ctx, const MlpNet<S>& net, int64_t n);

// ---- Derivative rows (kernels/force_contract_cuda.cu) --------------------------------------
// Dg is the device storage of the rows: double, or float (derivative_bits 32, or float compute).
template <class S, class Dg>
void force_contract_cuda(const CudaContext& ctx, int nconf, const int64_t* configs,
                         const int64_t* row_offset, const int64_t* atom_base,
                         const int32_t* col_of, const int32_t* row_i, const int32_t* row_k,
                         const Dg* dgrad, int d, const S* beta, S* forces, int64_t natoms);

// The rows of every configuration re-sorted by atom i (then k): position p of configuration c
// (row_offset[c] <= p < row_offset[c+1]) holds row row_offset[c] + perm[p], whose atom is
// sorted_i[p]. Built once on the host (build_rows_by_atom) for the deterministic transpose.
struct RowsByAtom {
  const int32_t* perm = nullptr;      // DEVICE (nrows)
  const int32_t* sorted_i = nullptr;  // DEVICE (nrows)
};
void build_rows_by_atom(const Dataset& data, std::vector<int32_t>& perm,
                        std::vector<int32_t>& sorted_i);

// Deterministic (no atomics): one warp gathers the rows of one atom in a fixed order.
template <class S, class Dg>
void force_transpose_cuda(const CudaContext& ctx, int nconf, const int64_t* configs,
                          const int64_t* row_offset, const int64_t* atom_base,
                          const int32_t* col_of, const int32_t* row_i, const int32_t* row_k,
                          const Dg* dgrad, int d, const S* phi, S* g, int64_t natoms,
                          const RowsByAtom& by_atom);

// The fast, NOT bitwise reproducible alternative: one pass over the rows computes F_k, then
// phi_k exactly as loss_cuda does, then scatters phi_k D_r into g with atomicAdd while the rows
// are still in cache. g must be zero on entry (its columns of the slice). phi and forces are
// written; loss_cuda afterwards recomputes the same phi.
template <class S, class Dg>
void force_contract_transpose_atomic_cuda(
    const CudaContext& ctx, int nconf, const int64_t* configs, const int64_t* row_offset,
    const int64_t* atom_offset, const double* forces_target, const double* fweight,
    const int64_t* atom_base, const int32_t* col_of, const int32_t* row_i,
    const int32_t* row_k, const Dg* dgrad, int d, const S* beta, double inv_m, S* forces,
    S* phi, S* g, int64_t natoms);

// ---- Energies, loss and adjoints (kernels/loss_cuda.cu) -------------------------------------
template <class S>
void config_energy_cuda(const CudaContext& ctx, int nconf, const int64_t* atom_base,
                        const int32_t* col_of, const S* atom_energy, double* energy);
// As loss_cpu, but the slice's loss is ADDED to the device double *loss_acc (no host sync).
template <class S>
void loss_cuda(const CudaContext& ctx, int nconf, const int64_t* configs,
               const int64_t* atom_offset, const double* energy_target,
               const double* forces_target, const double* eweight, const double* fweight,
               const int64_t* atom_base, const int32_t* col_of, const double* energy,
               const S* forces, double inv_m, double* eps, S* phi, S* eps_col,
               double* loss_acc);
size_t loss_scratch_bytes();

// ---- Optimizer (kernels/adam_cuda.cu) ---------------------------------------------------------
// x <- s x for `n` values (twin of scale_cpu: the model's output scale).
template <class S>
void scale_cuda(const CudaContext& ctx, int64_t n, S s, S* x);

template <class S>
void adam_step_cuda(const CudaContext& ctx, S* params, const S* grad, S* m, S* v, int64_t n,
                    double lr, double beta1, double beta2, double eps, int64_t step);

// The scalars of one Adam step, formed on the host as adam_step_cpu forms them, read by the
// graph-friendly variant from device memory (so one captured graph serves every step).
struct AdamScalars {
  double step_size = 0.0;  // lr / (1 - beta1^t)
  double inv_c2_sqrt = 1.0;  // 1 / sqrt(1 - beta2^t)
  double w1 = 0.1, b2 = 0.999, w2 = 0.001, eps = 1e-8;
};
AdamScalars adam_scalars(double lr, double beta1, double beta2, double eps, int64_t step);
// Skips the update entirely when *bad != 0 or *loss is not finite (the NaN guard).
template <class S>
void adam_step_device_cuda(const CudaContext& ctx, S* params, const S* grad, S* m, S* v,
                           int64_t n, const AdamScalars* scalars, const int* bad,
                           const double* loss);
// *bad |= 1 when any of grad[0..n) or *loss is not finite (*bad must be zeroed by the caller).
template <class S>
void check_finite_cuda(const CudaContext& ctx, const S* grad, int64_t n, const double* loss,
                       int* bad);

}  // namespace cuda
}  // namespace fitnn
