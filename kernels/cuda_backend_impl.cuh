// CudaBackend<S>: the Backend (include/fitnn/backend.hpp) on one GPU, S = float (default on
// the GPU) or double. Definition shared by kernels/cuda_backend.cu (upload, model, optimizer
// state, factory) and kernels/cuda_step.cu (planning and running a batch, CUDA graphs).
//
// Life of a fit: upload() copies the dataset to the device ONCE (descriptors, targets, weights,
// offsets, derivative rows; float rows for float compute) and sizes every work array for the
// largest chunk; set_model()/set_adam() copy parameters and moments. A step then costs one
// host->device copy of the batch plan (configuration indices, atom offsets, per-element column
// starts, Adam's scalars), one graph launch (or the same kernels launched one by one), and one
// device->host copy of {loss, NaN flag}: the only synchronization of the step.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cuda_backend.hpp"
#include "cuda_check.hpp"
#include "cuda_context.cuh"
#include "cuda_ops.hpp"
#include "fitnn/backend.hpp"

namespace fitnn {
namespace cuda {

// ---- Batch plan kernels (cuda_step.cu) --------------------------------------------------
// For every batch atom a of the slice: its dataset atom A and its column (the identity, or for
// option 2 elem_start[m * nel + type(A)] + rank(A), rank = index among the same-element atoms of
// its configuration); atoms_of_col[col] = A, col_of[a] = col (when col_of is not null).
void build_columns_cuda(const CudaContext& ctx, int nconf, const int64_t* configs,
                        const int64_t* atom_base, const int64_t* atom_offset,
                        const int32_t* atom_type, const int32_t* rank,
                        const int32_t* elem_start, int nel, int64_t* atoms_of_col,
                        int32_t* col_of, int64_t natoms);
// dst (natoms, width) batch order = src column col_of[a] (identity when col_of is null).
template <class S>
void gather_columns_cuda(const CudaContext& ctx, int nconf, const int64_t* atom_base,
                         const int32_t* col_of, const S* src, int width, S* dst, int64_t natoms);

// Bytes at the start of the batch plan holding the step's AdamScalars.
constexpr size_t kPlanHeaderBytes = 64;

// Padded size of a block of n atoms: a few sizes per octave, so that CUDA graphs can be reused
// across batches whose atom counts differ a little (padding columns contribute exactly zero).
int64_t padded_columns(int64_t n);

template <class S>
class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(const CudaOptions& options);
  ~CudaBackend() override;

  std::string name() const override;
  void upload(const Dataset& data, const ModelLayout& layout) override;
  void set_model(const Model& model) override;
  void get_params(std::vector<double>& params) override;
  void set_adam(const AdamState& adam) override;
  void get_adam(AdamState& adam) override;
  BatchStats loss_gradient(const int64_t* configs, int n, std::vector<double>& grad) override;
  BatchStats train_step(const int64_t* configs, int n, double lr) override;
  BatchStats evaluate(const int64_t* configs, int n, Predictions* out) override;

  void atom_beta(const int64_t* configs, int n, std::vector<double>& beta);
  CudaBackendInfo info() const;
  const CudaContext& context() const { return m_ctx; }

 private:
  enum class Mode { beta = 0, evaluate = 1, gradient = 2, train = 3 };
  struct Chunk {
    int b = 0;                 // first batch configuration
    int nconf = 0;             // configurations [b, b + nconf)
    int64_t natoms = 0;        // real atoms
    int64_t ncols = 0;         // padded columns (sum of blk_n)
    size_t base_off = 0;       // byte offset of atom_base (nconf + 1 int64) in the plan
    size_t estart_off = 0;     // byte offset of elem_start (nconf * nel int32), option 2
    std::vector<int64_t> blk_n;  // (nnets) padded block sizes
    std::vector<int64_t> seg;    // (nnets) first column of each block
  };
  struct StepResult {
    double loss;
    int bad;
    int pad;
  };

  void check_ready(const char* what, bool need_model) const;
  void check_batch(const int64_t* configs, int n, const char* what) const;
  void validate_dataset(const Dataset& data, const ModelLayout& layout) const;
  void upload_dataset(const Dataset& data);
  void choose_capacity();
  void size_workspace(int64_t atoms);
  void size_plan(int64_t nconf);
  void release_graphs() noexcept;
  MlpNet<S> net_view(int net) const;
  MlpBlock<S> block_view(const Chunk& ch, int net) const;

  // cuda_step.cu
  BatchStats run(const int64_t* configs, int n, Mode mode, Predictions* pred,
                 std::vector<double>* beta);
  void plan_batch(const int64_t* configs, int n, Mode mode, double lr);
  void enqueue_step(Mode mode);
  template <class Dg>
  void enqueue_chunk(const Chunk& ch, Mode mode, const Dg* dgrad);
  void enqueue_chunk_rows(const Chunk& ch, Mode mode);
  void launch_step(Mode mode);
  cudaGraphExec_t capture_step(Mode mode);
  void collect_chunk(const Chunk& ch, Mode mode, Predictions* pred, std::vector<double>* beta,
                     int64_t atom0);
  template <class T>
  T* plan_ptr(size_t off) const {
    return reinterpret_cast<T*>(const_cast<unsigned char*>(m_plan.data()) + off);
  }

  CudaOptions m_opt;
  CudaContext m_ctx;
  bool m_fused = false;   // fused small-MLP kernels, else cuBLAS
  S m_scale = S(1);       // the model's output_scale: E_i = s z_L
  bool m_atomic = false;  // fused atomic row pass, else deterministic transpose

  const Dataset* m_data = nullptr;
  ModelLayout m_layout;
  std::vector<int> m_widths;
  bool m_have_model = false;
  int m_d = 0, m_nnets = 1, m_nel = 1, m_onehot = 0;
  int64_t m_np = 0, m_npn = 0;
  bool m_rows64 = false;  // derivative rows stored as double on the device

  // The dataset on the device (uploaded once per fit).
  DeviceArray<double> m_x, m_energy_t, m_forces_t, m_ew, m_fw;
  DeviceArray<int32_t> m_type, m_rank, m_row_i, m_row_k, m_perm, m_sorted_i;
  DeviceArray<int64_t> m_atom_offset, m_row_offset;
  DeviceArray<double> m_dgrad64;
  DeviceArray<float> m_dgrad32;
  std::vector<int32_t> m_type_count;  // host (nconfigs, nel): atoms per element (option 2)
  int64_t m_dataset_bytes = 0, m_derivative_bytes = 0;

  // Model and optimizer state.
  DeviceArray<S> m_params, m_grad, m_adam_m, m_adam_v, m_std_s;
  DeviceArray<double> m_mean, m_std;
  int64_t m_adam_step = 0;
  double m_beta1 = 0.9, m_beta2 = 0.999, m_eps = 1e-8;

  // Work arrays: sized for chunks of m_ws_atoms atoms (m_ws_cols padded columns), grown on
  // demand up to m_cap_atoms, the most the memory budget allows.
  int64_t m_cap_atoms = 0, m_ws_atoms = 0, m_ws_cols = 0;
  DeviceArray<S> m_mlp;
  std::vector<int64_t> m_hh_off, m_a_off, m_bar_off;  // layer offsets in m_mlp (per column)
  DeviceArray<int64_t> m_atoms_of_col;
  DeviceArray<int32_t> m_col_of;
  DeviceArray<S> m_atom_energy, m_beta, m_g, m_forces, m_phi, m_eps_col, m_gather;
  DeviceArray<double> m_energy, m_eps_conf;  // (configs) E_m and eps_m = dL/dE_m
  DeviceArray<StepResult> m_result;
  StepResult* m_result_host = nullptr;  // pinned
  int64_t m_workspace_bytes = 0;

  // The batch plan: [AdamScalars][configs (n int64)][per chunk: atom_base, elem_start].
  DeviceArray<unsigned char> m_plan;
  unsigned char* m_plan_host = nullptr;  // pinned, same size
  size_t m_plan_bytes = 0, m_plan_used = 0;
  size_t m_configs_off = 0;
  std::vector<Chunk> m_chunks;
  int m_batch_n = 0;
  double m_inv_m = 1.0;
  double m_pending_lr = 0.0;  // learning rate of the train_step being planned

  // CUDA graphs of single-chunk steps, by shape.
  std::map<std::vector<int64_t>, cudaGraphExec_t> m_graphs;
  std::map<std::vector<int64_t>, int> m_seen;
  int64_t m_graph_generation = -1;
  int64_t m_graph_launches = 0, m_eager_steps = 0;
};

extern template class CudaBackend<double>;
extern template class CudaBackend<float>;

}  // namespace cuda
}  // namespace fitnn
