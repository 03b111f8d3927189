// CpuBackend<S>: the reference Backend (backend.hpp) on the CPU, S = double or float. A batch
// is split by configurations into one unit of work per thread (the loss and its gradient are
// sums over configurations, so units never talk until their gradients are added), largest
// configuration first to the least loaded unit; threads claim units as they come free (a
// thread the OS does not schedule in time takes none). Each unit runs its configurations in
// chunks through the ops of ops.hpp with its own preallocated work arrays and gradient, so the
// result depends only on the batch and the thread count: bitwise reproducible. A small batch
// of one net is instead split by atoms and by derivative rows (run_split), and the gradient's
// reduction and the Adam step run in the team too, split by parameters (update_unit).
// The dataset's derivative rows are read in place, in whichever precision they are stored.
// With a linear input layer (input_layer = trainable) the passes run on the folded net
// (fold_ops.cpp: layer 1 merged into layer 2, the same function); their summed gradient is
// mapped back to the full parameters in the reduction.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cpu/ops.hpp"
#include "cpu/row_parts.hpp"
#include "cpu/thread_team.hpp"
#include "cpu/workspace.hpp"
#include "fitnn/backend.hpp"

namespace fitnn {

template <class S>
class CpuBackend final : public Backend {
 public:
  // threads: worker threads (>= 1; the factory turns 0 into the number of cores).
  // chunk_atoms: atoms a worker runs through the MLP at once (0: from a memory budget);
  // tests set it small to exercise chunking. It is raised to the largest configuration.
  // fold_input_layer: run a linear input layer folded into the next layer (tests turn it off
  // to check the fold against the plain passes).
  explicit CpuBackend(int threads = 1, int64_t chunk_atoms = 0, bool fold_input_layer = true);
  ~CpuBackend() override;

  std::string name() const override;
  void upload(const Dataset& data, const ModelLayout& layout) override;
  void set_model(const Model& model) override;
  void get_params(std::vector<double>& params) override;
  void set_adam(const AdamState& adam) override;
  void get_adam(AdamState& adam) override;
  BatchStats loss_gradient(const int64_t* configs, int n, std::vector<double>& grad) override;
  BatchStats train_step(const int64_t* configs, int n, double lr) override;
  BatchStats evaluate(const int64_t* configs, int n, Predictions* out) override;

  // Not part of Backend (tests, tools): beta_i = dE_i/dx_i of the batch's atoms in batch
  // order, (sum N_m, ndesc) row-major.
  void atom_beta(const int64_t* configs, int n, std::vector<double>& beta);
  int threads() const { return m_team.size(); }
  int64_t chunk_capacity() const { return m_capacity; }
  bool folds_input_layer() const { return m_fold; }  // after upload()

 private:
  enum class Mode { beta, evaluate, gradient };
  // One copy of the trained state (m_state).
  struct State {
    cpu::AlignedVector<S> params, adam_m, adam_v;
    cpu::AlignedVector<S> params_t;  // params with every W_l transposed (MlpNet::params_t; with
                                     // m_fold only W_1^T is kept, for the gradient's unfold)
    cpu::AlignedVector<S> fparams, fparams_t;  // with m_fold: the folded nets and their W^T
  };
  struct Worker {
    cpu::Workspace<S> ws;
    cpu::AlignedVector<S> grad;  // (nparams) this worker's share of the gradient
    cpu::AlignedVector<S> fgrad;  // (m_run.nparams()) the same of the folded nets (m_fold)
    double loss = 0.0;
    std::vector<int64_t> items;  // batch positions of its configurations (ascending)
    std::vector<int64_t> cfgs;   // their dataset indices
    double load = 0.0;           // estimated work assigned
  };

  BatchStats run(const int64_t* configs, int n, Mode mode, Predictions* pred,
                 std::vector<double>* beta);
  void assign_workers(const int64_t* configs, int n);
  void run_worker(int w, Mode mode, Predictions* pred, std::vector<double>* beta);
  template <class Dg>
  void run_chunk(Worker& wk, int64_t i0, int nconf, Mode mode, const Dg* dgrad,
                 Predictions* pred, std::vector<double>* beta);
  bool can_split(Mode mode, int n, int64_t natoms, const Predictions* pred) const;
  template <class Dg>
  double run_split(const int64_t* configs, int n, bool grad, const Dg* dgrad);
  template <class Unit>
  void run_phases(int first, int nphases, const Unit& unit);
  void set_update_sources(bool split);
  void update_unit(int t, double loss);
  bool finish_step(double loss);
  cpu::MlpNet<S> net_view(int net) const;
  // The gradient in the run nets' layout: wk.fgrad with the fold, else wk.grad.
  cpu::AlignedVector<S>& run_grad(Worker& wk) { return m_fold ? wk.fgrad : wk.grad; }
  S* begin_gradient(Worker& wk);
  void refresh_run_params(State& st, int64_t p0, int64_t p1);
  void plan_update_ranges();
  void primal_block(cpu::Workspace<S>& ws, int net, const cpu::MlpBlock<S>& blk,
                    int64_t c0) const;
  template <class Dg>
  double rows_and_loss(cpu::Workspace<S>& ws, int m0, int mc, bool grad, const Dg* dgrad) const;
  void adjoint_block(cpu::Workspace<S>& ws, int net, const cpu::MlpBlock<S>& blk, int64_t c0,
                     S* grad) const;
  void check_ready(const char* what, bool need_model) const;
  void check_batch(const int64_t* configs, int n, const char* what) const;

  const Dataset* m_data = nullptr;
  ModelLayout m_layout;
  // The nets the passes run on: m_layout, or with m_fold its input layer folded into layer 2
  // (widths {w0, w2, ...}).
  bool m_fold_request = true, m_fold = false;
  ModelLayout m_run;
  // The trained state twice: the passes read m_state[m_cur]; a training step's update writes
  // the other copy, which becomes current only when the loss and every gradient range were
  // finite (finish_step); otherwise the parameters stay as they were, without a copy back.
  State m_state[2];
  int m_cur = 0;
  State& cur() { return m_state[m_cur]; }
  const State& cur() const { return m_state[m_cur]; }
  State& next() { return m_state[1 - m_cur]; }
  bool m_have_model = false;
  int64_t m_adam_step = 0;
  double m_beta1 = 0.9, m_beta2 = 0.999, m_eps = 1e-8;
  std::vector<double> m_mean, m_std;  // (ndesc) standardization
  cpu::AlignedVector<S> m_std_s;            // (ndesc) std in S for beta and the tangent input
  S m_scale = S(1);                   // the model's output_scale: E_i = s z_L
  cpu::ThreadTeam m_team;
  std::vector<Worker> m_workers;
  int64_t m_chunk_request = 0;        // chunk_atoms of the constructor
  int64_t m_capacity = 0;             // atoms per chunk
  double m_cost_atom = 1.0, m_cost_row = 1.0;  // relative work per atom and per row
  // Per batch (sized at upload for a batch of every configuration).
  std::vector<int64_t> m_batch_atom;  // (n + 1) first batch atom of each batch configuration
  std::vector<double> m_cost;         // (n) estimated work of each batch configuration
  std::vector<int64_t> m_order;       // (n) batch positions, most work first
  double m_inv_m = 1.0;               // 1 / batch size
  std::atomic<int> m_next_worker{0};  // next unclaimed worker (unit of work) of a batch
  // Split batches (run_split): one plan, its atoms cut into one block per thread.
  std::vector<int64_t> m_part_col;     // (threads + 1) first column of each part
  std::vector<double> m_part_loss;     // (threads) loss terms of each part's rows
  cpu::RowParts m_row_parts;           // the batch's rows cut into one part per thread
  // (threads) (ndesc, capacity) each row part's force adjoints, summed per column in phase 2
  std::vector<cpu::AlignedVector<S>> m_part_g;
  // Phases of a job (run_phases): units claimed per phase, a wait for all units between.
  static constexpr int kPhases = 4;
  std::unique_ptr<std::atomic<char>[]> m_unit_claimed;  // (kPhases, threads) unit taken
  std::atomic<int> m_unit_done[kPhases] = {};
  // The gradient's reduction and the optimizer step as one phase of units over parameter
  // ranges m_update_cut (update_unit, plan_update_ranges): the sources' gradients summed into
  // worker 0's in source order with a finiteness check, then, when train_step asked for it
  // (m_step), Adam from the current state into the next one and the next run nets' parameters
  // made from it (refresh_run_params).
  std::vector<int64_t> m_update_cut;    // (threads + 1) whole layers per range
  std::vector<int64_t> m_update_run_cut;  // (threads + 1) the same layers in m_run's vector
  std::vector<const S*> m_grad_src;     // gradients to add to worker 0's, in order
  std::vector<char> m_range_finite;     // (threads) the range's summed gradient is finite
  bool m_step = false;                  // the batch ends with Adam at rate m_step_lr
  double m_step_lr = 0.0;
};

extern template class CpuBackend<double>;
extern template class CpuBackend<float>;

}  // namespace fitnn
