// A small portable RNG for data splits: splitmix64 state, uniform integers by rejection, a
// Fisher-Yates shuffle whose result is the same on every platform and standard library
// (std::shuffle's is not specified).
#pragma once
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace fitnn {

class SplitRng {
 public:
  explicit SplitRng(uint64_t seed) : m_state(seed) {}
  uint64_t next() {
    uint64_t z = (m_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n), n > 0, without modulo bias.
  uint64_t below(uint64_t n) {
    uint64_t limit = ~uint64_t(0) - (~uint64_t(0) % n);
    uint64_t x;
    do x = next();
    while (x >= limit);
    return x % n;
  }
  template <class T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }

 private:
  uint64_t m_state;
};

// A fresh seed from the OS (logged by the caller so the run can be repeated).
inline uint64_t draw_seed() {
  std::random_device rd;
  return (uint64_t(rd()) << 32) ^ rd();
}

}  // namespace fitnn
