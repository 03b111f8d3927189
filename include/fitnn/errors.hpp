// Typed exceptions of the FitNN library. Library code throws; only src/cli/main.cpp turns
// them into exit codes (exit_code()). Messages name the file, configuration and key at fault
// and say what to do about it.
#pragma once
#include <stdexcept>
#include <string>

namespace fitnn {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
  virtual int exit_code() const { return 1; }
};

// The input script: unknown section/key, unparsable or out-of-range value, missing section.
class InputError : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return 2; }
};

// Training data: malformed JSON/XYZ, missing arrays, NaN, bad cells, missing files, groups.
class DataError : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return 3; }
};

// LAMMPS: library not found, wrong version/packages, a command failing for a configuration.
class LammpsError : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return 4; }
};

// Checkpoints and caches: truncated, wrong version, checksum mismatch, incompatible model.
class CheckpointError : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return 5; }
};

// Training went numerically wrong (NaN/Inf loss or gradient).
class NumericError : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return 6; }
};

// Output files: cannot write, would overwrite without --overwrite.
class OutputError : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return 7; }
};

// A CUDA/cuBLAS failure or a CUDA request without a device.
class DeviceError : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return 8; }
};

// SIGINT/SIGTERM stopped the run before it could finish a consistent step (during
// descriptors, or between descriptors and training); nothing half-done was written. The CLI
// exits 130 (SIGINT) or 143 (SIGTERM).
class Interrupted : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return 130; }
};

}  // namespace fitnn
