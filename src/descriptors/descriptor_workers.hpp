// The worker processes behind compute_dataset(): `workers` forked children, each with its own
// LAMMPS instance (SnapCalculator), pull configuration indices from a counter in shared memory,
// append one binary record per configuration to their own staging file (an in-memory memfd) and
// report each record to the parent over a pipe. The parent shows progress, and on the first
// error (a typed FitNN error naming the configuration, or a worker that died) kills the
// others and rethrows it as the same type.
//
// Record layout in a staging file (native endianness, no padding between sections):
//   RecordHeader, descriptors (natoms x ndesc f64), ref_forces (natoms x 3 f64),
//   dft_forces (natoms x 3 f64, rotated frame), row_i (nrows i32), row_k (nrows i32),
//   dgrad (nrows x ndesc, f64 or f32 by derivative_bits).
// Environment: FITNN_LAMMPS_REUSE=0 makes every configuration start from LAMMPS `clear`
// (slower; for checking the default instance reuse, see snap_calculator.hpp).
// A worker takes increasing indices, so each staging file is in configuration order and the
// parent can consume (and free) it front to back while assembling the Dataset.
#pragma once
#include <sys/types.h>

#include <csignal>
#include <cstdint>
#include <string>
#include <vector>

#include "fitnn/config.hpp"
#include "fitnn/configuration.hpp"

namespace fitnn {

struct RecordHeader {
  int64_t config = 0;
  int64_t natoms = 0;
  int64_t nrows = 0;
  double ref_energy = 0.0;
};

// Where configuration c's record lies.
struct RecordLocation {
  int32_t worker = -1;
  int64_t offset = 0;  // byte offset in that worker's staging file
  int64_t bytes = 0;
  int64_t nrows = 0;
};

int64_t record_bytes(int64_t natoms, int64_t nrows, int ndesc, int derivative_bits);

class DescriptorWorkers {
 public:
  DescriptorWorkers(const Config& config, const std::vector<Configuration>& configs,
                    std::string library_path, int workers, int derivative_bits);
  // Kills and reaps any worker still running; closes the staging files.
  ~DescriptorWorkers();
  DescriptorWorkers(const DescriptorWorkers&) = delete;
  DescriptorWorkers& operator=(const DescriptorWorkers&) = delete;

  // Forks the workers and waits for all records; throws the first worker error. When
  // `stop_flag` is raised, kills and reaps the workers and throws Interrupted.
  void run(const volatile std::sig_atomic_t* stop_flag = nullptr);
  const std::vector<RecordLocation>& locations() const { return m_locations; }
  int staging_fd(int worker) const { return m_staging[size_t(worker)]; }
  int workers() const { return m_nworkers; }
  int lammps_version() const { return m_version; }

 private:
  void start_worker(int w);
  [[noreturn]] void worker_main(int w, pid_t parent);
  void stop_all();

  const Config& m_config;
  const std::vector<Configuration>& m_configs;
  std::string m_library;
  int m_nworkers;
  int m_bits;
  int m_version = 0;
  struct Shared* m_shared = nullptr;     // mmap'ed MAP_SHARED: next index, current per worker
  size_t m_shared_bytes = 0;
  std::vector<pid_t> m_pids;
  std::vector<int> m_pipes;    // read ends in the parent
  std::vector<int> m_writers;  // write ends, open in the parent only while forking
  std::vector<int> m_staging;  // staging file descriptors
  std::vector<RecordLocation> m_locations;
};

}  // namespace fitnn
