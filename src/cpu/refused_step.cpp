// refused_step_message (refused_step.hpp).
#include "cpu/refused_step.hpp"

#include <cmath>
#include <sstream>

namespace fitnn {
namespace cpu {

namespace {

template <class S>
std::string first_nonfinite(double loss, const ModelLayout& layout, const S* grad,
                            int64_t ngrad) {
  std::ostringstream msg;
  msg.precision(6);
  if (!std::isfinite(loss)) {
    msg << "the batch loss is " << loss;
    return msg.str();
  }
  for (int64_t i = 0; grad && i < ngrad; ++i) {
    if (std::isfinite(grad[i])) continue;
    msg << "the gradient of " << layout.describe_parameter(i) << " is " << double(grad[i]);
    return msg.str();
  }
  return "a non-finite value";
}

}  // namespace

template <class S>
std::string refused_step_message(const std::string& backend, int64_t step,
                                 const int64_t* configs, int n, double loss,
                                 const ModelLayout& layout, const S* grad, int64_t ngrad) {
  std::ostringstream msg;
  msg << "training step " << step << " (" << backend << ", batch of " << n
      << " configurations starting with dataset configuration " << (n > 0 ? configs[0] : -1)
      << "): " << first_nonfinite(loss, layout, grad, ngrad)
      << "; the parameters were not updated. Lower the learning rate, check the training data "
         "for outliers, or use divergence_retries.";
  return msg.str();
}

template std::string refused_step_message<double>(const std::string&, int64_t, const int64_t*,
                                                  int, double, const ModelLayout&,
                                                  const double*, int64_t);
template std::string refused_step_message<float>(const std::string&, int64_t, const int64_t*,
                                                 int, double, const ModelLayout&, const float*,
                                                 int64_t);

}  // namespace cpu
}  // namespace fitnn
