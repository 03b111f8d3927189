// Helpers of the CUDA tests (tests/test_cuda_*.cpp): skipping without a device, tolerance
// checks that print the worst ratio, and host<->device vectors. Only included when FitNN is
// built with CUDA (FITNN_HAVE_CUDA); no CUDA header is included (kernels/device.hpp is CUDA-free).
#pragma once
#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "device.hpp"
#include "support.hpp"

namespace fitnn_test {

#define FITNN_REQUIRE_GPU()                                                                  \
  do {                                                                                       \
    if (fitnn::cuda::device_count() == 0)                                                    \
      GTEST_SKIP() << "no CUDA device (" << fitnn::cuda::device_unavailable_reason() << ")"; \
  } while (0)

template <class S>
double rtol_of() {
  return sizeof(S) == sizeof(double) ? 1e-12 : 1e-5;
}

template <class T>
std::vector<double> as_double(const std::vector<T>& v) {
  return std::vector<double>(v.begin(), v.end());
}

template <class S>
double expect_close(const std::string& what, const std::vector<S>& gpu, const std::vector<S>& cpu,
                    double rtol = rtol_of<S>()) {
  EXPECT_EQ(gpu.size(), cpu.size()) << what;
  if (gpu.size() != cpu.size()) return 1e300;
  const std::vector<double> g = as_double(gpu), c = as_double(cpu);
  const double scale = max_abs(c);
  const double atol = rtol * (scale > 0.0 ? scale : 1.0);
  const double ratio = tolerance_ratio(g, c, atol, rtol);
  std::printf("  %-44s max |gpu-cpu| / (atol + rtol|cpu|) = %.3g  (%zu values, rtol %.0e)\n",
              what.c_str(), ratio, c.size(), rtol);
  EXPECT_LE(ratio, 1.0) << what;
  return ratio;
}

template <class T>
fitnn::cuda::DeviceArray<T> to_device(const std::vector<T>& v) {
  fitnn::cuda::DeviceArray<T> d;
  d.upload(v);
  return d;
}

template <class S>
std::vector<S> random_vector(std::mt19937_64& gen, size_t n, double lo = -1.0, double hi = 1.0) {
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<S> v(n);
  for (auto& x : v) x = S(u(gen));
  return v;
}

}  // namespace fitnn_test
