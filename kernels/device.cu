// The host side of the device (device.hpp, cuda_check.hpp): device discovery, error texts,
// tracked device allocations, synchronous copies, the execution context (stream, cuBLAS handle
// with a fixed workspace for graph capture, scratch buffer), event timers and the
// device-to-device copy bandwidth probe. No kernels here; everything runs on the host thread
// that owns the context.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <sstream>
#include <unordered_map>

#include "cuda_check.hpp"
#include "cuda_context.cuh"
#include "device.hpp"
#include "fitnn/log.hpp"

namespace fitnn {
namespace cuda {

namespace {

constexpr size_t kBlasWorkspaceBytes = size_t(32) << 20;  // cuBLAS workspace (graph capture)
std::atomic<int64_t> g_allocated{0};

std::string gib(double bytes) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / double(1 << 30));
  return buf;
}

}  // namespace

// ---- Errors --------------------------------------------------------------------------------

const char* cublas_status_name(cublasStatus_t st) {
  switch (st) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "unknown cuBLAS status";
  }
}

void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line) {
  std::ostringstream msg;
  msg << "CUDA error at " << file << ":" << line << ": " << call << " failed with "
      << cudaGetErrorName(err) << " (" << cudaGetErrorString(err) << ")";
  if (err == cudaErrorMemoryAllocation)
    msg << "; the GPU is out of memory: use a smaller batch_size, derivative_precision = 32, "
           "or --device cpu";
  throw DeviceError(msg.str());
}

void throw_cublas_error(cublasStatus_t st, const char* call, const char* file, int line) {
  std::ostringstream msg;
  msg << "cuBLAS error at " << file << ":" << line << ": " << call << " failed with "
      << cublas_status_name(st);
  throw DeviceError(msg.str());
}

void warn_cuda_error(cudaError_t err, const char* call, const char* file, int line) noexcept {
  try {
    std::ostringstream msg;
    msg << "CUDA error at " << file << ":" << line << " (ignored while releasing resources): "
        << call << " failed with " << cudaGetErrorName(err);
    log_warn(msg.str());
  } catch (...) {
  }
}

// ---- Discovery -----------------------------------------------------------------------------

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky-free error so later calls are not confused
    return 0;
  }
  return n;
}

std::string device_unavailable_reason() {
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    return std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
  }
  if (n == 0) return "the CUDA runtime reports no device";
  return "";
}

std::string device_description() {
  int dev = 0;
  FITNN_CUDA_CHECK(cudaGetDevice(&dev));
  cudaDeviceProp prop{};
  FITNN_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
  std::ostringstream s;
  s << prop.name << ", sm_" << prop.major << prop.minor << ", " << prop.multiProcessorCount
    << " SMs, " << gib(double(prop.totalGlobalMem));
  return s.str();
}

MemoryInfo device_memory() {
  size_t free_b = 0, total_b = 0;
  FITNN_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  return MemoryInfo{int64_t(free_b), int64_t(total_b)};
}

int64_t device_bytes_allocated() { return g_allocated.load(); }

// ---- Memory --------------------------------------------------------------------------------

namespace {

// Sizes of the live allocations (few, made at upload), for device_bytes_allocated().
std::mutex g_alloc_mutex;
std::unordered_map<void*, size_t> g_alloc_sizes;

}  // namespace

void* device_alloc(size_t bytes) {
  if (bytes == 0) return nullptr;
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, bytes);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    (void)cudaMemGetInfo(&free_b, &total_b);
    std::ostringstream msg;
    msg << "CUDA: cannot allocate " << gib(double(bytes)) << " on the GPU (" << gib(double(free_b))
        << " free of " << gib(double(total_b)) << "; FitNN holds "
        << gib(double(g_allocated.load())) << "): " << cudaGetErrorName(err)
        << ". Use a smaller batch_size, derivative_precision = 32, or --device cpu";
    throw DeviceError(msg.str());
  }
  {
    std::lock_guard<std::mutex> lock(g_alloc_mutex);
    g_alloc_sizes[p] = bytes;
  }
  g_allocated += int64_t(bytes);
  return p;
}

void device_free(void* p) noexcept {
  if (!p) return;
  {
    std::lock_guard<std::mutex> lock(g_alloc_mutex);
    const auto it = g_alloc_sizes.find(p);
    if (it != g_alloc_sizes.end()) {
      g_allocated -= int64_t(it->second);
      g_alloc_sizes.erase(it);
    }
  }
  FITNN_CUDA_WARN(cudaFree(p));
}

// These run on the legacy default stream, which does NOT order against the contexts'
// non-blocking streams, and a pageable host->device copy or a memset may return before the
// device is done: wait for the legacy stream, so that work enqueued afterwards on any stream
// sees the data. (Callers synchronize their own stream before reading results back.)
void copy_to_device(void* dst, const void* src, size_t bytes) {
  if (!bytes) return;
  FITNN_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
  FITNN_CUDA_CHECK(cudaStreamSynchronize(0));
}

void copy_to_host(void* dst, const void* src, size_t bytes) {
  if (bytes) FITNN_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}

void fill_zero(void* dst, size_t bytes) {
  if (!bytes) return;
  FITNN_CUDA_CHECK(cudaMemset(dst, 0, bytes));
  FITNN_CUDA_CHECK(cudaStreamSynchronize(0));
}

// ---- Context -------------------------------------------------------------------------------

namespace {

void release(CudaContext::Impl& im) noexcept {
  if (im.blas) {
    const cublasStatus_t st = cublasDestroy(im.blas);
    if (st != CUBLAS_STATUS_SUCCESS) {
      try {
        log_warn(std::string("cuBLAS: cublasDestroy failed with ") + cublas_status_name(st));
      } catch (...) {
      }
    }
    im.blas = nullptr;
  }
  device_free(im.blas_workspace);
  im.blas_workspace = nullptr;
  device_free(im.scratch);
  im.scratch = nullptr;
  im.scratch_bytes = 0;
  if (im.stream) FITNN_CUDA_WARN(cudaStreamDestroy(im.stream));
  im.stream = nullptr;
}

}  // namespace

CudaContext::CudaContext() : m_impl(new Impl) {
  const std::string why = device_unavailable_reason();
  if (!why.empty())
    throw DeviceError("--device cuda: no usable GPU (" + why +
                      "); check the NVIDIA driver and CUDA_VISIBLE_DEVICES, or use --device cpu");
  Impl& im = *m_impl;
  try {
    FITNN_CUDA_CHECK(cudaGetDevice(&im.device));
    int v = 0;
    FITNN_CUDA_CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, im.device));
    im.sm_count = v > 0 ? v : 1;
    FITNN_CUDA_CHECK(
        cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, im.device));
    im.smem_optin = v > 0 ? size_t(v) : size_t(48 * 1024);
    FITNN_CUDA_CHECK(cudaStreamCreateWithFlags(&im.stream, cudaStreamNonBlocking));
    FITNN_CUBLAS_CHECK(cublasCreate(&im.blas));
    FITNN_CUBLAS_CHECK(cublasSetStream(im.blas, im.stream));
    FITNN_CUBLAS_CHECK(cublasSetPointerMode(im.blas, CUBLAS_POINTER_MODE_HOST));
    // Plain FP32/FP64 arithmetic: no TF32 tensor-core shortcuts for float.
    FITNN_CUBLAS_CHECK(cublasSetMathMode(im.blas, CUBLAS_DEFAULT_MATH));
    // A fixed workspace: cuBLAS must not allocate while a graph is being captured.
    im.blas_workspace = device_alloc(kBlasWorkspaceBytes);
    im.blas_workspace_bytes = kBlasWorkspaceBytes;
    FITNN_CUBLAS_CHECK(cublasSetWorkspace(im.blas, im.blas_workspace, im.blas_workspace_bytes));
  } catch (...) {
    release(im);
    throw;
  }
}

CudaContext::~CudaContext() {
  if (!m_impl) return;
  if (m_impl->stream) FITNN_CUDA_WARN(cudaStreamSynchronize(m_impl->stream));
  release(*m_impl);
}

void CudaContext::synchronize() const { FITNN_CUDA_CHECK(cudaStreamSynchronize(m_impl->stream)); }

int CudaContext::sm_count() const { return m_impl->sm_count; }

size_t CudaContext::max_shared_bytes() const { return m_impl->smem_optin; }

int64_t CudaContext::generation() const { return m_impl->generation; }

void* CudaContext::scratch(size_t bytes) const {
  Impl& im = *m_impl;
  if (bytes <= im.scratch_bytes) return im.scratch;
  if (is_capturing(im.stream))
    throw DeviceError("CUDA: an op needs " + std::to_string(bytes) +
                      " bytes of scratch while a CUDA graph is being captured (internal error: "
                      "the backend must reserve_scratch() before capturing)");
  size_t grown = std::max(bytes, im.scratch_bytes + im.scratch_bytes / 2);
  grown = (grown + (size_t(1) << 20) - 1) & ~((size_t(1) << 20) - 1);  // whole MiB
  FITNN_CUDA_CHECK(cudaStreamSynchronize(im.stream));  // in-flight work may use the old one
  device_free(im.scratch);
  im.scratch = nullptr;
  im.scratch_bytes = 0;
  im.scratch = device_alloc(grown);
  im.scratch_bytes = grown;
  ++im.generation;
  return im.scratch;
}

// ---- Timing --------------------------------------------------------------------------------

DeviceTimer::DeviceTimer(const CudaContext& ctx) : m_ctx(ctx) {
  cudaEvent_t a = nullptr, b = nullptr;
  FITNN_CUDA_CHECK(cudaEventCreate(&a));
  const cudaError_t err = cudaEventCreate(&b);
  if (err != cudaSuccess) {
    FITNN_CUDA_WARN(cudaEventDestroy(a));
    throw_cuda_error(err, "cudaEventCreate(&b)", __FILE__, __LINE__);
  }
  m_start = a;
  m_stop = b;
}

DeviceTimer::~DeviceTimer() {
  if (m_start) FITNN_CUDA_WARN(cudaEventDestroy(static_cast<cudaEvent_t>(m_start)));
  if (m_stop) FITNN_CUDA_WARN(cudaEventDestroy(static_cast<cudaEvent_t>(m_stop)));
}

void DeviceTimer::start() {
  FITNN_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(m_start), stream_of(m_ctx)));
}

double DeviceTimer::stop_ms() {
  const auto stop = static_cast<cudaEvent_t>(m_stop);
  FITNN_CUDA_CHECK(cudaEventRecord(stop, stream_of(m_ctx)));
  FITNN_CUDA_CHECK(cudaEventSynchronize(stop));
  float ms = 0.0f;
  FITNN_CUDA_CHECK(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(m_start), stop));
  return double(ms);
}

double measure_copy_bandwidth(const CudaContext& ctx, size_t bytes, int reps) {
  if (bytes == 0 || reps < 1) return 0.0;
  DeviceArray<unsigned char> a(bytes), b(bytes);
  a.zero();
  const cudaStream_t s = stream_of(ctx);
  FITNN_CUDA_CHECK(cudaMemcpyAsync(b.data(), a.data(), bytes, cudaMemcpyDeviceToDevice, s));
  DeviceTimer timer(ctx);
  double best = 0.0;
  for (int r = 0; r < reps; ++r) {
    timer.start();
    FITNN_CUDA_CHECK(cudaMemcpyAsync(b.data(), a.data(), bytes, cudaMemcpyDeviceToDevice, s));
    const double ms = timer.stop_ms();
    if (r == 0 || ms < best) best = ms;
  }
  return best > 0.0 ? 2.0 * double(bytes) / (best * 1e-3) / 1e9 : 0.0;
}

}  // namespace cuda
}  // namespace fitnn
