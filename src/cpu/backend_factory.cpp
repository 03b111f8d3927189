// make_backend(): "cpu" -> CpuBackend<double|float> with the requested threads, "cuda" -> the
// CUDA backend when this FitNN was built with it.
#include <algorithm>
#include <thread>

#include "cpu/cpu_backend.hpp"
#include "fitnn/backend.hpp"
#include "fitnn/cuda_backend.hpp"
#include "fitnn/errors.hpp"

namespace fitnn {

std::unique_ptr<Backend> make_backend(const std::string& device, Precision precision,
                                      int threads) {
  if (device == "cpu") {
    if (threads < 0)
      throw InputError("--threads " + std::to_string(threads) + ": use 0 (all cores) or more");
    if (threads == 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
    if (precision == Precision::f64) return std::make_unique<CpuBackend<double>>(threads);
    return std::make_unique<CpuBackend<float>>(threads);
  }
  if (device == "cuda") {
#ifdef FITNN_HAVE_CUDA
    return make_cuda_backend(precision);
#else
    throw DeviceError(
        "--device cuda: this fitnn was built without CUDA (no nvcc found at configure time); "
        "rebuild with -DFITNN_CUDA=ON on a machine with the CUDA toolkit, or use --device cpu");
#endif
  }
  throw InputError("--device " + device + ": use cpu or cuda");
}

}  // namespace fitnn
