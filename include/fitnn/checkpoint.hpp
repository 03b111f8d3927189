// Checkpoint files: ONE versioned, checksummed, little-endian binary format for the best
// model (save_state_output), the latest state (<save_state_output>.latest) and evaluation
// (save_state_input). The exact byte layout is in docs/CHECKPOINT.md. Writes go through
// AtomicFile, so a crash never leaves a half-written checkpoint in place.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "fitnn/train_state.hpp"

namespace fitnn {

constexpr char kCheckpointMagic[9] = "FITNNCKP";
constexpr uint32_t kCheckpointVersion = 1;

// Writes `state` to `path` atomically. Throws OutputError when the file cannot be written
// (an existing file at `path` is then left as it was).
void save_checkpoint(const std::string& path, const TrainState& state);

// Reads a checkpoint. Throws CheckpointError naming the file when it is missing, truncated,
// of another format or version, fails its checksum, or misses a section.
TrainState load_checkpoint(const std::string& path);
// The same from bytes in memory; `origin` names the source in messages (fuzz/ uses it).
TrainState parse_checkpoint(const uint8_t* data, size_t bytes, const std::string& origin);

// The checksum of the format: FNV-1a 64 over 64-bit little-endian words (the last partial
// word zero-padded), docs/CHECKPOINT.md.
uint64_t checksum64(const void* data, size_t bytes);

}  // namespace fitnn
