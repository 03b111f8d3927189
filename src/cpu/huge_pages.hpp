// Backing large, already filled arrays with 2 MB pages (Linux transparent huge pages). The CPU
// backend streams the dataset's derivative rows once per epoch: tens of MB (Ta) to GB (WBe)
// read in 4 kB pages cost a TLB miss every 16 rows of 30 doubles, and in a virtual machine
// every miss is a two-level page walk. With 2 MB pages the Ta epoch is ~5% faster here
// (docs/PERFORMANCE.md).
#pragma once
#include <cstddef>
#include <cstdint>

namespace fitnn {
namespace cpu {

struct HugePageResult {
  size_t eligible = 0;   // bytes of the range in whole 2 MB pages (the rest stays as it is)
  size_t collapsed = 0;  // of those, bytes moved into 2 MB pages now (MADV_COLLAPSE)
  size_t advised = 0;    // of those, bytes only marked for the kernel's background merging
};

// Asks the kernel to back the whole 2 MB pages inside [p, p + bytes) with huge pages now
// (MADV_COLLAPSE, Linux 6.1+; the contents are kept), at most `collapse_limit` bytes of them
// (collapsing copies the pages: ~1 s per GB here), and marks them all MADV_HUGEPAGE so that
// khugepaged may merge the rest later. Never fails: where neither is possible (another OS,
// THP disabled, an old kernel, no free huge pages) it leaves the memory as it is. Only call
// it on memory the caller owns and keeps allocated (a heap array, not a file mapping).
HugePageResult back_with_huge_pages(const void* p, size_t bytes,
                                    size_t collapse_limit = size_t(-1));

// Bytes of [p, p + bytes) that are backed by huge pages now, from /proc/self/smaps; -1 where
// that cannot be read (tests, logs).
int64_t huge_page_bytes(const void* p, size_t bytes);

}  // namespace cpu
}  // namespace fitnn
