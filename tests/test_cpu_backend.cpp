// The CPU backend as a Backend: the factory, refusals of bad data/models/batches, the shape
// and consistency of predictions, determinism, batches with repeated configurations, and the
// promise that a training step allocates nothing (malloc is counted in this binary).
#include <atomic>
#include <cstdlib>
#include <stdexcept>

#include "cpu/cpu_backend.hpp"
#include "cpu/thread_team.hpp"
#include "cpu_fixtures.hpp"
#include "fitnn/errors.hpp"
#include "support.hpp"

// AddressSanitizer replaces malloc itself: interposing it as well would hand ASan's free()
// glibc blocks (a crash at start-up). Under ASan (FITNN_SANITIZE=ON) the count is skipped.
#if defined(__SANITIZE_ADDRESS__)
#define FITNN_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FITNN_ASAN 1
#endif
#endif

#if defined(__GLIBC__) && !defined(FITNN_ASAN)
// Count heap allocations while g_counting is set: malloc is interposed and forwards to glibc.
extern "C" void* __libc_malloc(size_t);
namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_mallocs{0};
}  // namespace
extern "C" void* malloc(size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) g_mallocs.fetch_add(1);
  return __libc_malloc(n);
}
#define FITNN_COUNT_MALLOC 1
#endif

using namespace fitnn;
using namespace fitnn_test;

TEST(CpuBackend, Factory) {
  auto a = make_backend("cpu", Precision::f64, 0);
  EXPECT_EQ(a->name(), "cpu-float64");
  auto* cpu = dynamic_cast<CpuBackend<double>*>(a.get());
  ASSERT_NE(cpu, nullptr);
  EXPECT_EQ(cpu->threads(), int(std::max(1u, std::thread::hardware_concurrency())));
  auto b = make_backend("cpu", Precision::f32, 1);
  EXPECT_EQ(b->name(), "cpu-float32");
  EXPECT_EQ(dynamic_cast<CpuBackend<float>*>(b.get())->threads(), 1);
  EXPECT_THROW(make_backend("tpu", Precision::f64, 1), InputError);
  EXPECT_THROW(make_backend("cpu", Precision::f64, -1), InputError);
#ifndef FITNN_HAVE_CUDA
  try {
    make_backend("cuda", Precision::f32, 0);
    FAIL() << "no DeviceError";
  } catch (const DeviceError& e) {
    EXPECT_NE(std::string(e.what()).find("without CUDA"), std::string::npos) << e.what();
  }
#endif
}

TEST(CpuBackend, RefusesInconsistentData) {
  const Dataset good = random_dataset(1, 4, 5, 2);
  const Model model = random_model(good, 2, Activation::softplus, {4}, 1);
  {
    CpuBackend<double> be;
    Model other = random_model(random_dataset(1, 2, 6, 2), 2, Activation::softplus, {4}, 1);
    EXPECT_THROW(be.upload(good, other.layout), InputError);  // 6 descriptors vs 5
  }
  auto expect_data_error = [&](Dataset bad) {
    CpuBackend<double> be;
    EXPECT_THROW(be.upload(bad, model.layout), DataError);
  };
  Dataset d = good;
  d.row_i[3] = 99;  // outside its configuration
  expect_data_error(d);
  d = good;
  d.row_k[0] = -1;
  expect_data_error(d);
  d = good;
  d.dgrad64.pop_back();
  expect_data_error(d);
  d = good;
  d.atom_type[0] = 2;  // the model has 2 elements
  expect_data_error(d);
  d = good;
  d.forces.pop_back();
  expect_data_error(d);
  d = good;
  d.derivative_bits = 16;
  expect_data_error(d);
}

TEST(CpuBackend, RefusesMisuse) {
  const Dataset data = random_dataset(2, 4, 5, 1);
  const Model model = random_model(data, 1, Activation::tanh, {4}, 1);
  CpuBackend<double> be;
  std::vector<double> grad;
  const int64_t c0 = 0;
  EXPECT_THROW(be.set_model(model), std::logic_error);  // before upload
  be.upload(data, model.layout);
  EXPECT_THROW(be.loss_gradient(&c0, 1, grad), std::logic_error);  // before set_model
  Model wrong = random_model(data, 1, Activation::tanh, {5}, 1);
  EXPECT_THROW(be.set_model(wrong), InputError);
  Model short_params = model;
  short_params.params.pop_back();
  EXPECT_THROW(be.set_model(short_params), InputError);
  Model zero_std = model;
  zero_std.std[1] = 0.0;
  EXPECT_THROW(be.set_model(zero_std), InputError);
  be.set_model(model);
  const int64_t bad = 4;
  EXPECT_THROW(be.loss_gradient(&bad, 1, grad), DataError);
  AdamState adam;
  adam.m.assign(3, 0.0);
  EXPECT_THROW(be.set_adam(adam), InputError);
}

TEST(CpuBackend, PredictionsAreConsistent) {
  const Dataset data = random_dataset(3, 6, 5, 2);
  const Model model = random_model(data, 3, Activation::sigmoid, {6, 3}, 4);
  CpuBackend<double> be(2);
  be.upload(data, model.layout);
  be.set_model(model);
  const std::vector<int64_t> batch = {5, 2, 3};
  Predictions p;
  const BatchStats st = be.evaluate(batch.data(), 3, &p);
  int64_t natoms = 0;
  for (int64_t c : batch) natoms += data.natoms_of(c);
  EXPECT_EQ(st.natoms, natoms);
  EXPECT_EQ(st.nconfigs, 3);
  ASSERT_EQ(p.energy.size(), 3u);
  ASSERT_EQ(int64_t(p.atom_energy.size()), natoms);
  ASSERT_EQ(int64_t(p.forces.size()), 3 * natoms);
  int64_t a = 0;
  for (int m = 0; m < 3; ++m) {
    double e = 0.0;
    for (int i = 0; i < data.natoms_of(batch[m]); ++i) e += p.atom_energy[a++];
    EXPECT_NEAR(p.energy[m], e, 1e-13 * std::abs(e));
  }
  std::vector<double> grad;
  EXPECT_EQ(be.loss_gradient(batch.data(), 3, grad).loss, st.loss);
  EXPECT_EQ(be.evaluate(batch.data(), 3, nullptr).loss, st.loss);
  EXPECT_GT(st.loss, 0.0);
  // Empty batch: zero loss, zero gradient.
  const BatchStats empty = be.loss_gradient(nullptr, 0, grad);
  EXPECT_EQ(empty.loss, 0.0);
  EXPECT_EQ(max_abs(grad), 0.0);
}

TEST(CpuBackend, DeterministicAndThreadIndependent) {
  const Dataset data = random_dataset(5, 40, 8, 2, 12);
  const Model model = random_model(data, 2, Activation::softplus, {16, 16}, 4);
  const auto batch = all_configs(data);
  std::vector<double> g1, g2, g3;
  CpuBackend<double> one(1), two(2);
  for (CpuBackend<double>* be : {&one, &two}) {
    be->upload(data, model.layout);
    be->set_model(model);
  }
  const double l1 = one.loss_gradient(batch.data(), 40, g1).loss;
  const double l2 = two.loss_gradient(batch.data(), 40, g2).loss;
  const double l3 = two.loss_gradient(batch.data(), 40, g3).loss;
  EXPECT_EQ(l2, l3);  // the same split every time: bitwise reproducible
  EXPECT_EQ(g2, g3);
  EXPECT_NEAR(l1, l2, 1e-13 * l1);
  EXPECT_LE(tolerance_ratio(g2, g1, 1e-13 * max_abs(g1), 1e-12), 1.0);
}

// A configuration twice in one batch counts twice (1/M each): same loss and gradient as alone.
TEST(CpuBackend, RepeatedConfiguration) {
  const Dataset data = random_dataset(6, 3, 5, 1);
  const Model model = random_model(data, 1, Activation::softplus, {5}, 4);
  CpuBackend<double> be(2);
  be.upload(data, model.layout);
  be.set_model(model);
  const std::vector<int64_t> once = {1}, twice = {1, 1};
  std::vector<double> g1, g2;
  const double l1 = be.loss_gradient(once.data(), 1, g1).loss;
  const double l2 = be.loss_gradient(twice.data(), 2, g2).loss;
  EXPECT_NEAR(l1, l2, 1e-14 * l1);
  EXPECT_LE(tolerance_ratio(g2, g1, 1e-14 * max_abs(g1), 1e-13), 1.0);
}

#ifdef FITNN_COUNT_MALLOC
TEST(CpuBackend, TrainStepDoesNotAllocate) {
  const Dataset data = random_dataset(7, 30, 10, 2, 14);
  for (int option : {1, 2}) {
    const Model model = random_model(data, option, Activation::softplus, {32, 32}, 4);
    for (int threads : {1, 2}) {
      CpuBackend<double> be(threads);
      be.upload(data, model.layout);
      be.set_model(model);
      const std::vector<int64_t> b1 = {3, 7, 1, 20}, b2 = {0, 29, 11, 5};
      be.train_step(b1.data(), 4, 1e-4);  // warm up (first use of the threads, Eigen)
      be.train_step(b2.data(), 4, 1e-4);
      std::vector<double> grad(size_t(model.layout.nparams()));
      g_mallocs = 0;
      g_counting = true;
      for (int s = 0; s < 10; ++s) {
        be.train_step(s % 2 ? b1.data() : b2.data(), 4, 1e-4);
        be.loss_gradient(b1.data(), 4, grad);
        be.evaluate(b2.data(), 4, nullptr);
      }
      g_counting = false;
      EXPECT_EQ(g_mallocs.load(), 0) << "option " << option << ", " << threads << " threads";
    }
  }
  // The counter works: a vector allocates.
  g_mallocs = 0;
  g_counting = true;
  std::vector<double>* v = new std::vector<double>(100);
  g_counting = false;
  delete v;
  EXPECT_GE(g_mallocs.load(), 1);
}
#endif

// The team: every unit of every job claimed exactly once, whoever runs it; an exception in a
// job comes back from run() and the team stays usable.
TEST(ThreadTeam, ClaimsEveryUnitOnceAndRethrows) {
  cpu::ThreadTeam team(2);
  EXPECT_EQ(team.size(), 2);
  constexpr int kUnits = 8;
  std::atomic<int> next{0};
  std::atomic<int> count[kUnits];
  for (int job = 0; job < 3000; ++job) {
    next = 0;
    for (auto& c : count) c = 0;
    auto f = [&](int) {
      for (int u; (u = next.fetch_add(1)) < kUnits;) count[u].fetch_add(1);
    };
    team.run(f);
    for (int u = 0; u < kUnits; ++u) ASSERT_EQ(count[u].load(), 1) << "job " << job;
  }
  auto bad = [](int w) {
    if (w == 0) throw std::runtime_error("unit failed");
  };
  EXPECT_THROW(team.run(bad), std::runtime_error);
  int ran = 0;
  auto ok = [&](int w) {
    if (w == 0) ++ran;
  };
  team.run(ok);
  EXPECT_EQ(ran, 1);
}
