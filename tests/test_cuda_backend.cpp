// The CUDA Backend as the trainer sees it, against the CPU reference backend:
//  - make_backend("cuda", ...) without a usable GPU (or without CUDA) throws DeviceError with a
//    message that says what to do (this one runs everywhere except on a GPU machine);
//  - loss, full parameter gradient, predictions and beta on random batches for options 1, 2, 3,
//    both precisions, both MLP paths (cuBLAS, fused), both row modes (deterministic, atomic),
//    one or several chunks, eager and CUDA-graph launches (float64: rtol 1e-11 with atol
//    1e-11 x max; float32 against the CPU's float32: 1e-4);
//  - the golden files (../shared/reference) like tests/test_cpu_golden.cpp (rtol 1e-10, atol
//    1e-12 x max);
//  - a 20-epoch float64 fit through run_fit whose loss history matches the CPU's to 1e-9;
//  - training steps, the NaN guard (nothing updated), Adam state round trip, empty batches.
#include <gtest/gtest.h>

#include "fitnn/backend.hpp"
#include "fitnn/errors.hpp"

#ifdef FITNN_HAVE_CUDA
#include "device.hpp"
#endif

// Runs everywhere: without CUDA in the build, or without a device, asking for CUDA is a
// DeviceError naming the way out.
TEST(CudaBackend, WithoutDeviceMakeBackendThrowsDeviceError) {
#ifdef FITNN_HAVE_CUDA
  if (fitnn::cuda::device_count() > 0) GTEST_SKIP() << "a CUDA device is present";
#endif
  for (fitnn::Precision p : {fitnn::Precision::f32, fitnn::Precision::f64}) {
    try {
      auto b = fitnn::make_backend("cuda", p, 0);
      ADD_FAILURE() << "make_backend(\"cuda\") returned a backend without a GPU";
    } catch (const fitnn::DeviceError& e) {
      const std::string msg = e.what();
      std::printf("  DeviceError: %s\n", msg.c_str());
      EXPECT_NE(msg.find("--device cuda"), std::string::npos) << msg;
      EXPECT_NE(msg.find("--device cpu"), std::string::npos) << msg;
      EXPECT_EQ(e.exit_code(), 8);
    }
  }
}

#ifdef FITNN_HAVE_CUDA

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "cpu/cpu_backend.hpp"
#include "cpu_fixtures.hpp"
#include "cuda_backend.hpp"
#include "cuda_test_support.hpp"
#include "fitnn/trainer.hpp"
#include "train_fixtures.hpp"

using namespace fitnn;
using namespace fitnn_test;

namespace {

struct Variant {
  Precision precision = Precision::f64;
  cuda::MlpPath mlp = cuda::MlpPath::cublas;
  cuda::RowMode rows = cuda::RowMode::deterministic;
  int64_t chunk_atoms = 0;
  bool graphs = true;
  std::string tag() const {
    return std::string(precision == Precision::f64 ? "f64" : "f32") +
           (mlp == cuda::MlpPath::fused ? " fused" : " cublas") +
           (rows == cuda::RowMode::atomic ? " atomic" : " det") +
           (chunk_atoms > 0 ? " chunk" + std::to_string(chunk_atoms) : "") +
           (graphs ? " graphs" : "");
  }
  std::unique_ptr<Backend> make() const {
    cuda::CudaOptions o;
    o.mlp = mlp;
    o.rows = rows;
    o.chunk_atoms = chunk_atoms;
    o.graphs = graphs;
    return cuda::make_cuda_backend_with(precision, o);
  }
};

std::vector<Variant> variants() {
  std::vector<Variant> v;
  for (auto mlp : {cuda::MlpPath::cublas, cuda::MlpPath::fused})
    for (auto rows : {cuda::RowMode::deterministic, cuda::RowMode::atomic})
      for (int64_t chunk : {int64_t(0), int64_t(9)}) {
        Variant x;
        x.mlp = mlp;
        x.rows = rows;
        x.chunk_atoms = chunk;
        v.push_back(x);
        x.precision = Precision::f32;
        v.push_back(x);
      }
  Variant eager;
  eager.graphs = false;
  v.push_back(eager);
  return v;
}

double check(const std::string& what, const std::vector<double>& got,
             const std::vector<double>& want, double rtol, double atol_rel) {
  EXPECT_EQ(got.size(), want.size()) << what;
  if (got.size() != want.size()) return 1e300;
  const double scale = max_abs(want);
  const double ratio = tolerance_ratio(got, want, atol_rel * (scale > 0 ? scale : 1.0), rtol);
  std::printf("  %-52s ratio %.3g (%zu values)\n", what.c_str(), ratio, want.size());
  EXPECT_LE(ratio, 1.0) << what;
  return ratio;
}

template <class S>
void compare_with_cpu(const Variant& var, int option, Activation act, uint64_t seed,
                      bool reparameterized = false) {
  const Dataset data = random_dataset(seed, 14, 6, 2, 7);
  const Model model = random_model(data, option, act, {9, 5}, seed + 1, reparameterized);
  CpuBackend<S> cpu(1);
  cpu.upload(data, model.layout);
  cpu.set_model(model);
  std::unique_ptr<Backend> gpu = var.make();
  gpu->upload(data, model.layout);
  gpu->set_model(model);
  std::vector<int64_t> batch = all_configs(data);
  std::mt19937_64 gen(seed);
  std::shuffle(batch.begin(), batch.end(), gen);
  batch.resize(11);
  const int n = int(batch.size());
  const double tol = sizeof(S) == 8 ? 1e-11 : 1e-4;
  const std::string tag = var.tag() + " opt" + std::to_string(option) + " " +
                          activation_name(act) + ": ";

  std::vector<double> gc, gg, gfirst;
  const BatchStats sc = cpu.loss_gradient(batch.data(), n, gc);
  double lfirst = 0.0;
  // Three calls: eager, captured, replayed; deterministic modes give identical bits.
  for (int rep = 0; rep < 3; ++rep) {
    const BatchStats sg = gpu->loss_gradient(batch.data(), n, gg);
    EXPECT_EQ(sg.nconfigs, n);
    EXPECT_EQ(sg.natoms, sc.natoms);
    check(tag + "loss #" + std::to_string(rep), {sg.loss}, {sc.loss}, tol, tol);
    check(tag + "gradient #" + std::to_string(rep), gg, gc, tol, tol);
    if (rep == 0) {
      gfirst = gg;
      lfirst = sg.loss;
    } else if (var.rows == cuda::RowMode::deterministic) {
      EXPECT_TRUE(gg == gfirst && sg.loss == lfirst) << tag << "not bitwise reproducible";
    }
  }
  Predictions pc, pg;
  const BatchStats ec = cpu.evaluate(batch.data(), n, &pc);
  const BatchStats eg = gpu->evaluate(batch.data(), n, &pg);
  check(tag + "evaluate loss", {eg.loss}, {ec.loss}, tol, tol);
  check(tag + "energy", pg.energy, pc.energy, tol, tol);
  check(tag + "atom energies", pg.atom_energy, pc.atom_energy, tol, tol);
  check(tag + "forces", pg.forces, pc.forces, tol, tol);
  const BatchStats eg2 = gpu->evaluate(batch.data(), n, nullptr);
  check(tag + "evaluate loss (no predictions)", {eg2.loss}, {ec.loss}, tol, tol);
  std::vector<double> bc, bg;
  cpu.atom_beta(batch.data(), n, bc);
  cuda::cuda_atom_beta(*gpu, batch.data(), n, bg);
  check(tag + "beta", bg, bc, tol, tol);
}

}  // namespace

TEST(CudaBackend, LossGradientPredictionsMatchCpu) {
  FITNN_REQUIRE_GPU();
  uint64_t seed = 10;
  for (const Variant& var : variants())
    for (int option : {1, 2, 3}) {
      for (Activation act : {Activation::softplus, Activation::tanh}) {
        if (var.precision == Precision::f64)
          compare_with_cpu<double>(var, option, act, seed++);
        else
          compare_with_cpu<float>(var, option, act, seed++);
      }
    }
}

// input_layer = trainable (cuBLAS path: the fused kernels are skipped) and output_scale.
TEST(CudaBackend, InputLayerAndOutputScaleMatchCpu) {
  FITNN_REQUIRE_GPU();
  uint64_t seed = 700;
  for (const Variant& var : variants())
    for (int option : {1, 2, 3}) {
      if (var.precision == Precision::f64)
        compare_with_cpu<double>(var, option, Activation::softplus, seed++, true);
      else
        compare_with_cpu<float>(var, option, Activation::tanh, seed++, true);
    }
}

TEST(CudaBackend, EveryActivationMatchesCpu) {
  FITNN_REQUIRE_GPU();
  uint64_t seed = 500;
  for (Activation act : {Activation::sigmoid, Activation::relu, Activation::linear})
    for (auto mlp : {cuda::MlpPath::cublas, cuda::MlpPath::fused}) {
      Variant v;
      v.mlp = mlp;
      compare_with_cpu<double>(v, 1, act, seed++);
    }
}

TEST(CudaBackend, InfoReportsTheChosenPaths) {
  FITNN_REQUIRE_GPU();
  const Dataset data = random_dataset(7, 5, 6, 1, 4);
  const Model model = random_model(data, 1, Activation::softplus, {16, 16}, 8);
  auto b = make_backend("cuda", Precision::f32, 0);
  b->upload(data, model.layout);
  cuda::CudaBackendInfo info;
  ASSERT_TRUE(cuda::cuda_backend_info(*b, info));
  std::printf("  %s: mlp %s, rows %s, chunk %lld atoms, dataset %lld B, work %lld B\n",
              info.device.c_str(), info.mlp_path.c_str(), info.row_mode.c_str(),
              (long long)info.chunk_atoms, (long long)info.dataset_bytes,
              (long long)info.workspace_bytes);
  EXPECT_EQ(b->name(), "cuda-float32");
  EXPECT_EQ(info.row_mode, "atomic");
  EXPECT_EQ(make_backend("cuda", Precision::f64, 0)->name(), "cuda-float64");
}

// ---- Golden files -----------------------------------------------------------------------------

namespace {

double golden_case(const nlohmann::json& gold, cuda::MlpPath mlp) {
  Dataset data;
  Model model;
  golden_dataset(gold, data, model);
  Variant var;
  var.mlp = mlp;
  std::unique_ptr<Backend> be = var.make();
  be->upload(data, model.layout);
  be->set_model(model);
  const auto batch = all_configs(data);
  const int n = int(batch.size());
  std::vector<double> want_atom, want_energy, want_forces, want_beta;
  for (const auto& c : gold["configs"]) {
    for (const auto& v : c["atom_energies"]) want_atom.push_back(double(v));
    want_energy.push_back(double(c["energy_pred"]));
    for (const auto& row : c["forces_pred"])
      for (const auto& v : row) want_forces.push_back(double(v));
    for (const auto& row : c["beta"])
      for (const auto& v : row) want_beta.push_back(double(v));
  }
  const double rtol = 1e-10, atol = 1e-12;
  double worst = 0.0;
  Predictions pred;
  const BatchStats ev = be->evaluate(batch.data(), n, &pred);
  worst = std::max(worst, check("atom_energies", pred.atom_energy, want_atom, rtol, atol));
  worst = std::max(worst, check("energy_pred", pred.energy, want_energy, rtol, atol));
  worst = std::max(worst, check("forces_pred", pred.forces, want_forces, rtol, atol));
  std::vector<double> beta;
  cuda::cuda_atom_beta(*be, batch.data(), n, beta);
  worst = std::max(worst, check("beta", beta, want_beta, rtol, atol));
  std::vector<double> grad;
  const BatchStats st = be->loss_gradient(batch.data(), n, grad);
  const double want_loss = double(gold["loss"]["value"]);
  worst = std::max(worst, check("loss", {st.loss}, {want_loss}, rtol, atol));
  worst = std::max(worst, check("evaluate loss", {ev.loss}, {want_loss}, rtol, atol));
  const auto want_grad = golden_gradient(gold, model.layout);
  worst = std::max(worst, check("gradient", grad, want_grad, rtol, atol));
  for (int e = 0; e < model.layout.nnets(); ++e)
    for (int l = 1; l <= model.layout.nlayers(); ++l) {
      const auto w0 = model.layout.weight_offset(e, l), b0 = model.layout.bias_offset(e, l);
      const auto b1 = b0 + model.layout.widths[l];
      const std::string tag = "net" + std::to_string(e) + " L" + std::to_string(l);
      worst = std::max(worst, check(tag + " dW", {grad.begin() + w0, grad.begin() + b0},
                                    {want_grad.begin() + w0, want_grad.begin() + b0}, rtol, atol));
      worst = std::max(worst, check(tag + " db", {grad.begin() + b0, grad.begin() + b1},
                                    {want_grad.begin() + b0, want_grad.begin() + b1}, rtol, atol));
    }
  return worst;
}

}  // namespace

TEST(CudaBackend, GoldenTaOption1) {
  FITNN_REQUIRE_GPU();
  EXPECT_LE(golden_case(ta_golden(), cuda::MlpPath::cublas), 1.0);
  EXPECT_LE(golden_case(ta_golden(), cuda::MlpPath::fused), 1.0);
}

TEST(CudaBackend, GoldenWBeOption2) {
  FITNN_REQUIRE_GPU();
  EXPECT_LE(golden_case(wbe_golden(), cuda::MlpPath::cublas), 1.0);
  EXPECT_LE(golden_case(wbe_golden(), cuda::MlpPath::fused), 1.0);
}

// ---- Training -----------------------------------------------------------------------------------

namespace {

FitSummary fit_with(Backend& backend, const std::string& dir, int option) {
  Config config = small_config(dir);
  config.train.num_epochs = 20;
  config.train.multi_element_option = option;
  Dataset data = synthetic_dataset(16, 5, 2, 42);
  FitOptions opt;
  opt.output_dir = dir;
  opt.overwrite = true;
  return run_fit(config, data, backend, opt);
}

}  // namespace

TEST(CudaBackend, TwentyEpochFitMatchesCpuFloat64) {
  FITNN_REQUIRE_GPU();
  for (int option : {1, 2})
    for (auto mlp : {cuda::MlpPath::cublas, cuda::MlpPath::fused}) {
      TempDir dc, dg;
      auto cpu = make_backend("cpu", Precision::f64, 1);
      Variant var;
      var.mlp = mlp;
      auto gpu = var.make();
      const FitSummary a = fit_with(*cpu, dc.path, option);
      const FitSummary b = fit_with(*gpu, dg.path, option);
      ASSERT_EQ(a.history.size(), 20u);
      ASSERT_EQ(b.history.size(), a.history.size());
      double worst = 0.0;
      for (size_t e = 0; e < a.history.size(); ++e) {
        const double dt = std::abs(b.history.train[e] - a.history.train[e]) /
                          std::abs(a.history.train[e]);
        const double dv =
            std::abs(b.history.val[e] - a.history.val[e]) / std::abs(a.history.val[e]);
        worst = std::max({worst, dt, dv});
        EXPECT_LE(dt, 1e-9) << "epoch " << e + 1 << " train loss";
        EXPECT_LE(dv, 1e-9) << "epoch " << e + 1 << " validation loss";
      }
      std::printf("  option %d %s: worst relative loss-history difference over 20 epochs %.3g\n",
                  option, mlp == cuda::MlpPath::fused ? "fused" : "cublas", worst);
      check("final parameters", b.best_model.params, a.best_model.params, 1e-8, 1e-8);
    }
}

TEST(CudaBackend, TrainStepsMatchCpu) {
  FITNN_REQUIRE_GPU();
  const Dataset data = random_dataset(77, 20, 6, 2, 6);
  const Model model = random_model(data, 2, Activation::softplus, {12, 7}, 78);
  auto cpu = make_backend("cpu", Precision::f64, 1);
  auto gpu = make_backend("cuda", Precision::f64, 0);
  for (Backend* b : {cpu.get(), gpu.get()}) {
    b->upload(data, model.layout);
    b->set_model(model);
    b->set_adam(AdamState{});
  }
  std::mt19937_64 gen(5);
  for (int step = 0; step < 12; ++step) {
    std::vector<int64_t> batch = all_configs(data);
    std::shuffle(batch.begin(), batch.end(), gen);
    batch.resize(4);
    const BatchStats a = cpu->train_step(batch.data(), 4, 1e-2);
    const BatchStats b = gpu->train_step(batch.data(), 4, 1e-2);
    EXPECT_NEAR(b.loss, a.loss, 1e-10 * std::abs(a.loss)) << "step " << step;
  }
  std::vector<double> pa, pb;
  cpu->get_params(pa);
  gpu->get_params(pb);
  check("parameters after 12 steps", pb, pa, 1e-10, 1e-10);
  AdamState sa, sb;
  cpu->get_adam(sa);
  gpu->get_adam(sb);
  EXPECT_EQ(sb.step, sa.step);
  check("Adam m", sb.m, sa.m, 1e-9, 1e-9);
  check("Adam v", sb.v, sa.v, 1e-9, 1e-9);
}

TEST(CudaBackend, NonFiniteStepUpdatesNothing) {
  FITNN_REQUIRE_GPU();
  for (Precision p : {Precision::f64, Precision::f32}) {
    const Dataset data = random_dataset(31, 6, 4, 1, 4);
    Model model = random_model(data, 1, Activation::softplus, {5}, 32);
    model.params[3] = std::numeric_limits<double>::quiet_NaN();
    auto gpu = make_backend("cuda", p, 0);
    gpu->upload(data, model.layout);
    gpu->set_model(model);
    std::vector<double> before, after;
    gpu->get_params(before);
    AdamState a0;
    gpu->get_adam(a0);
    const auto batch = all_configs(data);
    for (int rep = 0; rep < 3; ++rep) {  // eager, captured, replayed
      EXPECT_THROW(gpu->train_step(batch.data(), int(batch.size()), 1e-2), NumericError);
    }
    gpu->get_params(after);
    ASSERT_EQ(after.size(), before.size());
    for (size_t i = 0; i < after.size(); ++i)
      if (!std::isnan(before[i])) EXPECT_EQ(after[i], before[i]) << "parameter " << i;
    AdamState a1;
    gpu->get_adam(a1);
    EXPECT_EQ(a1.step, a0.step);
    EXPECT_TRUE(a1.m == a0.m && a1.v == a0.v);
  }
}

TEST(CudaBackend, AdamStateRoundTripAndEmptyBatch) {
  FITNN_REQUIRE_GPU();
  const Dataset data = random_dataset(41, 5, 4, 1, 4);
  const Model model = random_model(data, 1, Activation::tanh, {6}, 42);
  auto gpu = make_backend("cuda", Precision::f64, 0);
  gpu->upload(data, model.layout);
  gpu->set_model(model);
  std::mt19937_64 gen(1);
  AdamState s;
  s.m = random_vector<double>(gen, model.params.size());
  s.v = random_vector<double>(gen, model.params.size(), 0.0, 1.0);
  s.step = 17;
  s.beta1 = 0.8;
  gpu->set_adam(s);
  AdamState t;
  gpu->get_adam(t);
  EXPECT_EQ(t.m, s.m);
  EXPECT_EQ(t.v, s.v);
  EXPECT_EQ(t.step, 17);
  EXPECT_EQ(t.beta1, 0.8);
  std::vector<double> params;
  gpu->get_params(params);
  EXPECT_EQ(params, model.params);
  const BatchStats st = gpu->evaluate(nullptr, 0, nullptr);
  EXPECT_EQ(st.loss, 0.0);
  EXPECT_EQ(st.natoms, 0);
}

#endif  // FITNN_HAVE_CUDA
