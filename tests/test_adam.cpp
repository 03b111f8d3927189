// Adam (PyTorch's update rule, bias-corrected) against numbers computed by hand (40-digit
// decimal arithmetic of m = b1 m + (1-b1) g, v = b2 v + (1-b2) g^2,
// p -= lr/(1-b1^t) m / (sqrt(v)/sqrt(1-b2^t) + eps)), in double and float, and through the
// backend's train_step (moments, step count, the NaN guard leaving everything untouched), and
// the message of a refused step (refused_step.hpp).
#include <cmath>
#include <limits>

#include "cpu/cpu_backend.hpp"
#include "cpu/ops.hpp"
#include "cpu/refused_step.hpp"
#include "cpu_fixtures.hpp"
#include "fitnn/errors.hpp"
#include "support.hpp"

using namespace fitnn;
using namespace fitnn_test;

namespace {

const double kG1[3] = {0.1, -0.2, 0.0};
const double kG2[3] = {0.3, 0.1, -0.4};
// After step 1 and step 2 (lr 0.01, beta1 0.9, beta2 0.999, eps 1e-8) from p = (1, -2, 0.5).
const double kP1[3] = {0.99000000099999990, -1.9900000005000000, 0.5};
const double kP2[3] = {0.98082219022055893, -1.9873366302718676, 0.50744136797264357};
const double kM2[3] = {0.039, -0.008, -0.04};
const double kV2[3] = {0.00009999, 0.00004996, 0.000160};

template <class S>
void two_steps(double tol) {
  S p[3] = {S(1), S(-2), S(0.5)}, m[3] = {}, v[3] = {};
  S g1[3], g2[3];
  for (int i = 0; i < 3; ++i) {
    g1[i] = S(kG1[i]);
    g2[i] = S(kG2[i]);
  }
  cpu::adam_step_cpu(p, g1, m, v, 3, 0.01, 0.9, 0.999, 1e-8, 1);
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(double(p[i]), kP1[i], tol * std::abs(kP1[i])) << "step 1, p" << i;
    EXPECT_NEAR(double(m[i]), 0.1 * kG1[i], tol * 0.1) << "step 1, m" << i;
    EXPECT_NEAR(double(v[i]), 0.001 * kG1[i] * kG1[i], tol * 0.001 * kG1[i] * kG1[i]) << "step 1, v" << i;
  }
  cpu::adam_step_cpu(p, g2, m, v, 3, 0.01, 0.9, 0.999, 1e-8, 2);
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(double(p[i]), kP2[i], tol * std::abs(kP2[i])) << "step 2, p" << i;
    EXPECT_NEAR(double(m[i]), kM2[i], tol * std::abs(kM2[i])) << "step 2, m" << i;
    EXPECT_NEAR(double(v[i]), kV2[i], tol * std::abs(kV2[i])) << "step 2, v" << i;
  }
}

}  // namespace

// (1 - 0.999 is 0.0010000000000000009 in double, as in PyTorch: v is off the exact decimal
// value by ~1e-15 relative.)
TEST(Adam, TwoStepsDouble) { two_steps<double>(2e-15); }

TEST(Adam, TwoStepsFloat) { two_steps<float>(3e-7); }

// The first step moves every parameter by lr g / (|g| + eps): the bias-corrected m / sqrt(v)
// is sign(g), whatever the scale of g.
TEST(Adam, FirstStepIsLearningRateTimesSign) {
  double p[4] = {0, 0, 0, 0}, m[4] = {}, v[4] = {};
  const double g[4] = {1e-3, -5.0, 2e4, 0.0};
  cpu::adam_step_cpu(p, g, m, v, 4, 0.05, 0.9, 0.999, 1e-8, 1);
  for (int i = 0; i < 3; ++i)
    EXPECT_NEAR(p[i], -0.05 * g[i] / (std::abs(g[i]) + 1e-8), 1e-16) << i;
  EXPECT_NEAR(p[0], -0.05, 1e-6);  // eps shows at |g| = 1e-3
  EXPECT_EQ(p[3], 0.0);
}

// train_step = loss_gradient + Adam; the state comes back through get_adam/get_params.
TEST(Adam, BackendTrainStepAppliesAdam) {
  const Dataset data = random_dataset(3, 4, 5, 1);
  const Model model = random_model(data, 1, Activation::softplus, {6}, 8);
  CpuBackend<double> be(1);
  be.upload(data, model.layout);
  be.set_model(model);
  const std::vector<int64_t> batch = {1, 3};
  std::vector<double> grad;
  const double loss = be.loss_gradient(batch.data(), 2, grad).loss;
  const double lr = 1e-3;
  const BatchStats st = be.train_step(batch.data(), 2, lr);
  EXPECT_EQ(st.loss, loss);
  AdamState adam;
  be.get_adam(adam);
  EXPECT_EQ(adam.step, 1);
  std::vector<double> params;
  be.get_params(params);
  ASSERT_EQ(params.size(), model.params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_NEAR(adam.m[i], 0.1 * grad[i], 1e-17 + 1e-15 * std::abs(grad[i]));
    EXPECT_NEAR(adam.v[i], 0.001 * grad[i] * grad[i], 3e-15 * grad[i] * grad[i]);
    const double want = model.params[i] - lr * (grad[i] / (std::abs(grad[i]) + 1e-8));
    EXPECT_NEAR(params[i], want, 1e-15);
  }
  // set_adam restores a state exactly; a second step continues from it (step 2).
  AdamState saved = adam;
  be.train_step(batch.data(), 2, lr);
  be.get_adam(adam);
  EXPECT_EQ(adam.step, 2);
  be.set_adam(saved);
  be.get_adam(adam);
  EXPECT_EQ(adam.step, 1);
  EXPECT_EQ(adam.m, saved.m);
  EXPECT_EQ(adam.v, saved.v);
}

// A NaN in the data: train_step throws NumericError and changes neither the parameters nor
// the optimizer state.
TEST(Adam, NonFiniteStepUpdatesNothing) {
  Dataset data = random_dataset(4, 4, 5, 1);
  const Model model = random_model(data, 1, Activation::relu, {6}, 8);
  CpuBackend<float> be(2);
  be.upload(data, model.layout);
  be.set_model(model);
  const std::vector<int64_t> batch = {0, 1, 2};
  be.train_step(batch.data(), 3, 1e-3);
  std::vector<double> before, after;
  AdamState a0, a1;
  be.get_params(before);
  be.get_adam(a0);
  const double f1 = data.forces[3 * data.atom_offset[1]];
  data.forces[3 * data.atom_offset[1]] = std::numeric_limits<double>::quiet_NaN();
  try {
    be.train_step(batch.data(), 3, 1e-3);
    FAIL() << "no NumericError";
  } catch (const NumericError& e) {
    EXPECT_NE(std::string(e.what()).find("loss"), std::string::npos) << e.what();
  }
  data.forces[3 * data.atom_offset[1]] = f1;
  be.get_params(after);
  EXPECT_EQ(before, after);
  const double x2 = data.descriptors[2];
  data.descriptors[2] = std::numeric_limits<double>::infinity();
  EXPECT_THROW(be.train_step(batch.data(), 3, 1e-3), NumericError);
  be.get_params(after);
  be.get_adam(a1);
  EXPECT_EQ(before, after);
  EXPECT_EQ(a0.step, a1.step);
  EXPECT_EQ(a0.m, a1.m);
  EXPECT_EQ(a0.v, a1.v);
  // With the data repaired, the next step is the one a run without the failures takes (the
  // refused steps leave nothing behind in the backend's second copy of its state).
  data.descriptors[2] = x2;
  be.train_step(batch.data(), 3, 1e-3);
  CpuBackend<float> clean(2);
  clean.upload(data, model.layout);
  clean.set_model(model);
  clean.train_step(batch.data(), 3, 1e-3);
  clean.train_step(batch.data(), 3, 1e-3);
  std::vector<double> p_be, p_clean;
  be.get_params(p_be);
  clean.get_params(p_clean);
  EXPECT_EQ(p_be, p_clean);
}

// The refused step's message (both backends throw it): the step and batch, the first value
// that was not finite (the loss before the gradient; a gradient entry by its parameter's name)
// and what to do.
TEST(Adam, RefusedStepMessageNamesTheValue) {
  Dataset data = random_dataset(4, 4, 5, 1);
  const Model model = random_model(data, 1, Activation::relu, {6}, 8);
  const ModelLayout& layout = model.layout;
  const int64_t np = layout.nparams();
  std::vector<float> grad(size_t(np), 0.5f);
  const int64_t batch[3] = {5, 2, 9};
  const double inf = std::numeric_limits<double>::infinity();
  const std::string head =
      "training step 7 (cpu-float32, batch of 3 configurations starting with dataset "
      "configuration 5): ";
  const std::string tail =
      "; the parameters were not updated. Lower the learning rate, check the training data "
      "for outliers, or use divergence_retries.";
  auto message = [&](double loss, const float* g) {
    return cpu::refused_step_message("cpu-float32", 7, batch, 3, loss, layout, g, np);
  };
  grad[size_t(np - 2)] = -std::numeric_limits<float>::infinity();
  grad[size_t(np - 1)] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(message(std::nan(""), grad.data()), head + "the batch loss is nan" + tail);
  EXPECT_EQ(message(inf, nullptr), head + "the batch loss is inf" + tail);
  EXPECT_EQ(message(0.25, grad.data()),
            head + "the gradient of " + layout.describe_parameter(np - 2) + " is -inf" + tail);
  grad[size_t(np - 2)] = 1.0f;
  EXPECT_EQ(message(0.25, grad.data()),
            head + "the gradient of " + layout.describe_parameter(np - 1) + " is nan" + tail);
  grad[size_t(np - 1)] = 1.0f;
  EXPECT_EQ(message(0.25, grad.data()), head + "a non-finite value" + tail);
  EXPECT_EQ(cpu::refused_step_message<double>("cuda-float64", 1, batch, 0, 1.0, layout, nullptr,
                                              0),
            "training step 1 (cuda-float64, batch of 0 configurations starting with dataset "
            "configuration -1): a non-finite value" + tail);
}
