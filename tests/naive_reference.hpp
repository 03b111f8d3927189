// A deliberately naive, per-atom, per-row implementation of loss-and-gradients.md for the
// tests: plain loops, std:: math, the reverse pass exactly as the spec writes it (separate
// primal and tangent adjoints). The optimized CPU ops are checked against it.
#pragma once
#include <cmath>
#include <cstdint>
#include <vector>

#include "fitnn/dataset.hpp"
#include "fitnn/model.hpp"

namespace fitnn_test {

struct NaiveAct {
  double h, a1, a2;
};

inline NaiveAct naive_act(fitnn::Activation act, double z) {
  using fitnn::Activation;
  switch (act) {
    case Activation::softplus: {
      const double s = 1.0 / (1.0 + std::exp(-z));
      const double h = z > 0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z));
      return {h, s, s * (1.0 - s)};
    }
    case Activation::tanh: {
      const double t = std::tanh(z);
      return {t, 1.0 - t * t, -2.0 * t * (1.0 - t * t)};
    }
    case Activation::sigmoid: {
      const double s = 1.0 / (1.0 + std::exp(-z));
      return {s, s * (1.0 - s), s * (1.0 - s) * (1.0 - 2.0 * s)};
    }
    case Activation::relu: return {z > 0 ? z : 0.0, z > 0 ? 1.0 : 0.0, 0.0};
    case Activation::linear: return {z, 1.0, 0.0};
  }
  return {0, 0, 0};
}

// One atom through one net: every layer's z, h, act', act''.
struct NaiveAtom {
  std::vector<std::vector<double>> z, h, a1, a2;  // [l] l = 0..L (h[0] = input)
  double energy = 0.0;
  std::vector<double> beta;  // (d)
};

inline NaiveAtom naive_atom(const fitnn::Model& m, const double* x, int type) {
  const auto& lay = m.layout;
  const int L = lay.nlayers(), d = lay.ndesc, net = lay.net_of_type(type);
  NaiveAtom r;
  r.z.resize(size_t(L + 1));
  r.h.resize(size_t(L + 1));
  r.a1.resize(size_t(L + 1));
  r.a2.resize(size_t(L + 1));
  r.h[0].assign(size_t(lay.widths[0]), 0.0);
  for (int k = 0; k < d; ++k) r.h[0][k] = (x[k] - m.mean[k]) / m.std[k];
  if (lay.option == 3) r.h[0][size_t(d + type)] = 1.0;
  for (int l = 1; l <= L; ++l) {
    const int in = lay.widths[l - 1], out = lay.widths[l];
    const double* W = m.params.data() + lay.weight_offset(net, l);
    const double* b = m.params.data() + lay.bias_offset(net, l);
    r.z[l].assign(size_t(out), 0.0);
    r.h[l].assign(size_t(out), 0.0);
    r.a1[l].assign(size_t(out), 1.0);
    r.a2[l].assign(size_t(out), 0.0);
    for (int o = 0; o < out; ++o) {
      double s = b[o];
      for (int i = 0; i < in; ++i) s += W[o * in + i] * r.h[l - 1][i];
      r.z[l][o] = s;
      if (l < L) {
        const NaiveAct a = naive_act(lay.activation, s);
        r.h[l][o] = a.h;
        r.a1[l][o] = a.a1;
        r.a2[l][o] = a.a2;
      } else {
        r.h[l][o] = s;
      }
    }
  }
  r.energy = r.z[L][0];
  // beta: delta_L = 1, delta_{l-1} = act'(z_{l-1}) W_l^T delta_l, beta = W_1^T delta_1 / s.
  std::vector<double> delta{1.0};
  for (int l = L; l >= 1; --l) {
    const int in = lay.widths[l - 1], out = lay.widths[l];
    const double* W = m.params.data() + lay.weight_offset(net, l);
    std::vector<double> prev(size_t(in), 0.0);
    for (int i = 0; i < in; ++i)
      for (int o = 0; o < out; ++o) prev[i] += W[o * in + i] * delta[o];
    if (l > 1)
      for (int i = 0; i < in; ++i) prev[i] *= r.a1[l - 1][i];
    delta = prev;
  }
  r.beta.assign(size_t(d), 0.0);
  for (int k = 0; k < d; ++k) r.beta[k] = delta[k] / m.std[k];
  return r;
}

// Tangent along g and the spec's reverse pass for one atom; adds into grad (nparams).
inline void naive_atom_gradient(const fitnn::Model& m, const NaiveAtom& r, int type,
                                const double* g, double eps, std::vector<double>& grad) {
  const auto& lay = m.layout;
  const int L = lay.nlayers(), d = lay.ndesc, net = lay.net_of_type(type);
  std::vector<std::vector<double>> zd(size_t(L + 1)), hd(size_t(L + 1));
  hd[0].assign(size_t(lay.widths[0]), 0.0);
  for (int k = 0; k < d; ++k) hd[0][k] = g[k] / m.std[k];
  for (int l = 1; l <= L; ++l) {
    const int in = lay.widths[l - 1], out = lay.widths[l];
    const double* W = m.params.data() + lay.weight_offset(net, l);
    zd[l].assign(size_t(out), 0.0);
    hd[l].assign(size_t(out), 0.0);
    for (int o = 0; o < out; ++o) {
      for (int i = 0; i < in; ++i) zd[l][o] += W[o * in + i] * hd[l - 1][i];
      hd[l][o] = (l < L ? r.a1[l][o] : 1.0) * zd[l][o];
    }
  }
  std::vector<double> abar{eps}, tbar{1.0};
  for (int l = L; l >= 1; --l) {
    const int in = lay.widths[l - 1], out = lay.widths[l];
    const double* W = m.params.data() + lay.weight_offset(net, l);
    double* dW = grad.data() + lay.weight_offset(net, l);
    double* db = grad.data() + lay.bias_offset(net, l);
    std::vector<double> zbar(static_cast<size_t>(out)), zdbar(static_cast<size_t>(out));
    for (int o = 0; o < out; ++o) {
      const double a1 = l < L ? r.a1[l][o] : 1.0, a2 = l < L ? r.a2[l][o] : 0.0;
      zdbar[o] = tbar[o] * a1;
      zbar[o] = abar[o] * a1 + tbar[o] * a2 * zd[l][o];
    }
    for (int o = 0; o < out; ++o) {
      for (int i = 0; i < in; ++i)
        dW[o * in + i] += zbar[o] * r.h[l - 1][i] + zdbar[o] * hd[l - 1][i];
      db[o] += zbar[o];
    }
    std::vector<double> na(size_t(in), 0.0), nt(size_t(in), 0.0);
    for (int i = 0; i < in; ++i)
      for (int o = 0; o < out; ++o) {
        na[i] += W[o * in + i] * zbar[o];
        nt[i] += W[o * in + i] * zdbar[o];
      }
    abar = na;
    tbar = nt;
  }
}

struct NaiveResult {
  double loss = 0.0;
  std::vector<double> grad, energy, atom_energy, forces, beta;
};

// The whole batch: energies, forces (per row), loss, adjoints, gradient.
inline NaiveResult naive_batch(const fitnn::Dataset& data, const fitnn::Model& m,
                               const std::vector<int64_t>& batch) {
  const int d = data.ndesc;
  const double M = double(batch.size());
  NaiveResult res;
  res.grad.assign(size_t(m.layout.nparams()), 0.0);
  for (int64_t c : batch) {
    const int n = data.natoms_of(c);
    const int64_t a0 = data.atom_offset[c];
    std::vector<NaiveAtom> atoms;
    double E = 0.0;
    for (int i = 0; i < n; ++i) {
      atoms.push_back(naive_atom(m, data.descriptors.data() + (a0 + i) * d, data.atom_type[a0 + i]));
      E += atoms.back().energy;
      res.atom_energy.push_back(atoms.back().energy);
      res.beta.insert(res.beta.end(), atoms.back().beta.begin(), atoms.back().beta.end());
    }
    std::vector<double> F(size_t(3 * n), 0.0);
    for (int64_t r = data.row_offset[c]; r < data.row_offset[c + 1]; ++r)
      for (int k = 0; k < d; ++k) F[data.row_k[r]] += atoms[data.row_i[r]].beta[k] * data.dgrad(r, k);
    res.energy.push_back(E);
    res.forces.insert(res.forces.end(), F.begin(), F.end());
    const double de = E / n - data.energy[c] / n;
    double fsum = 0.0;
    std::vector<double> phi(size_t(3 * n));
    for (int k = 0; k < 3 * n; ++k) {
      const double df = F[k] - data.forces[3 * a0 + k];
      fsum += df * df;
      phi[k] = 2.0 * data.fweight[c] / (3.0 * n * M) * df;
    }
    res.loss += (data.eweight[c] * de * de + data.fweight[c] / (3.0 * n) * fsum) / M;
    const double eps = 2.0 * data.eweight[c] / M * (E - data.energy[c]) / (double(n) * n);
    std::vector<double> g(size_t(n * d), 0.0);
    for (int64_t r = data.row_offset[c]; r < data.row_offset[c + 1]; ++r)
      for (int k = 0; k < d; ++k) g[data.row_i[r] * d + k] += phi[data.row_k[r]] * data.dgrad(r, k);
    for (int i = 0; i < n; ++i)
      naive_atom_gradient(m, atoms[i], data.atom_type[a0 + i], g.data() + i * d, eps, res.grad);
  }
  return res;
}

}  // namespace fitnn_test
