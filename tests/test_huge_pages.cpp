// back_with_huge_pages (src/cpu/huge_pages.hpp): the contents survive the move into 2 MB
// pages, only whole 2 MB pages inside the range are touched, and on a kernel that can collapse
// (Linux 6.1+ with transparent huge pages) the range is then really backed by huge pages.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "cpu/huge_pages.hpp"

using namespace fitnn::cpu;

namespace {

constexpr size_t kMB2 = size_t(2) << 20;

// An anonymous mapping of `bytes` starting on a 2 MB boundary (its own mapping, so that
// /proc/self/smaps reports it alone), filled with a pattern.
struct Mapping {
  char* raw = nullptr;
  size_t raw_bytes = 0;
  double* p = nullptr;
  explicit Mapping(size_t bytes) {
    raw_bytes = bytes + kMB2;
    void* m = mmap(nullptr, raw_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return;
    raw = static_cast<char*>(m);
    const uintptr_t a = (reinterpret_cast<uintptr_t>(raw) + kMB2 - 1) & ~(kMB2 - 1);
    p = reinterpret_cast<double*>(a);
    for (size_t i = 0; i < bytes / sizeof(double); ++i) p[i] = double(i) * 0.5 + 1.0;
  }
  ~Mapping() {
    if (raw) munmap(raw, raw_bytes);
  }
};

}  // namespace

TEST(HugePages, ContentsSurviveAndWholePagesAreBacked) {
  const size_t bytes = 4 * kMB2;
  Mapping m(bytes);
  ASSERT_NE(m.p, nullptr);
  const HugePageResult r = back_with_huge_pages(m.p, bytes);
  EXPECT_EQ(r.eligible, bytes);
  EXPECT_LE(r.collapsed + r.advised, r.eligible);
  for (size_t i = 0; i < bytes / sizeof(double); ++i)
    ASSERT_EQ(m.p[i], double(i) * 0.5 + 1.0) << "element " << i;
  if (r.collapsed == 0) GTEST_SKIP() << "this kernel does not collapse pages (MADV_COLLAPSE)";
  const int64_t huge = huge_page_bytes(m.p, bytes);
  if (huge < 0) GTEST_SKIP() << "/proc/self/smaps is not readable";
  EXPECT_GE(huge, int64_t(r.collapsed)) << "collapsed " << r.collapsed << " bytes";
}

TEST(HugePages, OnlyWholePagesInsideTheRange) {
  Mapping m(3 * kMB2);
  ASSERT_NE(m.p, nullptr);
  // Starts 8 bytes past a boundary and ends 8 bytes short of one: one whole page inside.
  const char* start = reinterpret_cast<const char*>(m.p) + 8;
  EXPECT_EQ(back_with_huge_pages(start, 3 * kMB2 - 16).eligible, kMB2);
  // Smaller than a page, or empty: nothing.
  EXPECT_EQ(back_with_huge_pages(m.p, kMB2 - 8).eligible, 0u);
  EXPECT_EQ(back_with_huge_pages(nullptr, 4 * kMB2).eligible, 0u);
  EXPECT_EQ(back_with_huge_pages(m.p, 0).eligible, 0u);
  // A collapse limit: at most that many bytes now.
  EXPECT_LE(back_with_huge_pages(m.p, 3 * kMB2, kMB2).collapsed, kMB2);
  EXPECT_EQ(back_with_huge_pages(m.p, 3 * kMB2, 0).collapsed, 0u);
  // A std::vector (whatever its alignment) keeps its values.
  std::vector<double> v(size_t(3 * kMB2 / sizeof(double)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = double(i % 1000) - 3.25;
  const HugePageResult r = back_with_huge_pages(v.data(), v.size() * sizeof(double));
  EXPECT_GE(r.eligible, kMB2);
  for (size_t i = 0; i < v.size(); ++i) ASSERT_EQ(v[i], double(i % 1000) - 3.25) << i;
}
