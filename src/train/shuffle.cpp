// Portable shuffling (include/fitnn/trainer.hpp). std::mt19937_64's output sequence and text
// form are fixed by the C++ standard, but std::uniform_int_distribution and std::shuffle are
// not: this file draws indices itself, so a seed gives the same training order everywhere.
#include <sstream>

#include "fitnn/errors.hpp"
#include "fitnn/trainer.hpp"

namespace fitnn {

uint64_t uniform_below(std::mt19937_64& rng, uint64_t bound) {
  // Rejection sampling: accept r >= 2^64 mod bound, so every residue is equally likely.
  const uint64_t threshold = (0 - bound) % bound;
  for (;;) {
    const uint64_t r = rng();
    if (r >= threshold) return r % bound;
  }
}

void shuffle_indices(std::vector<int64_t>& v, std::mt19937_64& rng) {
  for (size_t i = v.size(); i > 1; --i) {
    const size_t j = size_t(uniform_below(rng, i));
    std::swap(v[i - 1], v[j]);
  }
}

std::mt19937_64 shuffle_rng(uint64_t seed) {
  // SplitMix64 of the seed, so the shuffle stream differs from the initialization stream
  // that Model::initialize derives from the same seed.
  uint64_t z = seed + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return std::mt19937_64(z ^ (z >> 31));
}

std::string rng_to_text(const std::mt19937_64& rng) {
  std::ostringstream out;
  out << rng;
  return out.str();
}

std::mt19937_64 rng_from_text(const std::string& text) {
  std::istringstream in(text);
  std::mt19937_64 rng;
  in >> rng;
  if (in.fail())
    throw CheckpointError("the shuffle generator state in the checkpoint cannot be read");
  return rng;
}

}  // namespace fitnn
