// The CUDA side of CudaContext (device.hpp): the stream, the cuBLAS handle and its workspace,
// device limits and the shared scratch buffer. Included by the .cu files of kernels/ only.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda_check.hpp"
#include "device.hpp"

namespace fitnn {
namespace cuda {

struct CudaContext::Impl {
  int device = 0;
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
  void* blas_workspace = nullptr;
  size_t blas_workspace_bytes = 0;
  int sm_count = 1;
  size_t smem_optin = 48 * 1024;
  void* scratch = nullptr;
  size_t scratch_bytes = 0;
  int64_t generation = 0;
};

inline cudaStream_t stream_of(const CudaContext& ctx) { return ctx.impl().stream; }
inline cublasHandle_t blas_of(const CudaContext& ctx) { return ctx.impl().blas; }

// True while `stream` is being captured into a CUDA graph.
inline bool is_capturing(cudaStream_t stream) {
  cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
  FITNN_CUDA_CHECK(cudaStreamIsCapturing(stream, &st));
  return st != cudaStreamCaptureStatusNone;
}

}  // namespace cuda
}  // namespace fitnn
