// CUDA-free access to the GPU for code outside kernels/ (tests, tools) and for the CUDA
// backend's own bookkeeping: whether a device is usable, device memory as RAII arrays,
// synchronous copies, the execution context every _cuda op runs on (one stream, one cuBLAS
// handle, a reusable scratch buffer) and event timing on that stream. No CUDA header is
// included here, so any translation unit may include it; the definitions are in
// kernels/device.cu. Failures throw fitnn::DeviceError naming file:line and the CUDA error.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace fitnn {
namespace cuda {

// Number of usable CUDA devices; 0 when there is none or no driver (never throws).
int device_count();
// Why no device is usable (the CUDA error text), empty when one is.
std::string device_unavailable_reason();
// "NVIDIA H100 80GB HBM3, sm_90, 132 SMs, 79.1 GiB" for the current device.
std::string device_description();

struct MemoryInfo {
  int64_t free_bytes = 0;
  int64_t total_bytes = 0;
};
MemoryInfo device_memory();
// Bytes currently held through device_alloc (DeviceArray), for the memory report.
int64_t device_bytes_allocated();

// Raw device memory and synchronous copies (the hot path uses the context's stream instead).
void* device_alloc(size_t bytes);  // throws DeviceError naming the size and the free memory
void device_free(void* p) noexcept;  // logs a failure, never throws
void copy_to_device(void* dst, const void* src, size_t bytes);
void copy_to_host(void* dst, const void* src, size_t bytes);
void fill_zero(void* dst, size_t bytes);

// A typed device array: owns its memory, movable, not copyable.
template <class T>
class DeviceArray {
 public:
  DeviceArray() = default;
  explicit DeviceArray(size_t n) { resize(n); }
  ~DeviceArray() { device_free(m_ptr); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  DeviceArray(DeviceArray&& o) noexcept : m_ptr(o.m_ptr), m_size(o.m_size) {
    o.m_ptr = nullptr;
    o.m_size = 0;
  }
  DeviceArray& operator=(DeviceArray&& o) noexcept {
    if (this != &o) {
      device_free(m_ptr);
      m_ptr = o.m_ptr;
      m_size = o.m_size;
      o.m_ptr = nullptr;
      o.m_size = 0;
    }
    return *this;
  }
  // Discards the contents; the new memory is NOT zeroed.
  void resize(size_t n) {
    if (n == m_size) return;
    device_free(m_ptr);
    m_ptr = nullptr;
    m_size = 0;
    if (n > 0) m_ptr = static_cast<T*>(device_alloc(n * sizeof(T)));
    m_size = n;
  }
  void zero() {
    if (m_size) fill_zero(m_ptr, m_size * sizeof(T));
  }
  void upload(const T* src, size_t n) {
    resize(n);
    if (n) copy_to_device(m_ptr, src, n * sizeof(T));
  }
  void upload(const std::vector<T>& v) { upload(v.data(), v.size()); }
  std::vector<T> download() const {
    std::vector<T> v(m_size);
    if (m_size) copy_to_host(v.data(), m_ptr, m_size * sizeof(T));
    return v;
  }
  T* data() { return m_ptr; }
  const T* data() const { return m_ptr; }
  size_t size() const { return m_size; }
  size_t bytes() const { return m_size * sizeof(T); }

 private:
  T* m_ptr = nullptr;
  size_t m_size = 0;
};

// The execution context of the _cuda ops: one non-blocking stream, a cuBLAS handle bound to it
// with a fixed workspace (so that cuBLAS can be captured into CUDA graphs), the device's SM
// count and shared-memory limit, and one scratch buffer the ops borrow for partial sums.
// Ops only enqueue work; call synchronize() before reading results on the host.
class CudaContext {
 public:
  CudaContext();  // throws DeviceError when no device is usable
  ~CudaContext();
  CudaContext(const CudaContext&) = delete;
  CudaContext& operator=(const CudaContext&) = delete;

  void synchronize() const;
  int sm_count() const;
  size_t max_shared_bytes() const;  // opt-in dynamic shared memory per block
  // Scratch of at least `bytes`, grown when needed. Growing is refused (DeviceError) while
  // the stream is being captured; generation() changes whenever the buffer moves, so that a
  // caller holding CUDA graphs knows to rebuild them.
  void* scratch(size_t bytes) const;
  void reserve_scratch(size_t bytes) const { scratch(bytes); }
  int64_t generation() const;

  struct Impl;  // defined in kernels/cuda_context.cuh (CUDA types)
  Impl& impl() const { return *m_impl; }

 private:
  std::unique_ptr<Impl> m_impl;
};

// Elapsed device time between start() and stop() on a context's stream (CUDA events).
class DeviceTimer {
 public:
  explicit DeviceTimer(const CudaContext& ctx);
  ~DeviceTimer();
  DeviceTimer(const DeviceTimer&) = delete;
  DeviceTimer& operator=(const DeviceTimer&) = delete;
  void start();
  double stop_ms();  // waits for the stop event

 private:
  const CudaContext& m_ctx;
  void* m_start = nullptr;
  void* m_stop = nullptr;
};

// Device-to-device copy bandwidth: bytes read plus bytes written per second (GB/s = 1e9 B/s)
// of cudaMemcpyAsync over `bytes`, best of `reps` after one warm-up.
double measure_copy_bandwidth(const CudaContext& ctx, size_t bytes, int reps = 10);

}  // namespace cuda
}  // namespace fitnn
