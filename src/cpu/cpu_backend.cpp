// CpuBackend<S>: upload and checks, and the batch driver: a batch split over workers (chunks
// through the ops in the order of loss-and-gradients.md) or over atoms and rows (run_split),
// in phases of one job. The optimizer's side of a step is in cpu_update.cpp, the cutting of a
// batch's rows into parts in row_parts.cpp.
#include "cpu/cpu_backend.hpp"
#include "cpu/huge_pages.hpp"
#include "cpu/upload_checks.hpp"

#include <algorithm>
#include <cmath>
#include <exception>

#include "fitnn/errors.hpp"

namespace fitnn {

namespace {

// Memory a worker's chunk may use for its work arrays (about the size of a core's L2, so that
// the layers of a chunk stay in cache); the chunk capacity in atoms follows from it.
constexpr double kChunkBytes = 2.0 * 1024 * 1024;
constexpr int64_t kMinChunkAtoms = 128, kMaxChunkAtoms = 16384;
// Bytes of the dataset's arrays moved into 2 MB pages at upload (copying them costs ~1 s per
// GB on the development VM; the Ta data set is ~40 MB, the WBe one ~4.5 GB).
constexpr size_t kCollapseBytes = size_t(512) << 20;

}  // namespace

template <class S>
CpuBackend<S>::CpuBackend(int threads, int64_t chunk_atoms, bool fold_input_layer)
    : m_fold_request(fold_input_layer),
      m_team(threads < 1 ? 1 : threads),
      m_chunk_request(chunk_atoms),
      m_unit_claimed(new std::atomic<char>[size_t(kPhases * m_team.size())]) {}

template <class S>
CpuBackend<S>::~CpuBackend() = default;

template <class S>
std::string CpuBackend<S>::name() const {
  return sizeof(S) == 8 ? "cpu-float64" : "cpu-float32";
}

template <class S>
void CpuBackend<S>::upload(const Dataset& data, const ModelLayout& layout) {
  const int d = data.ndesc;
  const int64_t nconf = data.nconfigs(), natoms = data.natoms();
  const int64_t max_atoms = cpu::check_upload(data, layout, "cpu backend", cpu::kMaxLayers);

  m_data = &data;
  m_layout = layout;
  m_have_model = false;
  // The arrays every step streams through, in 2 MB pages (huge_pages.hpp); at most
  // kCollapseBytes moved now (~0.5 s), the rest left to the kernel's background merging.
  size_t budget = kCollapseBytes;
  auto huge = [&budget](const auto& v) {
    budget -= cpu::back_with_huge_pages(v.data(), v.size() * sizeof(v[0]), budget).collapsed;
  };
  huge(data.dgrad64);
  huge(data.dgrad32);
  huge(data.row_i);
  huge(data.row_k);
  huge(data.descriptors);
  m_fold = m_fold_request && layout.input_layer && layout.nlayers() >= 2;
  m_run = layout;
  if (m_fold) {
    m_run.widths.erase(m_run.widths.begin() + 1);
    m_run.input_layer = false;
  }
  const int64_t np = layout.nparams(), nrun = m_run.nparams();
  for (State& st : m_state) {
    st.fparams.assign(m_fold ? size_t(nrun) : 0, S(0));
    st.fparams_t.assign(m_fold ? size_t(nrun) : 0, S(0));
    st.params.assign(size_t(np), S(0));
    st.params_t.assign(size_t(np), S(0));
    st.adam_m.assign(size_t(np), S(0));
    st.adam_v.assign(size_t(np), S(0));
  }
  m_cur = 0;
  m_adam_step = 0;
  m_mean.assign(size_t(d), 0.0);
  m_std.assign(size_t(d), 1.0);
  m_std_s.assign(size_t(d), S(1));

  // Chunk capacity from the bytes of work arrays per atom.
  double per_atom = 2.0 * d + 6 + 4;  // beta, g, forces, phi, energies
  for (int l = 0; l <= m_run.nlayers(); ++l) per_atom += 7.0 * m_run.widths[l];
  per_atom *= sizeof(S);
  int64_t cap = int64_t(kChunkBytes / per_atom);
  cap = std::min(std::max(cap, kMinChunkAtoms), kMaxChunkAtoms);
  cap = std::min(cap, std::max<int64_t>(natoms, 1));
  if (m_chunk_request > 0) cap = m_chunk_request;
  cap = std::max(cap, max_atoms);
  m_capacity = (cap + 7) / 8 * 8;
  m_workers.clear();
  m_workers.resize(size_t(m_team.size()));
  for (auto& wk : m_workers) {
    wk.ws.allocate(m_run, m_capacity, m_capacity);
    wk.grad.assign(size_t(np), S(0));
    wk.fgrad.assign(m_fold ? size_t(nrun) : 0, S(0));
  }
  plan_update_ranges();
  m_part_g.assign(size_t(m_team.size()), cpu::AlignedVector<S>(size_t(d * m_capacity), S(0)));
  m_batch_atom.assign(size_t(nconf + 1), 0);
  m_cost.assign(size_t(nconf), 0.0);
  m_order.assign(size_t(nconf), 0);
  for (auto& wk : m_workers) {
    wk.items.reserve(size_t(nconf));
    wk.cfgs.reserve(size_t(nconf));
  }

  // Work estimates for balancing the workers: MLP multiply-adds per atom (forward, beta,
  // tangent, reverse ~ 6 passes) and derivative-row multiply-adds per row (two passes).
  double mlp = 0.0;
  for (int l = 1; l <= m_run.nlayers(); ++l) mlp += double(m_run.widths[l]) * m_run.widths[l - 1];
  m_cost_atom = 6.0 * mlp;
  m_cost_row = 2.0 * d;
}

template <class S>
void CpuBackend<S>::check_ready(const char* what, bool need_model) const {
  if (!m_data) throw std::logic_error(std::string("cpu backend: ") + what + " before upload()");
  if (need_model && !m_have_model)
    throw std::logic_error(std::string("cpu backend: ") + what + " before set_model()");
}

template <class S>
void CpuBackend<S>::set_model(const Model& model) {
  check_ready("set_model()", false);
  if (!(model.layout == m_layout))
    throw InputError("cpu backend: the model's layout differs from the one uploaded with the "
                     "dataset");
  const int d = m_layout.ndesc;
  if (int64_t(model.params.size()) != m_layout.nparams())
    throw InputError("cpu backend: the model has " + std::to_string(model.params.size()) +
                     " parameters, its layout needs " + std::to_string(m_layout.nparams()));
  if (int(model.mean.size()) != d || int(model.std.size()) != d)
    throw InputError("cpu backend: the model's standardization is not (ndesc)");
  for (int k = 0; k < d; ++k)
    if (!(model.std[k] > 0.0) || !std::isfinite(model.std[k]) || !std::isfinite(model.mean[k]))
      throw InputError("cpu backend: standardization entry " + std::to_string(k) +
                       " is not finite or has std <= 0");
  std::copy(model.params.begin(), model.params.end(), cur().params.begin());
  refresh_run_params(cur(), 0, m_layout.nparams());
  m_mean = model.mean;
  m_std = model.std;
  for (int k = 0; k < d; ++k) m_std_s[k] = S(m_std[k]);
  if (!(std::isfinite(model.output_scale) && model.output_scale > 0.0))
    throw InputError("cpu backend: the model's output_scale is not a positive number");
  m_scale = S(model.output_scale);
  m_have_model = true;
}

template <class S>
void CpuBackend<S>::get_params(std::vector<double>& params) {
  check_ready("get_params()", true);
  params.assign(cur().params.begin(), cur().params.end());
}

template <class S>
void CpuBackend<S>::set_adam(const AdamState& adam) {
  check_ready("set_adam()", false);
  const size_t np = size_t(m_layout.nparams());
  if ((!adam.m.empty() && adam.m.size() != np) || (!adam.v.empty() && adam.v.size() != np))
    throw InputError("cpu backend: the Adam moments have " + std::to_string(adam.m.size()) +
                     " entries, the model has " + std::to_string(np) + " parameters");
  State& st = cur();
  if (adam.m.empty())
    std::fill(st.adam_m.begin(), st.adam_m.end(), S(0));
  else
    std::copy(adam.m.begin(), adam.m.end(), st.adam_m.begin());
  if (adam.v.empty())
    std::fill(st.adam_v.begin(), st.adam_v.end(), S(0));
  else
    std::copy(adam.v.begin(), adam.v.end(), st.adam_v.begin());
  m_adam_step = adam.step;
  m_beta1 = adam.beta1;
  m_beta2 = adam.beta2;
  m_eps = adam.eps;
}

template <class S>
void CpuBackend<S>::get_adam(AdamState& adam) {
  check_ready("get_adam()", false);
  adam.m.assign(cur().adam_m.begin(), cur().adam_m.end());
  adam.v.assign(cur().adam_v.begin(), cur().adam_v.end());
  adam.step = m_adam_step;
  adam.beta1 = m_beta1;
  adam.beta2 = m_beta2;
  adam.eps = m_eps;
}

template <class S>
void CpuBackend<S>::check_batch(const int64_t* configs, int n, const char* what) const {
  if (n < 0 || (n > 0 && !configs))
    throw std::invalid_argument(std::string("cpu backend: ") + what + ": bad batch");
  const int64_t nconf = m_data->nconfigs();
  for (int m = 0; m < n; ++m)
    if (configs[m] < 0 || configs[m] >= nconf)
      throw DataError(std::string("cpu backend: ") + what + ": configuration index " +
                      std::to_string(configs[m]) + " is outside the dataset's " +
                      std::to_string(nconf));
}

template <class S>
cpu::MlpNet<S> CpuBackend<S>::net_view(int net) const {
  cpu::MlpNet<S> v;
  const int64_t off = m_run.nparams_per_net() * net;
  const State& st = cur();
  v.params = (m_fold ? st.fparams.data() : st.params.data()) + off;
  v.params_t = (m_fold ? st.fparams_t.data() : st.params_t.data()) + off;
  v.widths = m_run.widths.data();
  v.nlayers = m_run.nlayers();
  v.act = m_run.activation;
  v.linear_first = m_run.input_layer;
  return v;
}

// A unit of work's gradient: zeroed, in the run nets' layout (the passes accumulate into it;
// update_unit maps the total to the full parameters).
template <class S>
S* CpuBackend<S>::begin_gradient(Worker& wk) {
  auto& g = run_grad(wk);
  std::fill(g.begin(), g.end(), S(0));
  return g.data();
}

// The three stages of a batch on a workspace's plan, shared by run_chunk (a worker's
// configurations) and run_split (parts of one batch).

// Columns [c0, c0 + blk.n) of net `net`: h_0, the forward pass, beta, then the output scale
// (E_i = s z_L, so the atom energies and beta scale with it).
template <class S>
void CpuBackend<S>::primal_block(cpu::Workspace<S>& ws, int net, const cpu::MlpBlock<S>& blk,
                                 int64_t c0) const {
  using namespace cpu;
  const Dataset& data = *m_data;
  const int d = m_layout.ndesc;
  const int onehot = m_layout.option == 3 ? m_layout.nelements : 0;
  const MlpNet<S> v = net_view(net);
  standardize_cpu(blk.n, ws.atoms.data() + c0, data.descriptors.data(), d, m_mean.data(),
                  m_std.data(), data.atom_type.data(), onehot, blk.hh[0]);
  mlp_forward_cpu(v, blk);
  mlp_beta_cpu(v, blk, d, m_std_s.data(), ws.beta.data() + c0 * d);
  if (m_scale != S(1)) {
    scale_cpu(blk.n, m_scale, ws.atom_energy.data() + c0);
    scale_cpu(blk.n * d, m_scale, ws.beta.data() + c0 * d);
  }
}

// Configurations [m0, m0 + mc) of the plan: energies, forces (and with `grad` phi and g in the
// same pass over the rows), the loss terms and eps. Returns their loss (loss_cpu's sum; phi is
// the rows pass's, not formed a second time).
template <class S>
template <class Dg>
double CpuBackend<S>::rows_and_loss(cpu::Workspace<S>& ws, int m0, int mc, bool grad,
                                    const Dg* dgrad) const {
  using namespace cpu;
  const Dataset& data = *m_data;
  const int d = m_layout.ndesc;
  const int32_t* cols = ws.cols();
  const int64_t* cf = ws.configs + m0;
  const int64_t* base = ws.atom_base.data() + m0;
  config_energy_cpu(mc, base, cols, ws.atom_energy.data(), ws.energy.data() + m0);
  if (grad)
    force_contract_transpose_cpu(mc, cf, data.row_offset.data(), data.atom_offset.data(),
                                 data.forces.data(), data.fweight.data(), base, cols,
                                 data.row_i.data(), data.row_k.data(), dgrad, d, ws.beta.data(),
                                 m_inv_m, ws.forces.data(), ws.phi.data(), ws.g.data());
  else
    force_contract_cpu(mc, cf, data.row_offset.data(), base, cols, data.row_i.data(),
                       data.row_k.data(), dgrad, d, ws.beta.data(), ws.forces.data());
  double loss = 0.0;
  for (int m = 0; m < mc; ++m)
    loss += loss_part_cpu(m, cf, 0, int(3 * (base[m + 1] - base[m])), true,
                          data.atom_offset.data(), data.energy.data(), data.forces.data(),
                          data.eweight.data(), data.fweight.data(), base, cols,
                          ws.energy.data() + m0, ws.forces.data(), m_inv_m, ws.eps.data() + m0,
                          grad ? ws.eps_col.data() : nullptr);
  return loss;
}

// Columns [c0, c0 + blk.n) of net `net`: the adjoints of s z_L and s beta with respect to z_L
// and beta, then the tangent and reverse passes, accumulated into `grad` (the net's slice).
template <class S>
void CpuBackend<S>::adjoint_block(cpu::Workspace<S>& ws, int net, const cpu::MlpBlock<S>& blk,
                                  int64_t c0, S* grad) const {
  using namespace cpu;
  const int d = m_layout.ndesc;
  if (m_scale != S(1)) {
    scale_cpu(blk.n, m_scale, ws.eps_col.data() + c0);
    scale_cpu(blk.n * d, m_scale, ws.g.data() + c0 * d);
  }
  const MlpNet<S> v = net_view(net);
  mlp_tangent_cpu(v, blk, d, m_std_s.data(), ws.g.data() + c0 * d);
  mlp_reverse_cpu(v, blk, ws.eps_col.data() + c0, grad);
}

template <class S>
template <class Dg>
void CpuBackend<S>::run_chunk(Worker& wk, int64_t i0, int nconf, Mode mode, const Dg* dgrad,
                              Predictions* pred, std::vector<double>* beta_out) {
  using namespace cpu;
  const Dataset& data = *m_data;
  cpu::Workspace<S>& ws = wk.ws;
  const int d = m_layout.ndesc;
  const int nnets = m_layout.nnets();
  const int64_t* items = wk.items.data() + i0;  // batch positions of the chunk's configurations
  ws.plan(data, m_run, wk.cfgs.data() + i0, nconf);
  const int32_t* cols = ws.cols();

  for (int e = 0; e < nnets; ++e)
    if (ws.blocks[e].n > 0) primal_block(ws, e, ws.blocks[e], ws.seg_start[e]);
  if (mode == Mode::beta) {
    for (int m = 0; m < nconf; ++m) {
      double* out = beta_out->data() + m_batch_atom[items[m]] * d;
      for (int64_t a = ws.atom_base[m]; a < ws.atom_base[m + 1]; ++a, out += d) {
        const S* src = ws.beta.data() + int64_t(cols ? cols[a] : a) * d;
        for (int k = 0; k < d; ++k) out[k] = double(src[k]);
      }
    }
    return;
  }
  const bool grad = mode == Mode::gradient;
  wk.loss += rows_and_loss(ws, 0, nconf, grad, dgrad);
  if (pred) {
    for (int m = 0; m < nconf; ++m) {
      pred->energy[size_t(items[m])] = ws.energy[m];
      int64_t out = m_batch_atom[items[m]];
      for (int64_t a = ws.atom_base[m]; a < ws.atom_base[m + 1]; ++a, ++out) {
        pred->atom_energy[size_t(out)] = double(ws.atom_energy[cols ? cols[a] : a]);
        for (int k = 0; k < 3; ++k) pred->forces[size_t(3 * out + k)] = double(ws.forces[3 * a + k]);
      }
    }
  }
  if (!grad) return;
  const int64_t npn = m_run.nparams_per_net();
  S* unit_grad = run_grad(wk).data();
  for (int e = 0; e < nnets; ++e)
    if (ws.blocks[e].n > 0)
      adjoint_block(ws, e, ws.blocks[e], ws.seg_start[e], unit_grad + npn * e);
}

template <class S>
void CpuBackend<S>::run_worker(int w, Mode mode, Predictions* pred, std::vector<double>* beta) {
  Worker& wk = m_workers[size_t(w)];
  wk.loss = 0.0;
  if (mode == Mode::gradient) begin_gradient(wk);
  const int64_t end = int64_t(wk.items.size());
  for (int64_t i = 0; i < end;) {
    // Greedy chunk: as many configurations as fit in the capacity (at least one).
    int64_t e = i + 1, atoms = m_data->natoms_of(wk.cfgs[size_t(i)]);
    while (e < end && atoms + m_data->natoms_of(wk.cfgs[size_t(e)]) <= m_capacity)
      atoms += m_data->natoms_of(wk.cfgs[size_t(e++)]);
    if (m_data->derivative_bits == 64)
      run_chunk(wk, i, int(e - i), mode, m_data->dgrad64.data(), pred, beta);
    else
      run_chunk(wk, i, int(e - i), mode, m_data->dgrad32.data(), pred, beta);
    i = e;
  }
}

template <class S>
void CpuBackend<S>::assign_workers(const int64_t* configs, int n) {
  const int T = m_team.size();
  for (auto& wk : m_workers) {
    wk.items.clear();
    wk.cfgs.clear();
    wk.load = 0.0;
  }
  if (T == 1) {
    for (int m = 0; m < n; ++m) m_workers[0].items.push_back(m);
  } else {
    // Largest first to the least loaded worker (ties: the lower position, the lower worker),
    // then each worker's configurations in batch order.
    m_order.resize(size_t(n));
    for (int m = 0; m < n; ++m) m_order[size_t(m)] = m;
    std::sort(m_order.begin(), m_order.end(), [&](int64_t x, int64_t y) {
      return m_cost[size_t(x)] > m_cost[size_t(y)] ||
             (m_cost[size_t(x)] == m_cost[size_t(y)] && x < y);
    });
    for (int64_t m : m_order) {
      Worker* best = &m_workers[0];
      for (auto& wk : m_workers)
        if (wk.load < best->load) best = &wk;
      best->items.push_back(m);
      best->load += m_cost[size_t(m)];
    }
    for (auto& wk : m_workers) std::sort(wk.items.begin(), wk.items.end());
  }
  for (auto& wk : m_workers)
    for (int64_t m : wk.items) wk.cfgs.push_back(configs[m]);
}

template <class S>
BatchStats CpuBackend<S>::run(const int64_t* configs, int n, Mode mode, Predictions* pred,
                              std::vector<double>* beta) {
  const Dataset& data = *m_data;
  BatchStats stats;
  stats.nconfigs = n;
  if (m_batch_atom.size() < size_t(n + 1)) m_batch_atom.resize(size_t(n + 1));
  if (m_cost.size() < size_t(n)) m_cost.resize(size_t(n));
  m_batch_atom[0] = 0;
  for (int m = 0; m < n; ++m) {
    const int64_t c = configs[m];
    m_batch_atom[m + 1] = m_batch_atom[m] + data.natoms_of(c);
    m_cost[size_t(m)] = m_cost_atom * data.natoms_of(c) +
                        m_cost_row * double(data.row_offset[c + 1] - data.row_offset[c]);
  }
  stats.natoms = m_batch_atom[n];
  m_inv_m = n > 0 ? 1.0 / n : 1.0;
  if (can_split(mode, n, stats.natoms, pred)) {
    const bool grad = mode == Mode::gradient;
    stats.loss = data.derivative_bits == 64 ? run_split(configs, n, grad, data.dgrad64.data())
                                            : run_split(configs, n, grad, data.dgrad32.data());
    return stats;
  }
  assign_workers(configs, n);
  if (pred) {
    pred->energy.assign(size_t(n), 0.0);
    pred->atom_energy.assign(size_t(stats.natoms), 0.0);
    pred->forces.assign(size_t(3 * stats.natoms), 0.0);
  }
  if (beta) beta->assign(size_t(stats.natoms * m_layout.ndesc), 0.0);
  // Workers are units of work claimed by whichever thread is free (see thread_team.hpp); each
  // has its own work arrays and gradient, so the result does not depend on who ran it.
  if (mode == Mode::gradient) {
    // One job: the workers as the units of phase 2, then the update (phase 3: the total
    // gradient summed into worker 0's in worker order, the step when train_step asked).
    set_update_sources(false);
    run_phases(2, 2, [&](int phase, int t) {
      if (phase == 2) {
        run_worker(t, mode, pred, beta);
        return;
      }
      double loss = 0.0;  // the same sum, in worker order, in every unit
      for (const auto& wk : m_workers) loss += wk.loss;
      update_unit(t, loss);
    });
  } else {
    m_next_worker.store(0);
    const int nworkers = int(m_workers.size());
    auto job = [&](int) {
      for (int w; (w = m_next_worker.fetch_add(1)) < nworkers;) run_worker(w, mode, pred, beta);
    };
    m_team.run(job);
  }
  for (const auto& wk : m_workers) stats.loss += wk.loss;
  return stats;
}

// Runs phases [first, first + nphases) of a job: in each, units t = 0..T-1 are claimed by
// whichever thread is free, and every thread waits for all units of the phase before the next
// (a thread that never joins only means the other does it all; results do not depend on which
// thread ran a unit). Thread w looks at unit w first: part w's atoms, rows and parameters stay
// in one core's caches from phase to phase and step to step, unless that thread is late.
// A unit that throws still counts as done (no thread is left waiting for it), the units of
// later phases are skipped, and the first exception is rethrown once the job is over.
template <class S>
template <class Unit>
void CpuBackend<S>::run_phases(int first, int nphases, const Unit& unit) {
  const int T = m_team.size();
  for (int p = first; p < first + nphases; ++p) {
    for (int t = 0; t < T; ++t) m_unit_claimed[size_t(p * T + t)].store(0);
    m_unit_done[p].store(0);
  }
  std::atomic<bool> failed{false};
  std::exception_ptr error;  // the first unit's exception (written under `failed`)
  auto job = [&](int w) {
    for (int p = first; p < first + nphases; ++p) {
      std::atomic<char>* claimed = m_unit_claimed.get() + p * T;
      for (int i = 0; i < T; ++i) {
        const int t = (w + i) % T;
        if (claimed[t].load(std::memory_order_relaxed) || claimed[t].exchange(1)) continue;
        if (!failed.load(std::memory_order_relaxed)) {
          try {
            unit(p, t);
          } catch (...) {
            if (!failed.exchange(true)) error = std::current_exception();
          }
        }
        m_unit_done[p].fetch_add(1, std::memory_order_release);
      }
      while (m_unit_done[p].load(std::memory_order_acquire) < T) cpu::cpu_relax();
    }
  };
  m_team.run(job);
  if (failed.load()) std::rethrow_exception(error);
}

// A small batch of one net (options 1 and 3) is split between the threads by ATOMS rather
// than by configurations: a batch of 4 Ta configurations of 2 to 100 atoms splits unevenly by
// configurations, and then one thread waits for the other.
template <class S>
bool CpuBackend<S>::can_split(Mode mode, int n, int64_t natoms, const Predictions* pred) const {
  const int T = m_team.size();
  return T > 1 && m_layout.nnets() == 1 && mode != Mode::beta && pred == nullptr && n >= 1 &&
         natoms <= m_capacity && n <= m_capacity && natoms >= 8 * int64_t(T);
}

// Three phases (run_phases), with the gradient one more (3: update_unit):
//   0. part t of the atoms: standardize, forward, beta (and the output scale);
//   1. part t of the rows (row_parts.hpp): forces, phi, the loss terms, eps, and the force
//      adjoints into part t's buffer;
//   2. part t of the atoms: g summed over the buffers, then tangent and reverse into worker
//      t's gradient.
// Worker 0's workspace holds the whole batch; the parts are disjoint column ranges of it.
template <class S>
template <class Dg>
double CpuBackend<S>::run_split(const int64_t* configs, int n, bool grad, const Dg* dgrad) {
  using namespace cpu;
  Workspace<S>& ws = m_workers[0].ws;
  const int T = m_team.size();
  const int d = m_layout.ndesc;
  ws.plan(*m_data, m_run, configs, n);
  const int64_t natoms = ws.atom_base[n];
  m_part_col.resize(size_t(T + 1));
  for (int t = 0; t <= T; ++t) m_part_col[size_t(t)] = natoms * t / T;
  m_part_loss.assign(size_t(T), 0.0);
  m_row_parts.plan(*m_data, ws.configs, ws.nconf, ws.atom_base.data(), T);

  auto unit = [&](int phase, int t) {
    const int64_t c0 = m_part_col[size_t(t)], nc = m_part_col[size_t(t + 1)] - c0;
    if (phase == 0) {
      if (nc > 0) primal_block(ws, 0, ws.view(m_run, c0, nc), c0);
    } else if (phase == 1) {
      m_part_loss[size_t(t)] =
          row_part_cpu(m_row_parts, t, *m_data, ws, dgrad, m_inv_m,
                       grad ? m_part_g[size_t(t)].data() : nullptr);
    } else if (phase == 2) {
      Worker& wk = m_workers[size_t(t)];
      S* g = begin_gradient(wk);
      if (nc == 0) return;
      // g of columns [c0, c0 + nc): the sum of the parts' buffers, in part order.
      S* gs = ws.g.data();
      std::fill(gs + c0 * d, gs + (c0 + nc) * d, S(0));
      for (int u = 0; u < T; ++u) {
        const int64_t lo = std::max(c0, m_row_parts.lo(u));
        const int64_t hi = std::min(c0 + nc, m_row_parts.hi(u));
        const S* src = m_part_g[size_t(u)].data();
        for (int64_t i = lo * d; i < hi * d; ++i) gs[i] += src[i];
      }
      adjoint_block(ws, 0, ws.view(m_run, c0, nc), c0, g);
    } else {
      // The loss is complete after phase 1; the same sum in every thread.
      double loss = 0.0;
      for (int u = 0; u < T; ++u) loss += m_part_loss[size_t(u)];
      update_unit(t, loss);
    }
  };
  // With the gradient: the parts' gradients summed in part order and the optimizer step,
  // in the same job (phase 3).
  if (grad) set_update_sources(true);
  run_phases(0, grad ? 4 : 2, unit);

  double loss = 0.0;
  for (int t = 0; t < T; ++t) loss += m_part_loss[size_t(t)];
  return loss;
}

template <class S>
BatchStats CpuBackend<S>::loss_gradient(const int64_t* configs, int n,
                                        std::vector<double>& grad) {
  check_ready("loss_gradient()", true);
  check_batch(configs, n, "loss_gradient()");
  BatchStats stats = run(configs, n, Mode::gradient, nullptr, nullptr);
  grad.assign(m_workers[0].grad.begin(), m_workers[0].grad.end());
  return stats;
}

template <class S>
BatchStats CpuBackend<S>::evaluate(const int64_t* configs, int n, Predictions* out) {
  check_ready("evaluate()", true);
  check_batch(configs, n, "evaluate()");
  return run(configs, n, Mode::evaluate, out, nullptr);
}

template <class S>
void CpuBackend<S>::atom_beta(const int64_t* configs, int n, std::vector<double>& beta) {
  check_ready("atom_beta()", true);
  check_batch(configs, n, "atom_beta()");
  run(configs, n, Mode::beta, nullptr, &beta);
}

template class CpuBackend<double>;
template class CpuBackend<float>;

}  // namespace fitnn
