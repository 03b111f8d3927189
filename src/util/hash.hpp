// A streaming 64-bit hash (FNV-1a over 8-byte words, then a final mix) for cache keys.
// Not cryptographic: it detects changes, nothing more.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace fitnn {

class Hasher {
 public:
  void bytes(const void* data, size_t n) {
    const unsigned char* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) {
      m_h ^= p[i];
      m_h *= 0x100000001b3ull;
    }
  }
  void u64(uint64_t v) { bytes(&v, sizeof v); }
  void f64(double v) { bytes(&v, sizeof v); }
  void str(const std::string& s) {
    u64(s.size());
    bytes(s.data(), s.size());
  }
  void f64s(const std::vector<double>& v) {
    u64(v.size());
    bytes(v.data(), v.size() * sizeof(double));
  }
  uint64_t digest() const {
    uint64_t z = m_h;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

 private:
  uint64_t m_h = 0xcbf29ce484222325ull;
};

}  // namespace fitnn
