// back_with_huge_pages: madvise(MADV_COLLAPSE), falling back to madvise(MADV_HUGEPAGE), on the
// 2 MB-aligned interior of a range; huge_page_bytes: the AnonHugePages of /proc/self/smaps.
#include "cpu/huge_pages.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace fitnn {
namespace cpu {

namespace {

constexpr uintptr_t kHugePage = uintptr_t(2) << 20;

#if defined(__linux__) && !defined(MADV_COLLAPSE)
constexpr int MADV_COLLAPSE = 25;  // Linux 6.1 (older headers lack the name)
#endif

}  // namespace

HugePageResult back_with_huge_pages(const void* p, size_t bytes, size_t collapse_limit) {
  HugePageResult r;
  const uintptr_t begin = reinterpret_cast<uintptr_t>(p);
  const uintptr_t lo = (begin + kHugePage - 1) & ~(kHugePage - 1);
  const uintptr_t hi = (begin + bytes) & ~(kHugePage - 1);
  if (!p || hi <= lo) return r;
  r.eligible = size_t(hi - lo);
#if defined(__linux__)
  void* a = reinterpret_cast<void*>(lo);
  // MADV_HUGEPAGE first: it also keeps the pages huge should they be split and merged again.
  const bool marked = madvise(a, r.eligible, MADV_HUGEPAGE) == 0;
  // MADV_COLLAPSE works page by page and may succeed in part (EAGAIN/ENOMEM); collapse the
  // 2 MB pages one at a time so that the count is exact and one failure does not stop the rest.
  for (uintptr_t q = lo; q < hi && r.collapsed + kHugePage <= collapse_limit; q += kHugePage)
    if (madvise(reinterpret_cast<void*>(q), kHugePage, MADV_COLLAPSE) == 0) {
      r.collapsed += kHugePage;
    } else if (errno == EINVAL) {
      break;  // the kernel does not know MADV_COLLAPSE (before 6.1) or THP is off
    }
  if (marked) r.advised = r.eligible - r.collapsed;
#endif
  return r;
}

int64_t huge_page_bytes(const void* p, size_t bytes) {
#if defined(__linux__)
  std::FILE* f = std::fopen("/proc/self/smaps", "r");
  if (!f) return -1;
  const uintptr_t begin = reinterpret_cast<uintptr_t>(p), end = begin + bytes;
  int64_t total = 0;
  uintptr_t vma_lo = 0, vma_hi = 0;
  char line[512];
  while (std::fgets(line, sizeof line, f)) {
    unsigned long a = 0, b = 0;
    unsigned long kb = 0;
    if (std::sscanf(line, "%lx-%lx ", &a, &b) == 2) {  // a mapping's first line
      vma_lo = a;
      vma_hi = b;
    } else if (std::sscanf(line, "AnonHugePages: %lu kB", &kb) == 1) {
      const uintptr_t o_lo = std::max(vma_lo, begin), o_hi = std::min(vma_hi, end);
      if (o_lo < o_hi) total += std::min<int64_t>(int64_t(kb) * 1024, int64_t(o_hi - o_lo));
    }
  }
  std::fclose(f);
  return total;
#else
  (void)p;
  (void)bytes;
  return -1;
#endif
}

}  // namespace cpu
}  // namespace fitnn
