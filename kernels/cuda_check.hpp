// Error checking for every CUDA runtime and cuBLAS call of kernels/: the macros throw
// fitnn::DeviceError with file:line, the call and the error text; FITNN_CUDA_LAUNCH_CHECK()
// follows every kernel launch (cudaGetLastError: bad configuration, missing kernel image).
// Destructors use FITNN_CUDA_WARN, which only logs (throwing from a destructor terminates).
// Include only from kernels/ (it includes the CUDA headers).
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <string>

#include "fitnn/errors.hpp"

namespace fitnn {
namespace cuda {

[[noreturn]] void throw_cuda_error(cudaError_t err, const char* call, const char* file,
                                   int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t st, const char* call, const char* file,
                                     int line);
void warn_cuda_error(cudaError_t err, const char* call, const char* file, int line) noexcept;
const char* cublas_status_name(cublasStatus_t st);

}  // namespace cuda
}  // namespace fitnn

#define FITNN_CUDA_CHECK(call)                                                    \
  do {                                                                            \
    const cudaError_t fitnn_err_ = (call);                                        \
    if (fitnn_err_ != cudaSuccess)                                                \
      ::fitnn::cuda::throw_cuda_error(fitnn_err_, #call, __FILE__, __LINE__);     \
  } while (0)

#define FITNN_CUBLAS_CHECK(call)                                                  \
  do {                                                                            \
    const cublasStatus_t fitnn_st_ = (call);                                      \
    if (fitnn_st_ != CUBLAS_STATUS_SUCCESS)                                       \
      ::fitnn::cuda::throw_cublas_error(fitnn_st_, #call, __FILE__, __LINE__);    \
  } while (0)

// After every <<<...>>> launch.
#define FITNN_CUDA_LAUNCH_CHECK()                                                 \
  do {                                                                            \
    const cudaError_t fitnn_err_ = cudaGetLastError();                            \
    if (fitnn_err_ != cudaSuccess)                                                \
      ::fitnn::cuda::throw_cuda_error(fitnn_err_, "kernel launch", __FILE__, __LINE__); \
  } while (0)

// Destructors and other noexcept paths: log and carry on.
#define FITNN_CUDA_WARN(call)                                                     \
  do {                                                                            \
    const cudaError_t fitnn_err_ = (call);                                        \
    if (fitnn_err_ != cudaSuccess)                                                \
      ::fitnn::cuda::warn_cuda_error(fitnn_err_, #call, __FILE__, __LINE__);      \
  } while (0)
