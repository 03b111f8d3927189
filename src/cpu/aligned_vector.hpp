// std::vector with 64-byte aligned storage. Every per-worker array of the CPU backend uses it,
// so that Eigen's vectorized kernels see the same alignment whichever worker runs a unit of
// work: the peeling of unaligned heads (and so the rounding of every sum) then depends only
// on the batch, which keeps results bitwise reproducible with AVX (32-byte) and AVX-512.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <new>
#include <vector>

namespace fitnn {
namespace cpu {

template <class T>
struct Aligned64 {
  using value_type = T;
  static constexpr std::size_t kAlign = 64;
  Aligned64() = default;
  template <class U>
  Aligned64(const Aligned64<U>&) {}
  T* allocate(std::size_t n) {
    std::size_t bytes = ((n * sizeof(T) + kAlign - 1) / kAlign) * kAlign;
    void* p = std::aligned_alloc(kAlign, bytes == 0 ? kAlign : bytes);
    if (!p) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t) { std::free(p); }
  template <class U>
  bool operator==(const Aligned64<U>&) const { return true; }
  template <class U>
  bool operator!=(const Aligned64<U>&) const { return false; }
};

template <class T>
using AlignedVector = std::vector<T, Aligned64<T>>;

}  // namespace cpu
}  // namespace fitnn
