// The one seam between the trainer and the arithmetic: a Backend evaluates a batch of
// configurations (energies, forces, loss, exact parameter gradient) and applies Adam. The
// CPU reference (src/cpu/, Eigen, float64 or float32) and CUDA (kernels/) implement it; the
// trainer never knows which one it talks to.
//
// A batch is a list of configuration indices into the uploaded Dataset.
// Loss (loss-and-gradients.md), for a batch of M configurations:
//   L = (1/M) sum_m [ wE_m (E_m/N_m - e_m/N_m)^2 + wF_m/(3 N_m) sum_k (F_mk - f_mk)^2 ]
// The weights wE/wF are the dataset's per-configuration eweight/fweight (the trainer rewrites
// them once when global energy_weight/force_weight are given).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fitnn/dataset.hpp"
#include "fitnn/model.hpp"

namespace fitnn {

struct AdamState {
  std::vector<double> m, v;  // (nparams) first and second moments
  int64_t step = 0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

// Sums over a batch, enough for the loss and the error metrics.
struct BatchStats {
  double loss = 0.0;        // the batch loss L above
  int64_t nconfigs = 0;
  int64_t natoms = 0;
};

// Predictions for a batch, in batch order (configs concatenated).
struct Predictions {
  std::vector<double> energy;       // (M) total predicted energy per configuration
  std::vector<double> atom_energy;  // (sum N_m)
  std::vector<double> forces;       // (sum N_m, 3)
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;  // "cpu-float64", "cuda-float32", ...
  // Called once per fit, before anything else; the dataset outlives the backend.
  virtual void upload(const Dataset& data, const ModelLayout& layout) = 0;
  // Parameters, standardization and optimizer state (host doubles at the boundary).
  virtual void set_model(const Model& model) = 0;
  virtual void get_params(std::vector<double>& params) = 0;
  virtual void set_adam(const AdamState& adam) = 0;
  virtual void get_adam(AdamState& adam) = 0;
  // Loss and gradient of the loss w.r.t. all parameters (nparams) for a batch.
  virtual BatchStats loss_gradient(const int64_t* configs, int n, std::vector<double>& grad) = 0;
  // One training step: loss_gradient then Adam with learning rate lr. Returns the loss
  // before the step. Throws NumericError on a NaN/Inf loss or gradient (nothing updated).
  virtual BatchStats train_step(const int64_t* configs, int n, double lr) = 0;
  // Loss without gradient; fills `out` when non-null.
  virtual BatchStats evaluate(const int64_t* configs, int n, Predictions* out) = 0;
};

enum class Precision { f32, f64 };

// "cpu" or "cuda"; threads for the CPU backend (0 = all cores).
std::unique_ptr<Backend> make_backend(const std::string& device, Precision precision,
                                      int threads);

}  // namespace fitnn
