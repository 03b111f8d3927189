// libFuzzer target: the checkpoint reader (parse_checkpoint, the in-memory half of
// load_checkpoint). Each input is tried twice: as given (magic, version, size and checksum
// checks), and with the header's payload size and the trailing checksum recomputed, so that
// mutations reach the section table and the layout checks behind the checksum. Either the
// bytes load into a consistent TrainState or CheckpointError is thrown.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fitnn/checkpoint.hpp"
#include "fitnn/errors.hpp"

namespace {

void check(const fitnn::TrainState& s) {
  const fitnn::ModelLayout& L = s.model.layout;
  const size_t np = size_t(L.nparams());
  if (s.model.params.size() != np || s.best_params.size() != np || s.adam.m.size() != np ||
      s.model.mean.size() != size_t(L.ndesc) || s.elements.size() != size_t(L.nelements) ||
      L.widths.empty() || L.widths.back() != 1)
    __builtin_trap();
  for (int net = 0; net < L.nnets(); ++net)
    for (int l = 1; l <= L.nlayers(); ++l)
      if (L.bias_offset(net, l) + L.widths[size_t(l)] > int64_t(np)) __builtin_trap();
}

void try_load(const uint8_t* data, size_t size) {
  try {
    check(fitnn::parse_checkpoint(data, size, "fuzz.ckpt"));
  } catch (const fitnn::CheckpointError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try_load(data, size);
  if (size < 32) return 0;
  std::vector<uint8_t> fixed(data, data + size);
  const uint64_t payload = size - 32;
  for (int k = 0; k < 8; ++k) fixed[16 + size_t(k)] = uint8_t(payload >> (8 * k));
  const uint64_t sum = fitnn::checksum64(fixed.data(), size - 8);
  for (int k = 0; k < 8; ++k) fixed[size - 8 + size_t(k)] = uint8_t(sum >> (8 * k));
  try_load(fixed.data(), fixed.size());
  return 0;
}
