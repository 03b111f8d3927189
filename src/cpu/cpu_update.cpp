// CpuBackend<S>: the optimizer's side of a training step. The gradient's reduction, its
// finiteness check, Adam into the other copy of the state and the refresh of the run nets run
// as one phase of units over parameter ranges inside the batch's job (update_unit); the step
// is taken only when everything was finite (finish_step, train_step).
#include <algorithm>
#include <cmath>

#include "cpu/cpu_backend.hpp"
#include "cpu/refused_step.hpp"
#include "fitnn/errors.hpp"

namespace fitnn {

// State st's run nets' parameters after the layers of st.params that start in [p0, p1)
// changed: their W^T, or with the fold the folded nets' layers made from them and W_1^T (for
// update_unit).
template <class S>
void CpuBackend<S>::refresh_run_params(State& st, int64_t p0, int64_t p1) {
  const int* w = m_layout.widths.data();
  const int L = m_layout.nlayers(), nnets = m_layout.nnets();
  if (!m_fold) {
    cpu::transpose_weights_cpu(w, L, nnets, p0, p1, st.params.data(), st.params_t.data());
    return;
  }
  cpu::fold_input_layer_cpu(w, L, nnets, p0, p1, st.params.data(), st.fparams.data(),
                            st.fparams_t.data());
  for (int e = 0; e < nnets; ++e) {
    const int64_t w1 = m_layout.weight_offset(e, 1);
    if (w1 >= p0 && w1 < p1)
      cpu::transpose_weights_cpu(w, L, nnets, w1, w1 + 1, st.params.data(), st.params_t.data());
  }
}

// The parameter ranges of update_unit: whole layers (with the fold, layers 1 and 2 of a net
// together) in T parts of about equal size, so that a unit's refresh of the run nets reads
// only parameters its own Adam step wrote (no barrier between them, no lines from the other
// cores).
template <class S>
void CpuBackend<S>::plan_update_ranges() {
  const int T = m_team.size();
  const int64_t np = m_layout.nparams();
  // End of every group of layers, ascending, in the full vector and in the run nets' vector.
  std::vector<int64_t> ends, run_ends;
  for (int e = 0; e < m_layout.nnets(); ++e)
    for (int l = 1; l <= m_layout.nlayers(); ++l) {
      if (m_fold && l == 1) continue;
      ends.push_back(m_layout.bias_offset(e, l) + m_layout.widths[l]);
      const int lr = m_fold ? l - 1 : l;
      run_ends.push_back(m_run.bias_offset(e, lr) + m_run.widths[lr]);
    }
  m_update_cut.assign(size_t(T + 1), np);
  m_update_run_cut.assign(size_t(T + 1), m_run.nparams());
  m_update_cut[0] = m_update_run_cut[0] = 0;
  for (int t = 1; t < T; ++t) {
    const double target = double(np) * t / T;
    size_t best = ends.size() - 1;
    for (size_t b = 0; b < ends.size(); ++b)
      if (ends[b] >= m_update_cut[size_t(t - 1)] &&
          std::abs(double(ends[b]) - target) < std::abs(double(ends[best]) - target))
        best = b;
    m_update_cut[size_t(t)] = ends[best];
    m_update_run_cut[size_t(t)] = run_ends[best];
  }
}


// The gradients to add to worker 0's: the other workers' (that had configurations), or with
// `split` the other parts' (run_split's part t accumulates into worker t's gradient).
template <class S>
void CpuBackend<S>::set_update_sources(bool split) {
  m_grad_src.clear();
  for (size_t w = 1; w < m_workers.size(); ++w)
    if (split || !m_workers[w].items.empty())
      m_grad_src.push_back(run_grad(m_workers[w]).data());
  m_range_finite.assign(size_t(m_team.size()), 1);
}

// Unit t of parameter range t (plan_update_ranges): worker 0's gradient += the sources' (in
// source order; with the fold, of the folded nets, then mapped to the full parameters), then
// whether the range is finite; when a step was asked for and the loss is finite, Adam on the
// range from the current state into the next one, then the next run nets' parameters made
// from it (whole layers: nothing of another range is read, so no wait between the two).
// Whether the next state is taken is decided once every range is known (finish_step).
template <class S>
void CpuBackend<S>::update_unit(int t, double loss) {
  const int64_t p0 = m_update_cut[size_t(t)], p1 = m_update_cut[size_t(t + 1)];
  S* total = m_workers[0].grad.data();
  const State& now = cur();
  const int64_t q0 = m_update_run_cut[size_t(t)], q1 = m_update_run_cut[size_t(t + 1)];
  S* run_total = run_grad(m_workers[0]).data();
  for (const S* src : m_grad_src)
    for (int64_t i = q0; i < q1; ++i) run_total[i] += src[i];
  if (m_fold)
    cpu::unfold_input_layer_grad_cpu(m_layout.widths.data(), m_layout.nlayers(),
                                     m_layout.nnets(), p0, p1, now.params.data(),
                                     now.params_t.data(), run_total, total);
  // x - x is 0 for a finite x, NaN for Inf and NaN; eight lanes so that it vectorizes.
  S probe[8] = {};
  int64_t i = p0;
  for (; i + 8 <= p1; i += 8)
    for (int j = 0; j < 8; ++j) probe[j] += total[i + j] - total[i + j];
  for (; i < p1; ++i) probe[0] += total[i] - total[i];
  bool finite = true;
  for (int j = 0; j < 8; ++j) finite = finite && probe[j] == S(0);
  m_range_finite[size_t(t)] = finite;
  if (!m_step || !finite || !std::isfinite(loss)) return;
  State& nx = next();
  cpu::adam_step_cpu(now.params.data() + p0, total + p0, now.adam_m.data() + p0,
                     now.adam_v.data() + p0, nx.params.data() + p0, nx.adam_m.data() + p0,
                     nx.adam_v.data() + p0, p1 - p0, m_step_lr, m_beta1, m_beta2, m_eps,
                     m_adam_step + 1);
  refresh_run_params(nx, p0, p1);
}

// After a batch of train_step: the next state becomes current when the loss and every range
// of the gradient were finite (then every range was stepped into it). Returns whether it did.
template <class S>
bool CpuBackend<S>::finish_step(double loss) {
  bool ok = m_step && std::isfinite(loss);
  for (char f : m_range_finite) ok = ok && f;
  if (ok) m_cur = 1 - m_cur;
  return ok;
}

template <class S>
BatchStats CpuBackend<S>::train_step(const int64_t* configs, int n, double lr) {
  check_ready("train_step()", true);
  check_batch(configs, n, "train_step()");
  // The step itself runs inside the batch's job (update_unit), unless something is not
  // finite; then the parameters are left as they were.
  m_step = true;
  m_step_lr = lr;
  BatchStats stats;
  try {
    stats = run(configs, n, Mode::gradient, nullptr, nullptr);
  } catch (...) {
    m_step = false;
    throw;
  }
  const bool stepped = finish_step(stats.loss);
  m_step = false;
  if (!stepped) {
    const auto& grad = m_workers[0].grad;
    throw NumericError(cpu::refused_step_message(name(), m_adam_step + 1, configs, n,
                                                 stats.loss, m_layout, grad.data(),
                                                 int64_t(grad.size())));
  }
  ++m_adam_step;
  return stats;
}

#define FITNN_INSTANTIATE_UPDATE(S)                                                         \
  template void CpuBackend<S>::refresh_run_params(CpuBackend<S>::State&, int64_t, int64_t); \
  template void CpuBackend<S>::plan_update_ranges();                                        \
  template void CpuBackend<S>::set_update_sources(bool);                                    \
  template void CpuBackend<S>::update_unit(int, double);                                    \
  template bool CpuBackend<S>::finish_step(double);                                         \
  template BatchStats CpuBackend<S>::train_step(const int64_t*, int, double);
FITNN_INSTANTIATE_UPDATE(double)
FITNN_INSTANTIATE_UPDATE(float)

}  // namespace fitnn
