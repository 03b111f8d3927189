// scale_cpu (x <- s x) and Adam as PyTorch's torch.optim.Adam applies it (no weight decay, no amsgrad): moments
//   m <- m + (1 - beta1) (g - m),  v <- beta2 v + (1 - beta2) g^2,
// bias corrections c1 = 1 - beta1^t, c2 = 1 - beta2^t, and the step
//   p <- p - (lr / c1) m / (sqrt(v) / sqrt(c2) + eps),
// with sqrt(v) / sqrt(c2) taken as sqrt(v) (1 / sqrt(c2)): the divider is this loop's bound
// (a square root and two divisions per parameter cost ~6 cycles), and the product differs from
// PyTorch's quotient by at most an ulp. The scalar factors are formed in double, the
// per-parameter arithmetic in S; adam_step_cuda does the same operations.
#include <Eigen/Core>
#include <cmath>

#include "cpu/ops.hpp"

namespace fitnn {
namespace cpu {

template <class S>
void adam_step_cpu(const S* params, const S* grad, const S* m, const S* v, S* params_out,
                   S* m_out, S* v_out, int64_t n, double lr, double beta1, double beta2,
                   double eps, int64_t step) {
  using Arr = Eigen::Array<S, Eigen::Dynamic, 1>;
  const double c1 = 1.0 - std::pow(beta1, double(step));
  const double c2 = 1.0 - std::pow(beta2, double(step));
  const S step_size = S(lr / c1);
  const S inv_c2_sqrt = S(1.0 / std::sqrt(c2));
  const S w1 = S(1.0 - beta1), b2 = S(beta2), w2 = S(1.0 - beta2), e = S(eps);
  Eigen::Map<const Arr> p(params, n), mm(m, n), vv(v, n), g(grad, n);
  Eigen::Map<Arr> po(params_out, n), mo(m_out, n), vo(v_out, n);
  // Element by element (inputs and outputs may be the same arrays).
  mo = mm + w1 * (g - mm);
  vo = vv * b2 + w2 * g * g;
  po = p - step_size * (mo / (vo.sqrt() * inv_c2_sqrt + e));
}

template <class S>
void adam_step_cpu(S* params, const S* grad, S* m, S* v, int64_t n, double lr, double beta1,
                   double beta2, double eps, int64_t step) {
  adam_step_cpu<S>(params, grad, m, v, params, m, v, n, lr, beta1, beta2, eps, step);
}

template <class S>
void scale_cpu(int64_t n, S s, S* x) {
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

template void scale_cpu<double>(int64_t, double, double*);
template void scale_cpu<float>(int64_t, float, float*);
template void adam_step_cpu<double>(double*, const double*, double*, double*, int64_t, double,
                                    double, double, double, int64_t);
template void adam_step_cpu<double>(const double*, const double*, const double*, const double*,
                                    double*, double*, double*, int64_t, double, double, double,
                                    double, int64_t);
template void adam_step_cpu<float>(const float*, const float*, const float*, const float*,
                                   float*, float*, float*, int64_t, double, double, double,
                                   double, int64_t);
template void adam_step_cpu<float>(float*, const float*, float*, float*, int64_t, double,
                                   double, double, double, int64_t);

}  // namespace cpu
}  // namespace fitnn
