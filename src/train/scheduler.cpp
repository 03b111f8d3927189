// ReduceLROnPlateau (include/fitnn/trainer.hpp): the learning-rate schedule FitSNAP builds
// (factor 0.5, patience 49, threshold 1e-4 absolute, on the validation loss) and never steps;
// FitNN steps it once per epoch. Rules as PyTorch documents them for mode "min",
// threshold_mode "abs", cooldown 0, eps 1e-8.
#include <algorithm>

#include "fitnn/trainer.hpp"

namespace fitnn {

namespace {
constexpr double kMinChange = 1e-8;  // smaller reductions are skipped (PyTorch's eps)
}

PlateauScheduler::PlateauScheduler(double lr, double factor, int patience, double threshold,
                                   double min_lr)
    : m_factor(factor), m_threshold(threshold), m_min_lr(min_lr), m_patience(patience) {
  m_state.lr = lr;
}

bool PlateauScheduler::step(double loss) {
  // A NaN loss is never an improvement (the comparison is false), as in PyTorch.
  if (loss < m_state.best - m_threshold) {
    m_state.best = loss;
    m_state.bad_epochs = 0;
    return false;
  }
  m_state.bad_epochs += 1;
  if (m_state.bad_epochs <= m_patience) return false;
  m_state.bad_epochs = 0;
  const double reduced = std::max(m_state.lr * m_factor, m_min_lr);
  if (m_state.lr - reduced <= kMinChange) return false;
  m_state.lr = reduced;
  return true;
}

}  // namespace fitnn
