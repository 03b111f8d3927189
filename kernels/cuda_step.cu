// CudaBackend<S>, part 2: running a batch. The host plans the batch (chunks of configurations
// that fit the work arrays; per chunk the atom offsets, and for option 2 the first column of
// every (configuration, element) so that each element's atoms form one contiguous block),
// writes the plan to pinned memory and sends it with ONE asynchronous copy. The step is then
// the op sequence of loss-and-gradients.md on the context's stream:
//   columns -> standardize -> forward + beta (per net) -> configuration energies ->
//   forces (+ phi, g) -> loss, eps -> [transpose] -> tangent + reverse (per net) ->
//   [NaN guard -> Adam]
// and ONE copy of {loss, NaN flag} back: the only host synchronization of a training step.
//
// CUDA graphs: the launch sequence of a single-chunk step depends only on (mode, number of
// configurations, padded block sizes); the atom counts themselves are read on the device. A
// shape seen twice is captured into a graph and replayed afterwards (one launch instead of
// 20-60); batches whose shapes vary are bucketed by padded_columns() so that a fit reuses a few
// graphs. Multi-chunk batches (larger than the work arrays) are launched kernel by kernel:
// they are long enough that launch overhead does not matter.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "cpu/refused_step.hpp"
#include "cuda_backend_impl.cuh"
#include "device_math.cuh"
#include "fitnn/errors.hpp"
#include "fitnn/log.hpp"

namespace fitnn {
namespace cuda {

// ---- The batch plan on the device ------------------------------------------------------------
// The host sends only per-configuration data; everything per atom is derived here, so a step
// uploads O(configurations) bytes, not O(atoms). One thread per batch atom (grid-stride) finds
// its configuration by a binary search of atom_base (log2(nconf) cached loads), then its dataset
// atom and column. Grids are sized from a host bound on the atom count; the true count
// atom_base[nconf] is read on the device, so one captured graph serves every batch of the same
// padded shape. Gathers: one thread per element of the (natoms, width) output, consecutive
// threads on consecutive components of one atom (coalesced writes).

namespace {

__global__ void build_columns_kernel(int nconf, const int64_t* __restrict__ configs,
                                     const int64_t* __restrict__ atom_base,
                                     const int64_t* __restrict__ atom_offset,
                                     const int32_t* __restrict__ atom_type,
                                     const int32_t* __restrict__ rank,
                                     const int32_t* __restrict__ elem_start, int nel,
                                     int64_t* __restrict__ atoms_of_col,
                                     int32_t* __restrict__ col_of) {
  const int64_t natoms = atom_base[nconf];
  for (int64_t a = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; a < natoms;
       a += int64_t(gridDim.x) * blockDim.x) {
    const int m = config_of_atom(atom_base, nconf, a);
    const int64_t A = atom_offset[configs[m]] + (a - atom_base[m]);
    int64_t col = a;
    if (elem_start) col = int64_t(elem_start[int64_t(m) * nel + atom_type[A]]) + rank[A];
    if (col_of) col_of[a] = int32_t(col);
    atoms_of_col[col] = A;
  }
}

template <class S>
__global__ void gather_columns_kernel(int nconf, const int64_t* __restrict__ atom_base,
                                      const int32_t* __restrict__ col_of,
                                      const S* __restrict__ src, int width,
                                      S* __restrict__ dst) {
  const int64_t len = atom_base[nconf] * width;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < len;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t a = i / width;
    const int k = int(i - a * width);
    const int64_t col = col_of ? col_of[a] : a;
    dst[i] = src[col * width + k];
  }
}

}  // namespace

int64_t padded_columns(int64_t n) {
  if (n <= 0) return 0;
  int64_t p2 = 1;  // largest power of two <= n
  while (p2 * 2 <= n) p2 *= 2;
  const int64_t gran = p2 / 8 > 32 ? p2 / 8 : 32;
  return (n + gran - 1) / gran * gran;
}

void build_columns_cuda(const CudaContext& ctx, int nconf, const int64_t* configs,
                        const int64_t* atom_base, const int64_t* atom_offset,
                        const int32_t* atom_type, const int32_t* rank,
                        const int32_t* elem_start, int nel, int64_t* atoms_of_col,
                        int32_t* col_of, int64_t natoms) {
  if (nconf <= 0 || natoms <= 0) return;
  build_columns_kernel<<<grid_blocks(natoms, kThreads, 4096), kThreads, 0, stream_of(ctx)>>>(
      nconf, configs, atom_base, atom_offset, atom_type, rank, elem_start, nel, atoms_of_col,
      col_of);
  FITNN_CUDA_LAUNCH_CHECK();
}

template <class S>
void gather_columns_cuda(const CudaContext& ctx, int nconf, const int64_t* atom_base,
                         const int32_t* col_of, const S* src, int width, S* dst,
                         int64_t natoms) {
  if (nconf <= 0 || natoms <= 0 || width <= 0) return;
  gather_columns_kernel<S><<<grid_blocks(natoms * width, kThreads, 8192), kThreads, 0,
                             stream_of(ctx)>>>(nconf, atom_base, col_of, src, width, dst);
  FITNN_CUDA_LAUNCH_CHECK();
}

template void gather_columns_cuda<double>(const CudaContext&, int, const int64_t*,
                                          const int32_t*, const double*, int, double*, int64_t);
template void gather_columns_cuda<float>(const CudaContext&, int, const int64_t*,
                                         const int32_t*, const float*, int, float*, int64_t);

// ---- Running a batch ------------------------------------------------------------------------

namespace {

constexpr size_t kMaxGraphs = 64;    // cached graphs before the cache is flushed

size_t round8(size_t b) { return (b + 7) & ~size_t(7); }

}  // namespace

template <class S>
void CudaBackend<S>::plan_batch(const int64_t* configs, int n, Mode mode, double lr) {
  const Dataset& data = *m_data;
  // Room for this batch: the plan, and work arrays for its largest chunk (both only grow, and
  // only here, outside any capture).
  size_plan(n);
  {
    int64_t largest = 0, atoms = 0;
    for (int m = 0; m < n; ++m) {
      const int64_t a = data.natoms_of(configs[m]);
      if (atoms > 0 && atoms + a > m_cap_atoms) atoms = 0;
      atoms += a;
      largest = std::max(largest, atoms);
    }
    if (largest > m_ws_atoms) size_workspace(std::max(largest, m_ws_atoms + m_ws_atoms / 4));
  }
  m_batch_n = n;
  m_inv_m = n > 0 ? 1.0 / n : 1.0;
  unsigned char* host = m_plan_host;
  AdamScalars sc;
  if (mode == Mode::train) sc = adam_scalars(lr, m_beta1, m_beta2, m_eps, m_adam_step + 1);
  std::memcpy(host, &sc, sizeof sc);
  m_configs_off = kPlanHeaderBytes;
  if (n > 0) std::memcpy(host + m_configs_off, configs, size_t(n) * sizeof(int64_t));
  size_t off = m_configs_off + size_t(n) * sizeof(int64_t);

  m_chunks.clear();
  const bool option2 = m_layout.option == 2;
  std::vector<int64_t> count(size_t(m_nel), 0);
  int b = 0;
  while (b < n) {
    // Greedy: as many configurations as fit the work arrays (at least one).
    int e = b + 1;
    int64_t atoms = data.natoms_of(configs[b]);
    while (e < n && atoms + data.natoms_of(configs[e]) <= m_ws_atoms)
      atoms += data.natoms_of(configs[e++]);
    Chunk ch;
    ch.b = b;
    ch.nconf = e - b;
    ch.natoms = atoms;
    ch.base_off = off;
    int64_t* base = reinterpret_cast<int64_t*>(host + off);
    base[0] = 0;
    for (int m = 0; m < ch.nconf; ++m) base[m + 1] = base[m] + data.natoms_of(configs[b + m]);
    off += size_t(ch.nconf + 1) * sizeof(int64_t);
    ch.blk_n.assign(size_t(m_nnets), 0);
    ch.seg.assign(size_t(m_nnets), 0);
    if (option2) {
      // Blocks per element, padded; then the first column of every (configuration, element).
      std::fill(count.begin(), count.end(), 0);
      for (int m = 0; m < ch.nconf; ++m)
        for (int t = 0; t < m_nel; ++t)
          count[size_t(t)] += m_type_count[size_t(configs[b + m]) * m_nel + size_t(t)];
      int64_t col = 0;
      for (int t = 0; t < m_nnets; ++t) {
        ch.seg[size_t(t)] = col;
        ch.blk_n[size_t(t)] = padded_columns(count[size_t(t)]);
        col += ch.blk_n[size_t(t)];
      }
      ch.estart_off = off;
      int32_t* es = reinterpret_cast<int32_t*>(host + off);
      std::vector<int64_t> next(ch.seg.begin(), ch.seg.end());
      for (int m = 0; m < ch.nconf; ++m)
        for (int t = 0; t < m_nel; ++t) {
          es[size_t(m) * m_nel + size_t(t)] = int32_t(next[size_t(t)]);
          next[size_t(t)] += m_type_count[size_t(configs[b + m]) * m_nel + size_t(t)];
        }
      off = round8(off + size_t(ch.nconf) * size_t(m_nel) * sizeof(int32_t));
    } else {
      ch.blk_n[0] = padded_columns(atoms);
    }
    ch.ncols = 0;
    for (int64_t v : ch.blk_n) ch.ncols += v;
    m_chunks.push_back(std::move(ch));
    b = e;
  }
  m_plan_used = off;
  FITNN_CUDA_CHECK(cudaMemcpyAsync(m_plan.data(), m_plan_host, m_plan_used,
                                   cudaMemcpyHostToDevice, stream_of(m_ctx)));
}

// One chunk through the ops. Only padded sizes and pointers fixed for the chunk's shape are
// used on the host (never the real atom count), so that the sequence can be captured.
template <class S>
template <class Dg>
void CudaBackend<S>::enqueue_chunk(const Chunk& ch, Mode mode, const Dg* dgrad) {
  const CudaContext& ctx = m_ctx;
  const cudaStream_t stream = stream_of(ctx);
  const int nc = ch.nconf, d = m_d;
  const int64_t ncols = ch.ncols;
  const bool option2 = m_layout.option == 2;
  const int64_t* cfg = plan_ptr<int64_t>(m_configs_off) + ch.b;
  const int64_t* abase = plan_ptr<int64_t>(ch.base_off);
  const int32_t* estart = option2 ? plan_ptr<int32_t>(ch.estart_off) : nullptr;
  int32_t* col_of = option2 ? m_col_of.data() : nullptr;

  // Columns: padding columns keep atom -1 (standardized to zero).
  FITNN_CUDA_CHECK(cudaMemsetAsync(m_atoms_of_col.data(), 0xff, size_t(ncols) * sizeof(int64_t),
                                   stream));
  build_columns_cuda(ctx, nc, cfg, abase, m_atom_offset.data(), m_type.data(), m_rank.data(),
                     estart, m_nel, m_atoms_of_col.data(), col_of, ncols);
  for (int e = 0; e < m_nnets; ++e) {
    const int64_t n = ch.blk_n[size_t(e)], c0 = ch.seg[size_t(e)];
    if (n == 0) continue;
    const MlpNet<S> net = net_view(e);
    const MlpBlock<S> blk = block_view(ch, e);
    standardize_cuda(ctx, n, m_atoms_of_col.data() + c0, m_x.data(), d, m_mean.data(),
                     m_std.data(), m_type.data(), m_onehot, blk.hh[0]);
    if (m_fused) {
      mlp_forward_beta_fused_cuda(ctx, net, n, blk.hh[0], d, m_std_s.data(),
                                  m_atom_energy.data() + c0, m_beta.data() + c0 * d);
    } else {
      mlp_forward_cuda(ctx, net, blk);
      mlp_beta_cuda(ctx, net, blk, d, m_std_s.data(), m_beta.data() + c0 * d);
    }
  }
  if (m_scale != S(1)) {  // E_i = s z_L, so beta and the forces scale with it
    scale_cuda(ctx, ncols, m_scale, m_atom_energy.data());
    scale_cuda(ctx, ncols * d, m_scale, m_beta.data());
  }
  if (mode == Mode::beta) return;

  config_energy_cuda(ctx, nc, abase, col_of, m_atom_energy.data(), m_energy.data());
  const bool grad = mode == Mode::gradient || mode == Mode::train;
  double* loss_acc = &m_result.data()->loss;
  if (grad) {
    FITNN_CUDA_CHECK(cudaMemsetAsync(m_g.data(), 0, size_t(d) * size_t(ncols) * sizeof(S), stream));
    FITNN_CUDA_CHECK(cudaMemsetAsync(m_eps_col.data(), 0, size_t(ncols) * sizeof(S), stream));
  }
  if (grad && m_atomic) {
    force_contract_transpose_atomic_cuda(
        ctx, nc, cfg, m_row_offset.data(), m_atom_offset.data(), m_forces_t.data(), m_fw.data(),
        abase, col_of, m_row_i.data(), m_row_k.data(), dgrad, d, m_beta.data(), m_inv_m,
        m_forces.data(), m_phi.data(), m_g.data(), ncols);
    loss_cuda(ctx, nc, cfg, m_atom_offset.data(), m_energy_t.data(), m_forces_t.data(),
              m_ew.data(), m_fw.data(), abase, col_of, m_energy.data(), m_forces.data(), m_inv_m,
              m_eps_conf.data(), m_phi.data(), m_eps_col.data(), loss_acc);
  } else {
    force_contract_cuda(ctx, nc, cfg, m_row_offset.data(), abase, col_of, m_row_i.data(),
                        m_row_k.data(), dgrad, d, m_beta.data(), m_forces.data(), ncols);
    loss_cuda(ctx, nc, cfg, m_atom_offset.data(), m_energy_t.data(), m_forces_t.data(),
              m_ew.data(), m_fw.data(), abase, col_of, m_energy.data(), m_forces.data(), m_inv_m,
              m_eps_conf.data(), m_phi.data(), grad ? m_eps_col.data() : nullptr, loss_acc);
    if (grad)
      force_transpose_cuda(ctx, nc, cfg, m_row_offset.data(), abase, col_of, m_row_i.data(),
                           m_row_k.data(), dgrad, d, m_phi.data(), m_g.data(), ncols,
                           RowsByAtom{m_perm.data(), m_sorted_i.data()});
  }
  if (!grad) return;
  if (m_scale != S(1)) {  // the adjoints of s z_L and s beta with respect to z_L and beta
    scale_cuda(ctx, ncols, m_scale, m_eps_col.data());
    scale_cuda(ctx, ncols * d, m_scale, m_g.data());
  }
  for (int e = 0; e < m_nnets; ++e) {
    const int64_t n = ch.blk_n[size_t(e)], c0 = ch.seg[size_t(e)];
    if (n == 0) continue;
    const MlpNet<S> net = net_view(e);
    const MlpBlock<S> blk = block_view(ch, e);
    S* grad_e = m_grad.data() + m_npn * e;
    if (m_fused) {
      mlp_tangent_reverse_fused_cuda(ctx, net, n, blk.hh[0], d, m_std_s.data(),
                                     m_g.data() + c0 * d, m_eps_col.data() + c0, grad_e);
    } else {
      mlp_tangent_cuda(ctx, net, blk, d, m_std_s.data(), m_g.data() + c0 * d);
      mlp_reverse_cuda(ctx, net, blk, m_eps_col.data() + c0, grad_e);
    }
  }
}

// The chunk with the rows in their device storage: double rows exist only for float64 compute
// (float compute converts them at upload), so CudaBackend<float> never instantiates them.
template <class S>
void CudaBackend<S>::enqueue_chunk_rows(const Chunk& ch, Mode mode) {
  if constexpr (std::is_same<S, double>::value) {
    if (m_rows64) {
      enqueue_chunk(ch, mode, m_dgrad64.data());
      return;
    }
  }
  enqueue_chunk(ch, mode, m_dgrad32.data());
}

// Everything of a step after the plan copy: reset, chunks, guard and Adam.
template <class S>
void CudaBackend<S>::enqueue_step(Mode mode) {
  const cudaStream_t stream = stream_of(m_ctx);
  FITNN_CUDA_CHECK(cudaMemsetAsync(m_result.data(), 0, sizeof(StepResult), stream));
  if (mode == Mode::gradient || mode == Mode::train)
    FITNN_CUDA_CHECK(cudaMemsetAsync(m_grad.data(), 0, size_t(m_np) * sizeof(S), stream));
  for (const Chunk& ch : m_chunks) enqueue_chunk_rows(ch, mode);
  if (mode == Mode::train) {
    StepResult* r = m_result.data();
    check_finite_cuda(m_ctx, m_grad.data(), m_np, &r->loss, &r->bad);
    adam_step_device_cuda(m_ctx, m_params.data(), m_grad.data(), m_adam_m.data(),
                          m_adam_v.data(), m_np, plan_ptr<AdamScalars>(0), &r->bad, &r->loss);
  }
}

// Captures the step's launch sequence into an executable graph (nothing runs).
template <class S>
cudaGraphExec_t CudaBackend<S>::capture_step(Mode mode) {
  const cudaStream_t stream = stream_of(m_ctx);
  FITNN_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  try {
    enqueue_step(mode);
  } catch (...) {
    cudaGraph_t broken = nullptr;
    (void)cudaStreamEndCapture(stream, &broken);
    if (broken) (void)cudaGraphDestroy(broken);
    (void)cudaGetLastError();
    throw;
  }
  cudaGraph_t graph = nullptr;
  FITNN_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  cudaGraphExec_t exec = nullptr;
  const cudaError_t err = cudaGraphInstantiate(&exec, graph, 0);
  FITNN_CUDA_WARN(cudaGraphDestroy(graph));
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    throw_cuda_error(err, "cudaGraphInstantiate", __FILE__, __LINE__);
  }
  return exec;
}

template <class S>
void CudaBackend<S>::launch_step(Mode mode) {
  const cudaStream_t stream = stream_of(m_ctx);
  if (m_opt.graphs && m_chunks.size() == 1) {
    if (m_ctx.generation() != m_graph_generation) {
      release_graphs();
      m_graph_generation = m_ctx.generation();
    }
    const Chunk& ch = m_chunks[0];
    std::vector<int64_t> key{int64_t(mode), int64_t(ch.nconf)};
    key.insert(key.end(), ch.blk_n.begin(), ch.blk_n.end());
    auto it = m_graphs.find(key);
    if (it == m_graphs.end() && ++m_seen[key] >= 2) {
      if (m_graphs.size() >= kMaxGraphs) release_graphs();
      try {
        it = m_graphs.emplace(key, capture_step(mode)).first;
      } catch (const DeviceError& e) {
        // A failed capture is not fatal: the same launches work eagerly (and a real error will
        // show there).
        log_warn(std::string("cuda backend: capturing a CUDA graph failed; continuing without "
                             "graphs (") + e.what() + ")");
        m_opt.graphs = false;
        it = m_graphs.end();
      }
    }
    if (it != m_graphs.end()) {
      FITNN_CUDA_CHECK(cudaGraphLaunch(it->second, stream));
      ++m_graph_launches;
      return;
    }
  }
  enqueue_step(mode);
  ++m_eager_steps;
}

// Predictions or beta of one chunk, in batch order, after its kernels (synchronizes).
template <class S>
void CudaBackend<S>::collect_chunk(const Chunk& ch, Mode mode, Predictions* pred,
                                   std::vector<double>* beta, int64_t atom0) {
  const int width = beta ? m_d : 1;
  if (m_gather.size() < size_t(width) * size_t(m_ws_atoms)) {
    m_ctx.synchronize();
    m_gather.resize(size_t(std::max(1, m_d)) * size_t(m_ws_atoms));
  }
  const int64_t* abase = plan_ptr<int64_t>(ch.base_off);
  const int32_t* col_of = m_layout.option == 2 ? m_col_of.data() : nullptr;
  const S* src = beta ? m_beta.data() : m_atom_energy.data();
  gather_columns_cuda(m_ctx, ch.nconf, abase, col_of, src, width, m_gather.data(), ch.ncols);
  m_ctx.synchronize();
  std::vector<S> tmp(size_t(width) * size_t(ch.natoms));
  copy_to_host(tmp.data(), m_gather.data(), tmp.size() * sizeof(S));
  if (beta) {
    std::copy(tmp.begin(), tmp.end(), beta->begin() + atom0 * m_d);
    return;
  }
  (void)mode;
  std::copy(tmp.begin(), tmp.end(), pred->atom_energy.begin() + atom0);
  std::vector<double> energy(size_t(ch.nconf));
  copy_to_host(energy.data(), m_energy.data(), energy.size() * sizeof(double));
  std::copy(energy.begin(), energy.end(), pred->energy.begin() + ch.b);
  std::vector<S> forces(3 * size_t(ch.natoms));
  copy_to_host(forces.data(), m_forces.data(), forces.size() * sizeof(S));
  std::copy(forces.begin(), forces.end(), pred->forces.begin() + 3 * atom0);
}

template <class S>
BatchStats CudaBackend<S>::run(const int64_t* configs, int n, Mode mode, Predictions* pred,
                               std::vector<double>* beta) {
  BatchStats stats;
  stats.nconfigs = n;
  plan_batch(configs, n, mode, m_pending_lr);
  for (const Chunk& ch : m_chunks) stats.natoms += ch.natoms;
  const cudaStream_t stream = stream_of(m_ctx);
  if (pred || beta) {
    if (pred) {
      pred->energy.assign(size_t(n), 0.0);
      pred->atom_energy.assign(size_t(stats.natoms), 0.0);
      pred->forces.assign(size_t(3 * stats.natoms), 0.0);
    }
    if (beta) beta->assign(size_t(stats.natoms) * size_t(m_d), 0.0);
    FITNN_CUDA_CHECK(cudaMemsetAsync(m_result.data(), 0, sizeof(StepResult), stream));
    int64_t atom0 = 0;
    for (const Chunk& ch : m_chunks) {
      enqueue_chunk_rows(ch, mode);
      collect_chunk(ch, mode, pred, beta, atom0);
      atom0 += ch.natoms;
    }
    ++m_eager_steps;
  } else {
    launch_step(mode);
  }
  FITNN_CUDA_CHECK(cudaMemcpyAsync(m_result_host, m_result.data(), sizeof(StepResult),
                                   cudaMemcpyDeviceToHost, stream));
  m_ctx.synchronize();
  stats.loss = m_result_host->loss;
  return stats;
}

template <class S>
BatchStats CudaBackend<S>::loss_gradient(const int64_t* configs, int n,
                                         std::vector<double>& grad) {
  check_ready("loss_gradient()", true);
  check_batch(configs, n, "loss_gradient()");
  const BatchStats stats = run(configs, n, Mode::gradient, nullptr, nullptr);
  const std::vector<S> g = m_grad.download();
  grad.assign(g.begin(), g.end());
  return stats;
}

template <class S>
BatchStats CudaBackend<S>::train_step(const int64_t* configs, int n, double lr) {
  check_ready("train_step()", true);
  check_batch(configs, n, "train_step()");
  m_pending_lr = lr;
  const BatchStats stats = run(configs, n, Mode::train, nullptr, nullptr);
  if (m_result_host->bad != 0 || !std::isfinite(stats.loss)) {
    // The device guard skipped Adam: parameters and moments are untouched. The gradient is
    // read back only to name its first non-finite entry (a non-finite loss is named first).
    const std::vector<S> grad = std::isfinite(stats.loss) ? m_grad.download() : std::vector<S>();
    throw NumericError(cpu::refused_step_message(name(), m_adam_step + 1, configs, n,
                                                 stats.loss, m_layout, grad.data(),
                                                 int64_t(grad.size())));
  }
  ++m_adam_step;
  return stats;
}

template <class S>
BatchStats CudaBackend<S>::evaluate(const int64_t* configs, int n, Predictions* out) {
  check_ready("evaluate()", true);
  check_batch(configs, n, "evaluate()");
  return run(configs, n, Mode::evaluate, out, nullptr);
}

template <class S>
void CudaBackend<S>::atom_beta(const int64_t* configs, int n, std::vector<double>& beta) {
  check_ready("atom_beta()", true);
  check_batch(configs, n, "atom_beta()");
  run(configs, n, Mode::beta, nullptr, &beta);
}

// The class is instantiated in cuda_backend.cu; the members defined here are instantiated here.
#define FITNN_INSTANTIATE_STEP(S)                                                              \
  template void CudaBackend<S>::plan_batch(const int64_t*, int, Mode, double);                 \
  template void CudaBackend<S>::enqueue_chunk<float>(const Chunk&, Mode, const float*);        \
  template void CudaBackend<S>::enqueue_chunk_rows(const Chunk&, Mode);                        \
  template void CudaBackend<S>::enqueue_step(Mode);                                            \
  template void CudaBackend<S>::launch_step(Mode);                                             \
  template cudaGraphExec_t CudaBackend<S>::capture_step(Mode);                                 \
  template void CudaBackend<S>::collect_chunk(const Chunk&, Mode, Predictions*,                \
                                              std::vector<double>*, int64_t);                  \
  template BatchStats CudaBackend<S>::run(const int64_t*, int, Mode, Predictions*,             \
                                          std::vector<double>*);                               \
  template BatchStats CudaBackend<S>::loss_gradient(const int64_t*, int, std::vector<double>&); \
  template BatchStats CudaBackend<S>::train_step(const int64_t*, int, double);                 \
  template BatchStats CudaBackend<S>::evaluate(const int64_t*, int, Predictions*);             \
  template void CudaBackend<S>::atom_beta(const int64_t*, int, std::vector<double>&);

FITNN_INSTANTIATE_STEP(double)
FITNN_INSTANTIATE_STEP(float)
template void CudaBackend<double>::enqueue_chunk<double>(const Chunk&, Mode, const double*);

}  // namespace cuda
}  // namespace fitnn
