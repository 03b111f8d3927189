// CudaBackend<S>, part 1: construction, the one-time upload of the dataset (with the same
// checks as the CPU backend, plus the row order the GPU kernels rely on), the sizing of every
// work array for the largest chunk, parameters/standardization/Adam state at the host boundary
// (doubles), introspection, and the factories. No kernels run here except cuBLAS/CUDA setup;
// everything of a step is in cuda_step.cu.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "cpu/upload_checks.hpp"
#include "cuda_backend_impl.cuh"
#include "fitnn/cuda_backend.hpp"
#include "fitnn/errors.hpp"
#include "fitnn/log.hpp"

namespace fitnn {
namespace cuda {

namespace {

constexpr double kBudgetFraction = 0.4;  // of the free memory after the dataset, for work arrays
constexpr int64_t kMinBudget = int64_t(64) << 20, kMaxBudget = int64_t(8) << 30;
constexpr size_t kConvertChunk = size_t(1) << 24;  // values per float conversion pass

std::string gib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / double(1 << 30));
  return buf;
}

void free_pinned(void* p) noexcept {
  if (p) FITNN_CUDA_WARN(cudaFreeHost(p));
}

}  // namespace

template <class S>
CudaBackend<S>::CudaBackend(const CudaOptions& options) : m_opt(options) {
  static_assert(sizeof(AdamScalars) <= kPlanHeaderBytes, "plan header too small");
  FITNN_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&m_result_host), sizeof(StepResult)));
  m_result_host->loss = 0.0;
  m_result_host->bad = 0;
  m_result.resize(1);
}

template <class S>
CudaBackend<S>::~CudaBackend() {
  FITNN_CUDA_WARN(cudaStreamSynchronize(stream_of(m_ctx)));
  release_graphs();
  free_pinned(m_result_host);
  free_pinned(m_plan_host);
}

template <class S>
void CudaBackend<S>::release_graphs() noexcept {
  for (auto& kv : m_graphs) FITNN_CUDA_WARN(cudaGraphExecDestroy(kv.second));
  m_graphs.clear();
  m_seen.clear();
}

template <class S>
std::string CudaBackend<S>::name() const {
  return sizeof(S) == 8 ? "cuda-float64" : "cuda-float32";
}

template <class S>
void CudaBackend<S>::validate_dataset(const Dataset& data, const ModelLayout& layout) const {
  cpu::check_upload(data, layout, "cuda backend", kMaxLayers);
}

template <class S>
void CudaBackend<S>::upload(const Dataset& data, const ModelLayout& layout) {
  validate_dataset(data, layout);
  FITNN_CUDA_CHECK(cudaStreamSynchronize(stream_of(m_ctx)));
  release_graphs();
  m_data = &data;
  m_layout = layout;
  m_widths = layout.widths;
  m_have_model = false;
  m_d = data.ndesc;
  m_nnets = layout.nnets();
  m_nel = std::max(1, layout.nelements);
  m_onehot = layout.option == 3 ? layout.nelements : 0;
  m_npn = layout.nparams_per_net();
  m_np = layout.nparams();

  // Paths: fused small-MLP kernels when the net fits them, atomic rows for float32.
  m_fused = false;
  if (m_opt.mlp != MlpPath::cublas) {
    // The fused kernels run one activation in every hidden layer: the input layer's network
    // goes through cuBLAS.
    m_fused = !layout.input_layer && mlp_fused_supported(m_ctx, net_view(0));
    if (!m_fused && m_opt.mlp == MlpPath::fused)
      log_warn("cuda backend: FITNN_CUDA_MLP=fused asked for, but the net (more than 8 layers "
               "or a width above 128) does not fit the fused kernels; using cuBLAS");
  }
  m_atomic = m_opt.rows == RowMode::atomic ||
             (m_opt.rows == RowMode::automatic && sizeof(S) == sizeof(float));
  m_rows64 = sizeof(S) == sizeof(double) && data.derivative_bits == 64;

  // Will it fit? Estimate before allocating anything large.
  const int64_t nrows = data.nrows(), natoms = data.natoms(), nconf = data.nconfigs();
  const int64_t row_value = m_rows64 ? 8 : 4;
  const int64_t need = nrows * (int64_t(m_d) * row_value + 8 + (m_atomic ? 0 : 8)) +
                       natoms * (int64_t(m_d) * 8 + 24 + 4 + 4) + nconf * 48;
  const MemoryInfo mem = device_memory();
  if (need > mem.free_bytes - (int64_t(256) << 20))
    throw DeviceError("cuda backend: the dataset needs about " + gib(double(need)) +
                      " of GPU memory (derivative rows " +
                      gib(double(nrows * m_d * row_value)) + ") but only " +
                      gib(double(mem.free_bytes)) + " of " + gib(double(mem.total_bytes)) +
                      " are free; use derivative_precision = 32, dtype_setting = 1 (float32), fewer "
                      "configurations, or --device cpu");
  upload_dataset(data);

  // Model and optimizer arrays.
  m_params.resize(size_t(m_np));
  m_params.zero();
  m_grad.resize(size_t(m_np));
  m_grad.zero();
  m_adam_m.resize(size_t(m_np));
  m_adam_m.zero();
  m_adam_v.resize(size_t(m_np));
  m_adam_v.zero();
  m_adam_step = 0;
  m_mean.upload(std::vector<double>(size_t(m_d), 0.0));
  m_std.upload(std::vector<double>(size_t(m_d), 1.0));
  m_std_s.upload(std::vector<S>(size_t(m_d), S(1)));
  choose_capacity();
  m_plan.resize(0);
  free_pinned(m_plan_host);
  m_plan_host = nullptr;
  m_plan_bytes = 0;
  size_plan(std::min<int64_t>(data.nconfigs(), 1024));
  int64_t small = 1;  // room for a few typical configurations to start with
  for (int64_t c = 0; c < std::min<int64_t>(data.nconfigs(), 8); ++c) small += data.natoms_of(c);
  size_workspace(std::max<int64_t>(256, small));
}

template <class S>
void CudaBackend<S>::upload_dataset(const Dataset& data) {
  const int64_t nconf = data.nconfigs(), natoms = data.natoms(), nrows = data.nrows();
  m_x.upload(data.descriptors);
  m_energy_t.upload(data.energy);
  m_forces_t.upload(data.forces);
  m_ew.upload(data.eweight);
  m_fw.upload(data.fweight);
  m_type.upload(data.atom_type);
  m_atom_offset.upload(data.atom_offset);
  m_row_offset.upload(data.row_offset);
  m_row_i.upload(data.row_i);
  m_row_k.upload(data.row_k);
  if (m_rows64) {
    m_dgrad32.resize(0);
    m_dgrad64.upload(data.dgrad64);
    m_derivative_bytes = int64_t(m_dgrad64.bytes());
  } else {
    m_dgrad64.resize(0);
    if (data.derivative_bits == 32) {
      m_dgrad32.upload(data.dgrad32);
    } else {
      // float compute: the rows are rounded to float once here (the CPU rounds them at use).
      const size_t total = size_t(nrows) * size_t(m_d);
      m_dgrad32.resize(total);
      std::vector<float> tmp(std::min(total, kConvertChunk));
      for (size_t off = 0; off < total; off += tmp.size()) {
        const size_t cnt = std::min(tmp.size(), total - off);
        for (size_t i = 0; i < cnt; ++i) tmp[i] = float(data.dgrad64[off + i]);
        copy_to_device(m_dgrad32.data() + off, tmp.data(), cnt * sizeof(float));
      }
    }
    m_derivative_bytes = int64_t(m_dgrad32.bytes());
  }
  if (!m_atomic) {
    std::vector<int32_t> perm, sorted_i;
    build_rows_by_atom(data, perm, sorted_i);
    m_perm.upload(perm);
    m_sorted_i.upload(sorted_i);
  } else {
    m_perm.resize(0);
    m_sorted_i.resize(0);
  }
  m_type_count.clear();
  m_rank.resize(0);
  if (m_layout.option == 2) {
    // Rank of every atom among the same-element atoms of its configuration, and the counts.
    m_type_count.assign(size_t(nconf) * size_t(m_nel), 0);
    std::vector<int32_t> rank(size_t(natoms), 0);
    for (int64_t c = 0; c < nconf; ++c)
      for (int64_t a = data.atom_offset[c]; a < data.atom_offset[c + 1]; ++a)
        rank[size_t(a)] = m_type_count[size_t(c) * m_nel + size_t(data.atom_type[a])]++;
    m_rank.upload(rank);
  }
  m_dataset_bytes = int64_t(m_x.bytes() + m_energy_t.bytes() + m_forces_t.bytes() + m_ew.bytes() +
                            m_fw.bytes() + m_type.bytes() + m_atom_offset.bytes() +
                            m_row_offset.bytes() + m_row_i.bytes() + m_row_k.bytes() +
                            m_perm.bytes() + m_sorted_i.bytes() + m_rank.bytes()) +
                    m_derivative_bytes;
}

// The largest chunk (atoms) the work arrays may ever be sized for: from the free memory after
// the dataset (or FITNN_CUDA_CHUNK_ATOMS), at least the largest configuration.
template <class S>
void CudaBackend<S>::choose_capacity() {
  const Dataset& data = *m_data;
  const int L = m_layout.nlayers();
  const auto& w = m_widths;
  int64_t max_conf_atoms = 1;
  for (int64_t c = 0; c < data.nconfigs(); ++c)
    max_conf_atoms = std::max<int64_t>(max_conf_atoms, data.natoms_of(c));
  int64_t mlp_per_col = 2 * int64_t(w[0]);
  if (!m_fused) {
    mlp_per_col = 0;
    for (int l = 0; l < L; ++l) mlp_per_col += 2 * int64_t(w[l]);
    for (int l = 1; l < L; ++l) mlp_per_col += 3 * int64_t(w[l]);
    for (int l = 1; l <= L; ++l) mlp_per_col += 2 * int64_t(w[l]);
  }
  const double per_col = double(sizeof(S)) * double(mlp_per_col + 2 * m_d + 2) + 8.0;
  const double per_atom = double(sizeof(S)) * 6.0 + 4.0 + 16.0;
  int64_t cap;
  if (m_opt.chunk_atoms > 0) {
    cap = m_opt.chunk_atoms;
  } else {
    const int64_t free_b = device_memory().free_bytes;
    const int64_t budget =
        std::min(kMaxBudget, std::max(kMinBudget, int64_t(kBudgetFraction * double(free_b))));
    cap = int64_t(double(budget) / (1.2 * per_col + per_atom));
  }
  cap = std::min(cap, std::max<int64_t>(data.natoms(), 1));
  m_cap_atoms = std::max(cap, max_conf_atoms);
}

// Work arrays for chunks of up to `atoms` atoms (<= m_cap_atoms). Called at upload for a small
// size and again, outside any graph capture, when a larger chunk comes; the arrays move, so the
// cached graphs are dropped.
template <class S>
void CudaBackend<S>::size_workspace(int64_t atoms) {
  FITNN_CUDA_CHECK(cudaStreamSynchronize(stream_of(m_ctx)));
  release_graphs();
  const int L = m_layout.nlayers();
  const auto& w = m_widths;
  m_ws_atoms = std::min(std::max<int64_t>(atoms, 1), m_cap_atoms);
  // Columns: the padded blocks of a chunk never exceed this (padded_columns(n) < n + n/8 + 32).
  m_ws_cols = m_ws_atoms + m_ws_atoms / 8 + 32 * int64_t(m_nnets) + 32;
  const int64_t cols = m_ws_cols, conf = m_ws_atoms;  // a configuration has >= 1 atom

  // MLP arrays carved per layer like cpu::Workspace; the fused path needs only h_0.
  m_hh_off.assign(size_t(L), 0);
  m_a_off.assign(size_t(3 * L), 0);
  m_bar_off.assign(size_t(L + 1), 0);
  int64_t off = 0;
  const int hh_layers = m_fused ? 1 : L;
  for (int l = 0; l < hh_layers; ++l) {
    m_hh_off[l] = off;
    off += int64_t(w[l]) * 2 * cols;
  }
  if (!m_fused) {
    for (int l = 1; l < L; ++l)
      for (int k = 0; k < 3; ++k) {
        m_a_off[3 * l + k] = off;
        off += int64_t(w[l]) * cols;
      }
    for (int l = 1; l <= L; ++l) {
      m_bar_off[l] = off;
      off += int64_t(w[l]) * 2 * cols;
    }
  }
  // Free before allocating, so that growing does not need both at once.
  for (DeviceArray<S>* a : {&m_mlp, &m_atom_energy, &m_beta, &m_g, &m_eps_col, &m_forces, &m_phi,
                            &m_gather})
    a->resize(0);
  m_mlp.resize(size_t(off));
  m_mlp.zero();
  m_atoms_of_col.resize(size_t(cols));
  m_col_of.resize(m_layout.option == 2 ? size_t(m_ws_atoms) : 0);
  m_atom_energy.resize(size_t(cols));
  m_beta.resize(size_t(m_d) * size_t(cols));
  m_g.resize(size_t(m_d) * size_t(cols));
  m_g.zero();
  m_eps_col.resize(size_t(cols));
  m_forces.resize(3 * size_t(m_ws_atoms));
  m_phi.resize(3 * size_t(m_ws_atoms));
  m_energy.resize(size_t(conf));
  m_eps_conf.resize(size_t(conf));

  // Scratch for the largest op, reserved now: growing it during a capture is not possible.
  size_t scratch = loss_scratch_bytes();
  const MlpNet<S> net = net_view(0);
  if (m_fused)
    scratch = std::max(scratch, mlp_fused_scratch_bytes(m_ctx, net, int64_t(1) << 40));
  else
    scratch = std::max(scratch, mlp_reverse_scratch_bytes(net, cols));
  m_ctx.reserve_scratch(scratch);

  m_workspace_bytes =
      int64_t(m_mlp.bytes() + m_atoms_of_col.bytes() + m_col_of.bytes() + m_atom_energy.bytes() +
              m_beta.bytes() + m_g.bytes() + m_eps_col.bytes() + m_forces.bytes() +
              m_phi.bytes() + m_energy.bytes() + m_eps_conf.bytes() + m_plan.bytes()) +
      int64_t(scratch);
}

// The batch plan's buffers (device and pinned host), for batches of up to `nconf`
// configurations; moving them drops the cached graphs.
template <class S>
void CudaBackend<S>::size_plan(int64_t nconf) {
  const size_t bytes = kPlanHeaderBytes + size_t(nconf + 1) * size_t(32 + 4 * m_nel) + 64;
  if (bytes <= m_plan_bytes) return;
  FITNN_CUDA_CHECK(cudaStreamSynchronize(stream_of(m_ctx)));
  release_graphs();
  m_plan.resize(bytes);
  free_pinned(m_plan_host);
  m_plan_host = nullptr;
  m_plan_bytes = 0;
  FITNN_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&m_plan_host), bytes));
  m_plan_bytes = bytes;
}

template <class S>
MlpNet<S> CudaBackend<S>::net_view(int net) const {
  MlpNet<S> v;
  v.params = m_params.data() + m_npn * net;
  v.widths = m_widths.data();
  v.nlayers = m_layout.nlayers();
  v.act = m_layout.activation;
  v.linear_first = m_layout.input_layer;
  return v;
}

template <class S>
MlpBlock<S> CudaBackend<S>::block_view(const Chunk& ch, int net) const {
  MlpBlock<S> blk;
  const int L = m_layout.nlayers();
  const auto& w = m_widths;
  const int64_t c0 = ch.seg[size_t(net)];
  S* base = const_cast<S*>(m_mlp.data());
  blk.n = ch.blk_n[size_t(net)];
  blk.hh[0] = base + m_hh_off[0] + int64_t(w[0]) * 2 * c0;
  if (!m_fused) {
    for (int l = 1; l < L; ++l) {
      blk.hh[l] = base + m_hh_off[l] + int64_t(w[l]) * 2 * c0;
      blk.a1[l] = base + m_a_off[3 * l] + int64_t(w[l]) * c0;
      blk.a2[l] = base + m_a_off[3 * l + 1] + int64_t(w[l]) * c0;
      blk.tb[l] = base + m_a_off[3 * l + 2] + int64_t(w[l]) * c0;
    }
    for (int l = 1; l <= L; ++l) blk.bar[l] = base + m_bar_off[l] + int64_t(w[l]) * 2 * c0;
  }
  blk.energy = const_cast<S*>(m_atom_energy.data()) + c0;
  return blk;
}

template <class S>
void CudaBackend<S>::check_ready(const char* what, bool need_model) const {
  if (!m_data) throw std::logic_error(std::string("cuda backend: ") + what + " before upload()");
  if (need_model && !m_have_model)
    throw std::logic_error(std::string("cuda backend: ") + what + " before set_model()");
}

template <class S>
void CudaBackend<S>::check_batch(const int64_t* configs, int n, const char* what) const {
  if (n < 0 || (n > 0 && !configs))
    throw std::invalid_argument(std::string("cuda backend: ") + what + ": bad batch");
  const int64_t nconf = m_data->nconfigs();
  for (int m = 0; m < n; ++m)
    if (configs[m] < 0 || configs[m] >= nconf)
      throw DataError(std::string("cuda backend: ") + what + ": configuration index " +
                      std::to_string(configs[m]) + " is outside the dataset's " +
                      std::to_string(nconf));
}

template <class S>
void CudaBackend<S>::set_model(const Model& model) {
  check_ready("set_model()", false);
  if (!(model.layout == m_layout))
    throw InputError("cuda backend: the model's layout differs from the one uploaded with the "
                     "dataset");
  const int d = m_d;
  if (int64_t(model.params.size()) != m_np)
    throw InputError("cuda backend: the model has " + std::to_string(model.params.size()) +
                     " parameters, its layout needs " + std::to_string(m_np));
  if (int(model.mean.size()) != d || int(model.std.size()) != d)
    throw InputError("cuda backend: the model's standardization is not (ndesc)");
  for (int k = 0; k < d; ++k)
    if (!(model.std[k] > 0.0) || !std::isfinite(model.std[k]) || !std::isfinite(model.mean[k]))
      throw InputError("cuda backend: standardization entry " + std::to_string(k) +
                       " is not finite or has std <= 0");
  FITNN_CUDA_CHECK(cudaStreamSynchronize(stream_of(m_ctx)));
  m_params.upload(std::vector<S>(model.params.begin(), model.params.end()));
  m_mean.upload(model.mean);
  m_std.upload(model.std);
  m_std_s.upload(std::vector<S>(model.std.begin(), model.std.end()));
  if (!(std::isfinite(model.output_scale) && model.output_scale > 0.0))
    throw InputError("cuda backend: the model's output_scale is not a positive number");
  if (S(model.output_scale) != m_scale) release_graphs();  // captured as a kernel argument
  m_scale = S(model.output_scale);
  m_have_model = true;
}

template <class S>
void CudaBackend<S>::get_params(std::vector<double>& params) {
  check_ready("get_params()", true);
  FITNN_CUDA_CHECK(cudaStreamSynchronize(stream_of(m_ctx)));
  const std::vector<S> p = m_params.download();
  params.assign(p.begin(), p.end());
}

template <class S>
void CudaBackend<S>::set_adam(const AdamState& adam) {
  check_ready("set_adam()", false);
  const size_t np = size_t(m_np);
  if ((!adam.m.empty() && adam.m.size() != np) || (!adam.v.empty() && adam.v.size() != np))
    throw InputError("cuda backend: the Adam moments have " + std::to_string(adam.m.size()) +
                     " entries, the model has " + std::to_string(np) + " parameters");
  FITNN_CUDA_CHECK(cudaStreamSynchronize(stream_of(m_ctx)));
  if (adam.m.empty())
    m_adam_m.zero();
  else
    m_adam_m.upload(std::vector<S>(adam.m.begin(), adam.m.end()));
  if (adam.v.empty())
    m_adam_v.zero();
  else
    m_adam_v.upload(std::vector<S>(adam.v.begin(), adam.v.end()));
  m_adam_step = adam.step;
  m_beta1 = adam.beta1;
  m_beta2 = adam.beta2;
  m_eps = adam.eps;
}

template <class S>
void CudaBackend<S>::get_adam(AdamState& adam) {
  check_ready("get_adam()", false);
  FITNN_CUDA_CHECK(cudaStreamSynchronize(stream_of(m_ctx)));
  const std::vector<S> m = m_adam_m.download(), v = m_adam_v.download();
  adam.m.assign(m.begin(), m.end());
  adam.v.assign(v.begin(), v.end());
  adam.step = m_adam_step;
  adam.beta1 = m_beta1;
  adam.beta2 = m_beta2;
  adam.eps = m_eps;
}

template <class S>
CudaBackendInfo CudaBackend<S>::info() const {
  CudaBackendInfo i;
  i.device = device_description();
  i.mlp_path = m_fused ? "fused" : "cublas";
  i.row_mode = m_atomic ? "atomic" : "deterministic";
  i.graphs = m_opt.graphs;
  i.chunk_atoms = m_cap_atoms;
  i.workspace_atoms = m_ws_atoms;
  i.dataset_bytes = m_dataset_bytes;
  i.derivative_bytes = m_derivative_bytes;
  i.workspace_bytes = m_workspace_bytes;
  i.graphs_cached = int64_t(m_graphs.size());
  i.graph_launches = m_graph_launches;
  i.eager_steps = m_eager_steps;
  return i;
}

template class CudaBackend<double>;
template class CudaBackend<float>;

// ---- Factories and introspection -------------------------------------------------------------

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

}  // namespace

CudaOptions cuda_options_from_env() {
  CudaOptions o;
  const std::string mlp = env("FITNN_CUDA_MLP"), rows = env("FITNN_CUDA_ROWS"),
                    graphs = env("FITNN_CUDA_GRAPHS"), chunk = env("FITNN_CUDA_CHUNK_ATOMS");
  if (mlp == "cublas")
    o.mlp = MlpPath::cublas;
  else if (mlp == "fused")
    o.mlp = MlpPath::fused;
  else if (!mlp.empty() && mlp != "auto")
    throw InputError("FITNN_CUDA_MLP=" + mlp + ": use auto, cublas or fused");
  if (rows == "deterministic")
    o.rows = RowMode::deterministic;
  else if (rows == "atomic")
    o.rows = RowMode::atomic;
  else if (!rows.empty() && rows != "auto")
    throw InputError("FITNN_CUDA_ROWS=" + rows + ": use auto, deterministic or atomic");
  if (graphs == "0")
    o.graphs = false;
  else if (!graphs.empty() && graphs != "1")
    throw InputError("FITNN_CUDA_GRAPHS=" + graphs + ": use 1 or 0");
  if (!chunk.empty()) {
    char* end = nullptr;
    const long long v = std::strtoll(chunk.c_str(), &end, 10);
    if (!end || *end != '\0' || v < 0)
      throw InputError("FITNN_CUDA_CHUNK_ATOMS=" + chunk + ": use a number of atoms (0: auto)");
    o.chunk_atoms = v;
  }
  return o;
}

std::unique_ptr<Backend> make_cuda_backend_with(Precision precision, const CudaOptions& options) {
  if (precision == Precision::f64) return std::make_unique<CudaBackend<double>>(options);
  return std::make_unique<CudaBackend<float>>(options);
}

const CudaContext* cuda_backend_context(const Backend& backend) {
  if (auto* b = dynamic_cast<const CudaBackend<double>*>(&backend)) return &b->context();
  if (auto* b = dynamic_cast<const CudaBackend<float>*>(&backend)) return &b->context();
  return nullptr;
}

bool cuda_backend_info(const Backend& backend, CudaBackendInfo& info) {
  if (auto* b = dynamic_cast<const CudaBackend<double>*>(&backend)) {
    info = b->info();
    return true;
  }
  if (auto* b = dynamic_cast<const CudaBackend<float>*>(&backend)) {
    info = b->info();
    return true;
  }
  return false;
}

void cuda_atom_beta(Backend& backend, const int64_t* configs, int n, std::vector<double>& beta) {
  if (auto* b = dynamic_cast<CudaBackend<double>*>(&backend)) return b->atom_beta(configs, n, beta);
  if (auto* b = dynamic_cast<CudaBackend<float>*>(&backend)) return b->atom_beta(configs, n, beta);
  throw std::invalid_argument("cuda_atom_beta: backend '" + backend.name() + "' is not CUDA");
}

}  // namespace cuda

std::unique_ptr<Backend> make_cuda_backend(Precision precision) {
  return cuda::make_cuda_backend_with(precision, cuda::cuda_options_from_env());
}

}  // namespace fitnn
