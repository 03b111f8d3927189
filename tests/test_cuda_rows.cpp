// The derivative-row, loss and optimizer ops of kernels/ against their CPU twins on random
// datasets (tests/cpu_fixtures.hpp): force_contract, force_transpose (deterministic), the fused
// atomic contraction+transpose, config_energy, loss (with eps, phi, eps_col), Adam and the
// graph-friendly guarded Adam. Odd sizes: d = 5, 30, 45 and 150 descriptors (below, around and
// above one warp and the transpose's 128-component pass), configurations of 2..24 atoms with
// hundreds of rows (several rounds of the warp binary search), repeated configurations in a
// batch, identity and permuted columns, and all three (compute, storage) precisions.
// Tolerance as in test_cuda_kernels.cpp; skipped without a GPU or without CUDA.
#include <gtest/gtest.h>

#ifndef FITNN_HAVE_CUDA

TEST(CudaRows, NotBuiltWithCuda) { GTEST_SKIP() << "FitNN was built without CUDA"; }

#else

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "cpu/ops.hpp"
#include "cpu_fixtures.hpp"
#include "cuda_ops.hpp"
#include "cuda_test_support.hpp"

using namespace fitnn;
using namespace fitnn_test;
using fitnn::cuda::CudaContext;
using fitnn::cuda::DeviceArray;

namespace {

template <class T>
const std::vector<T>& rows_of(const Dataset& data);
template <>
const std::vector<double>& rows_of<double>(const Dataset& data) {
  return data.dgrad64;
}
template <>
const std::vector<float>& rows_of<float>(const Dataset& data) {
  return data.dgrad32;
}

// A batch over a random dataset, host and device copies of everything the row ops read.
struct RowBatch {
  Dataset data;
  std::vector<int64_t> configs, atom_base;
  std::vector<int32_t> col_of;  // empty: identity
  int64_t natoms = 0;
  DeviceArray<int64_t> d_configs, d_atom_base, d_row_offset, d_atom_offset;
  DeviceArray<int32_t> d_col_of, d_row_i, d_row_k, d_perm, d_sorted_i;
  DeviceArray<double> d_dgrad64, d_forces_t, d_energy_t, d_ew, d_fw;
  DeviceArray<float> d_dgrad32;

  RowBatch(uint64_t seed, int nconf_data, int d, int max_atoms, bool permute) {
    data = random_dataset(seed, nconf_data, d, 2, max_atoms);
    std::mt19937_64 gen(seed + 1);
    // A shuffled batch of most configurations, one of them twice.
    for (int64_t c = 0; c < data.nconfigs(); c += 1 + int64_t(gen() % 2)) configs.push_back(c);
    configs.push_back(configs.front());
    std::shuffle(configs.begin(), configs.end(), gen);
    atom_base.assign(1, 0);
    for (int64_t c : configs) atom_base.push_back(atom_base.back() + data.natoms_of(c));
    natoms = atom_base.back();
    if (permute) {
      col_of.resize(static_cast<size_t>(natoms));
      std::iota(col_of.begin(), col_of.end(), 0);
      std::shuffle(col_of.begin(), col_of.end(), gen);
    }
    d_configs.upload(configs);
    d_atom_base.upload(atom_base);
    d_row_offset.upload(data.row_offset);
    d_atom_offset.upload(data.atom_offset);
    d_col_of.upload(col_of);
    d_row_i.upload(data.row_i);
    d_row_k.upload(data.row_k);
    d_dgrad64.upload(data.dgrad64);
    d_dgrad32.upload(data.dgrad32);
    d_forces_t.upload(data.forces);
    d_energy_t.upload(data.energy);
    d_ew.upload(data.eweight);
    d_fw.upload(data.fweight);
    std::vector<int32_t> perm, sorted_i;
    cuda::build_rows_by_atom(data, perm, sorted_i);
    d_perm.upload(perm);
    d_sorted_i.upload(sorted_i);
  }
  int nconf() const { return int(configs.size()); }
  const int32_t* hcol() const { return col_of.empty() ? nullptr : col_of.data(); }
  const int32_t* dcol() const { return col_of.empty() ? nullptr : d_col_of.data(); }
  template <class Dg>
  const Dg* ddgrad() const;
};
template <>
const double* RowBatch::ddgrad<double>() const {
  return d_dgrad64.data();
}
template <>
const float* RowBatch::ddgrad<float>() const {
  return d_dgrad32.data();
}

template <class S, class Dg>
void row_case(uint64_t seed, int d, int max_atoms, bool permute) {
  CudaContext ctx;
  RowBatch rb(seed, 9, d, max_atoms, permute);
  const Dataset& data = rb.data;
  std::mt19937_64 gen(seed + 7);
  const int64_t n = rb.natoms;
  const std::string tag = std::string(sizeof(S) == 8 ? "S=f64" : "S=f32") +
                          (sizeof(Dg) == 8 ? " D=f64" : " D=f32") + " d" + std::to_string(d) +
                          " atoms<=" + std::to_string(max_atoms) + (permute ? " perm" : "") +
                          ": ";
  const Dg* dg_h = rows_of<Dg>(data).data();
  const Dg* dg_d = rb.ddgrad<Dg>();

  // Contraction.
  const std::vector<S> beta = random_vector<S>(gen, static_cast<size_t>(d * n));
  DeviceArray<S> beta_d = to_device(beta);
  std::vector<S> forces(static_cast<size_t>(3 * n));
  DeviceArray<S> forces_d(static_cast<size_t>(3 * n));
  cpu::force_contract_cpu<S, Dg>(rb.nconf(), rb.configs.data(), data.row_offset.data(),
                                 rb.atom_base.data(), rb.hcol(), data.row_i.data(),
                                 data.row_k.data(), dg_h, d, beta.data(), forces.data());
  cuda::force_contract_cuda<S, Dg>(ctx, rb.nconf(), rb.d_configs.data(), rb.d_row_offset.data(),
                                   rb.d_atom_base.data(), rb.dcol(), rb.d_row_i.data(),
                                   rb.d_row_k.data(), dg_d, d, beta_d.data(), forces_d.data(), n);
  ctx.synchronize();
  expect_close(tag + "force_contract", forces_d.download(), forces);

  // Deterministic transpose.
  const std::vector<S> phi = random_vector<S>(gen, static_cast<size_t>(3 * n));
  DeviceArray<S> phi_d = to_device(phi);
  std::vector<S> g = random_vector<S>(gen, static_cast<size_t>(d * n));
  DeviceArray<S> g_d = to_device(g);
  cpu::force_transpose_cpu<S, Dg>(rb.nconf(), rb.configs.data(), data.row_offset.data(),
                                  rb.atom_base.data(), rb.hcol(), data.row_i.data(),
                                  data.row_k.data(), dg_h, d, phi.data(), g.data());
  cuda::force_transpose_cuda<S, Dg>(ctx, rb.nconf(), rb.d_configs.data(),
                                    rb.d_row_offset.data(), rb.d_atom_base.data(), rb.dcol(),
                                    rb.d_row_i.data(), rb.d_row_k.data(), dg_d, d, phi_d.data(),
                                    g_d.data(), n,
                                    cuda::RowsByAtom{rb.d_perm.data(), rb.d_sorted_i.data()});
  ctx.synchronize();
  const std::vector<S> g_first = g_d.download();
  expect_close(tag + "force_transpose", g_first, g);
  // Deterministic means bitwise: a second run gives the same bits.
  cuda::force_transpose_cuda<S, Dg>(ctx, rb.nconf(), rb.d_configs.data(),
                                    rb.d_row_offset.data(), rb.d_atom_base.data(), rb.dcol(),
                                    rb.d_row_i.data(), rb.d_row_k.data(), dg_d, d, phi_d.data(),
                                    g_d.data(), n,
                                    cuda::RowsByAtom{rb.d_perm.data(), rb.d_sorted_i.data()});
  ctx.synchronize();
  EXPECT_TRUE(g_d.download() == g_first) << tag << "force_transpose is not reproducible";

  // Fused atomic pass: forces, phi as loss_cpu forms it, g from that phi.
  const double inv_m = 1.0 / rb.nconf();
  std::vector<double> energy(static_cast<size_t>(rb.nconf()), 0.0), eps(static_cast<size_t>(rb.nconf()));
  std::vector<S> phi_ref(static_cast<size_t>(3 * n)), g_ref(static_cast<size_t>(d * n), S(0));
  cpu::loss_cpu<S>(rb.nconf(), rb.configs.data(), data.atom_offset.data(), data.energy.data(),
                   data.forces.data(), data.eweight.data(), data.fweight.data(),
                   rb.atom_base.data(), rb.hcol(), energy.data(), forces.data(), inv_m,
                   eps.data(), phi_ref.data(), nullptr);
  cpu::force_transpose_cpu<S, Dg>(rb.nconf(), rb.configs.data(), data.row_offset.data(),
                                  rb.atom_base.data(), rb.hcol(), data.row_i.data(),
                                  data.row_k.data(), dg_h, d, phi_ref.data(), g_ref.data());
  DeviceArray<S> phi2_d(static_cast<size_t>(3 * n)), forces2_d(static_cast<size_t>(3 * n)), g2_d(static_cast<size_t>(d * n));
  g2_d.zero();
  cuda::force_contract_transpose_atomic_cuda<S, Dg>(
      ctx, rb.nconf(), rb.d_configs.data(), rb.d_row_offset.data(), rb.d_atom_offset.data(),
      rb.d_forces_t.data(), rb.d_fw.data(), rb.d_atom_base.data(), rb.dcol(), rb.d_row_i.data(),
      rb.d_row_k.data(), dg_d, d, beta_d.data(), inv_m, forces2_d.data(), phi2_d.data(),
      g2_d.data(), n);
  ctx.synchronize();
  expect_close(tag + "atomic pass forces", forces2_d.download(), forces);
  // phi depends on F - f, a difference: compare against the CPU's phi with the float tolerance
  // scaled by the forces' size (the CPU's own F carries the same rounding).
  expect_close(tag + "atomic pass phi", phi2_d.download(), phi_ref,
               sizeof(S) == 8 ? 1e-11 : 1e-4);
  expect_close(tag + "atomic pass g", g2_d.download(), g_ref, sizeof(S) == 8 ? 1e-11 : 1e-4);
}

}  // namespace

TEST(CudaRows, ContractAndTransposeMatchCpu) {
  FITNN_REQUIRE_GPU();
  uint64_t seed = 1000;
  for (int d : {5, 30, 45, 150})
    for (int max_atoms : {4, 24})
      for (bool permute : {false, true}) {
        if (d == 150 && max_atoms == 24) continue;  // keeps the test quick
        row_case<double, double>(seed++, d, max_atoms, permute);
        row_case<double, float>(seed++, d, max_atoms, permute);
        row_case<float, float>(seed++, d, max_atoms, permute);
      }
}

template <class S>
void loss_case(uint64_t seed, int nconf_data, bool permute, bool with_eps_col) {
  CudaContext ctx;
  RowBatch rb(seed, nconf_data, 3, 6, permute);
  const Dataset& data = rb.data;
  std::mt19937_64 gen(seed + 3);
  const int64_t n = rb.natoms;
  const int nc = rb.nconf();
  const std::string tag = std::string(sizeof(S) == 8 ? "f64" : "f32") + " nconf " +
                          std::to_string(nc) + (permute ? " perm" : "") + ": ";
  // Atom energies by column, forces near the targets.
  const std::vector<S> atom_energy = random_vector<S>(gen, static_cast<size_t>(n));
  DeviceArray<S> atom_energy_d = to_device(atom_energy);
  std::vector<double> energy(static_cast<size_t>(nc));
  DeviceArray<double> energy_d(static_cast<size_t>(nc));
  cpu::config_energy_cpu<S>(nc, rb.atom_base.data(), rb.hcol(), atom_energy.data(),
                            energy.data());
  cuda::config_energy_cuda<S>(ctx, nc, rb.d_atom_base.data(), rb.dcol(), atom_energy_d.data(),
                              energy_d.data());
  ctx.synchronize();
  expect_close(tag + "config_energy", energy_d.download(), energy);
  energy_d.upload(energy);

  const std::vector<S> forces = random_vector<S>(gen, static_cast<size_t>(3 * n));
  DeviceArray<S> forces_d = to_device(forces);
  const double inv_m = 1.0 / nc;
  std::vector<double> eps(static_cast<size_t>(nc));
  std::vector<S> phi(static_cast<size_t>(3 * n)), eps_col = random_vector<S>(gen, static_cast<size_t>(n));
  DeviceArray<double> eps_d(static_cast<size_t>(nc));
  DeviceArray<S> phi_d(static_cast<size_t>(3 * n)), eps_col_d = to_device(eps_col);
  const double start = 0.125;  // loss_cuda adds to the accumulator
  DeviceArray<double> acc_d = to_device(std::vector<double>{start});
  const double loss = cpu::loss_cpu<S>(
      nc, rb.configs.data(), data.atom_offset.data(), data.energy.data(), data.forces.data(),
      data.eweight.data(), data.fweight.data(), rb.atom_base.data(), rb.hcol(), energy.data(),
      forces.data(), inv_m, eps.data(), phi.data(), with_eps_col ? eps_col.data() : nullptr);
  ctx.reserve_scratch(cuda::loss_scratch_bytes());
  cuda::loss_cuda<S>(ctx, nc, rb.d_configs.data(), rb.d_atom_offset.data(), rb.d_energy_t.data(),
                     rb.d_forces_t.data(), rb.d_ew.data(), rb.d_fw.data(), rb.d_atom_base.data(),
                     rb.dcol(), energy_d.data(), forces_d.data(), inv_m, eps_d.data(),
                     phi_d.data(), with_eps_col ? eps_col_d.data() : nullptr, acc_d.data());
  ctx.synchronize();
  expect_close(tag + "loss", std::vector<double>{acc_d.download()[0] - start},
               std::vector<double>{loss});
  expect_close(tag + "eps", eps_d.download(), eps);
  expect_close(tag + "phi", phi_d.download(), phi);
  expect_close(tag + "eps_col", eps_col_d.download(), eps_col);
}

TEST(CudaRows, EnergyAndLossMatchCpu) {
  FITNN_REQUIRE_GPU();
  loss_case<double>(2000, 9, false, true);
  loss_case<double>(2001, 9, true, true);
  loss_case<double>(2002, 3000, false, false);  // many blocks of the loss reduction
  loss_case<float>(2003, 9, true, true);
  loss_case<float>(2004, 3000, true, true);
}

template <class S>
void adam_case(uint64_t seed, int64_t n) {
  CudaContext ctx;
  std::mt19937_64 gen(seed);
  std::vector<S> p = random_vector<S>(gen, static_cast<size_t>(n)), gr = random_vector<S>(gen, static_cast<size_t>(n)),
                 m = random_vector<S>(gen, static_cast<size_t>(n), -0.1, 0.1),
                 v = random_vector<S>(gen, static_cast<size_t>(n), 0.0, 0.01);
  DeviceArray<S> pd = to_device(p), gd = to_device(gr), md = to_device(m), vd = to_device(v);
  const std::string tag = std::string(sizeof(S) == 8 ? "f64" : "f32") + " adam n" +
                          std::to_string(n) + ": ";
  for (int64_t step : {1, 2, 7, 1000}) {
    cpu::adam_step_cpu(p.data(), gr.data(), m.data(), v.data(), n, 3e-3, 0.9, 0.999, 1e-8, step);
    cuda::adam_step_cuda(ctx, pd.data(), gd.data(), md.data(), vd.data(), n, 3e-3, 0.9, 0.999,
                         1e-8, step);
  }
  ctx.synchronize();
  expect_close(tag + "params", pd.download(), p);
  expect_close(tag + "m", md.download(), m);
  expect_close(tag + "v", vd.download(), v);

  // The guarded variant: same update when finite, nothing at all after a NaN.
  const cuda::AdamScalars sc = cuda::adam_scalars(1e-2, 0.9, 0.999, 1e-8, 3);
  DeviceArray<cuda::AdamScalars> scd;
  scd.upload(&sc, 1);
  DeviceArray<int> bad = to_device(std::vector<int>{0});
  DeviceArray<double> loss = to_device(std::vector<double>{0.5});
  cuda::check_finite_cuda(ctx, gd.data(), n, loss.data(), bad.data());
  cuda::adam_step_device_cuda(ctx, pd.data(), gd.data(), md.data(), vd.data(), n, scd.data(),
                              bad.data(), loss.data());
  cpu::adam_step_cpu(p.data(), gr.data(), m.data(), v.data(), n, 1e-2, 0.9, 0.999, 1e-8, 3);
  ctx.synchronize();
  EXPECT_EQ(bad.download()[0], 0);
  expect_close(tag + "guarded params", pd.download(), p);
  gr[static_cast<size_t>(n / 2)] = std::numeric_limits<S>::quiet_NaN();
  gd.upload(gr);
  const std::vector<S> before = pd.download(), m_before = md.download();
  cuda::check_finite_cuda(ctx, gd.data(), n, loss.data(), bad.data());
  cuda::adam_step_device_cuda(ctx, pd.data(), gd.data(), md.data(), vd.data(), n, scd.data(),
                              bad.data(), loss.data());
  ctx.synchronize();
  EXPECT_NE(bad.download()[0], 0);
  EXPECT_TRUE(pd.download() == before) << "a NaN gradient must leave the parameters alone";
  EXPECT_TRUE(md.download() == m_before);
  // A NaN loss alone also blocks the update.
  gd.upload(random_vector<S>(gen, static_cast<size_t>(n)));
  bad.zero();
  loss.upload(std::vector<double>{std::nan("")});
  cuda::check_finite_cuda(ctx, gd.data(), n, loss.data(), bad.data());
  cuda::adam_step_device_cuda(ctx, pd.data(), gd.data(), md.data(), vd.data(), n, scd.data(),
                              bad.data(), loss.data());
  ctx.synchronize();
  EXPECT_NE(bad.download()[0], 0);
  EXPECT_TRUE(pd.download() == before);
}

TEST(CudaRows, AdamMatchesCpu) {
  FITNN_REQUIRE_GPU();
  adam_case<double>(3000, 1);
  adam_case<double>(3001, 100003);
  adam_case<float>(3002, 1001);
}

#endif  // FITNN_HAVE_CUDA
