// compute_dataset() (include/fitnn/descriptors.hpp): checks the configurations, runs the
// descriptor workers, then assembles the Dataset in configuration order. Every array is
// reserved exactly once from the workers' record sizes and appended to from the staging files
// (pread through a 256 KB buffer); each staging file is released (hole-punched) as it is
// consumed, so the process holds about one copy of the data: the Dataset's arrays plus at
// most kPunchChunk per worker.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <unordered_map>

#include "descriptors/child_process.hpp"
#include "descriptors/descriptor_workers.hpp"
#include "descriptors/snap_calculator.hpp"
#include "fitnn/descriptors.hpp"
#include "fitnn/errors.hpp"
#include "fitnn/log.hpp"

namespace fitnn {
namespace {

constexpr int64_t kPunchChunk = int64_t(64) << 20;

std::string where(const Configuration& cfg) {
  return "configuration " + std::to_string(cfg.index_in_file) + " of '" + cfg.file + "'";
}

std::string gigabytes(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GB", bytes / 1e9);
  return buf;
}

// Refuses configurations whose dense compute snap array cannot fit, warns about large ones.
void check_sizes(const std::vector<Configuration>& configs, int ndesc, int workers) {
  const double limit = snap_array_limit(workers);
  int warned = 0, large = 0;
  for (const auto& cfg : configs) {
    if (cfg.natoms < 1) throw DataError(where(cfg) + ": it has no atoms");
    double bytes = snap_array_bytes(cfg.natoms, ndesc);
    if (bytes > limit)
      throw DataError(where(cfg) + " has " + std::to_string(cfg.natoms) +
                      " atoms: LAMMPS's compute snap (dgradflag) would need a dense array of " +
                      gigabytes(bytes) + " (it grows as N^2), above this machine's limit of " +
                      gigabytes(limit) +
                      " (half the memory over the workers). Use fewer workers (--threads), a "
                      "machine with more memory, or split the configuration.");
    if (bytes > kSnapArrayWarnBytes) {
      ++large;
      if (warned < 5) {
        ++warned;
        log_warn(where(cfg) + " has " + std::to_string(cfg.natoms) +
                 " atoms: LAMMPS needs about " + gigabytes(bytes) +
                 " for its descriptor array (dense N^2 derivative block)");
      }
    }
  }
  if (large > warned)
    log_warn(std::to_string(large - warned) + " more configurations need over " +
             gigabytes(kSnapArrayWarnBytes) + " each in LAMMPS");
}

// pread exactly `bytes` at `offset` of a staging file.
void read_at(int fd, void* dst, size_t bytes, int64_t offset) {
  char* p = static_cast<char*>(dst);
  while (bytes > 0) {
    ssize_t n = ::pread(fd, p, bytes, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      throw Error(std::string("reading a descriptor staging file failed: ") +
                  (n < 0 ? std::strerror(errno) : "unexpected end of file"));
    p += n;
    bytes -= size_t(n);
    offset += n;
  }
}

// Reserves exactly n elements. (No MADV_HUGEPAGE: with the kernel's defrag=madvise policy it
// makes first touch slower through direct compaction; measured 2x on 3.7 GB.)
template <class T>
void reserve_large(std::vector<T>& v, int64_t n) {
  v.reserve(size_t(n));
}

// Sequential reads from one staging file through a small buffer, appended to vectors whose
// capacity is already reserved.
struct StagingReader {
  int fd = -1;
  int64_t offset = 0;
  std::vector<char> buffer = std::vector<char>(size_t(1) << 18);
  template <class T>
  void append(std::vector<T>& v, int64_t count) {
    const int64_t per = int64_t(buffer.size() / sizeof(T));
    while (count > 0) {
      int64_t k = std::min(count, per);
      read_at(fd, buffer.data(), size_t(k) * sizeof(T), offset);
      const T* p = reinterpret_cast<const T*>(buffer.data());
      v.insert(v.end(), p, p + k);
      offset += k * int64_t(sizeof(T));
      count -= k;
    }
  }
};

// Group names: GROUPS order when the configurations carry matching indices, else first use.
void fill_groups(const Config& config, const std::vector<Configuration>& configs, Dataset& d) {
  for (const auto& g : config.groups.groups) d.group_names.push_back(g.name);
  std::unordered_map<std::string, int32_t> by_name;
  for (size_t k = 0; k < d.group_names.size(); ++k) by_name.emplace(d.group_names[k], int32_t(k));
  for (const auto& cfg : configs) {
    int32_t g;
    if (cfg.group_index >= 0 && cfg.group_index < int(d.group_names.size()) &&
        d.group_names[size_t(cfg.group_index)] == cfg.group) {
      g = cfg.group_index;
    } else {
      auto it = by_name.find(cfg.group);
      if (it == by_name.end()) {
        it = by_name.emplace(cfg.group, int32_t(d.group_names.size())).first;
        d.group_names.push_back(cfg.group);
      }
      g = it->second;
    }
    d.group.push_back(g);
  }
}

}  // namespace

Dataset compute_dataset(const Config& config, const std::vector<Configuration>& configs,
                        const LammpsOptions& options) {
  const BispectrumSettings& b = config.bispectrum;
  if (options.derivative_bits != 64 && options.derivative_bits != 32)
    throw InputError("derivative precision must be 64 or 32 bits, not " +
                     std::to_string(options.derivative_bits));
  const int64_t n = int64_t(configs.size());
  Dataset d;
  d.ndesc = b.num_descriptors();
  d.ntypes = b.num_types;
  d.type_names = b.types;
  d.derivative_bits = options.derivative_bits;
  const int workers = int(std::max<int64_t>(
      1, std::min<int64_t>(options.workers > 0 ? options.workers : usable_cores(), n)));
  check_sizes(configs, d.ndesc, workers);

  // Per-configuration fields known before LAMMPS.
  std::vector<double> shift(size_t(b.num_types), 0.0);
  for (int t = 0; t < b.num_types; ++t) {
    auto it = config.eshift.find(b.types[size_t(t)]);
    if (it != config.eshift.end()) shift[size_t(t)] = it->second;
  }
  d.atom_offset.reserve(size_t(n) + 1);
  d.atom_offset.push_back(0);
  for (const auto& cfg : configs) d.atom_offset.push_back(d.atom_offset.back() + cfg.natoms);
  d.eweight.reserve(size_t(n));
  d.fweight.reserve(size_t(n));
  d.vweight.reserve(size_t(n));
  d.testing.reserve(size_t(n));
  d.file_index.reserve(size_t(n));
  d.index_in_file.reserve(size_t(n));
  d.group.reserve(size_t(n));
  std::unordered_map<std::string, int32_t> file_ids;
  for (const auto& cfg : configs) {
    d.eweight.push_back(cfg.eweight);
    d.fweight.push_back(cfg.fweight);
    d.vweight.push_back(cfg.vweight);
    d.testing.push_back(cfg.testing ? 1 : 0);
    d.index_in_file.push_back(cfg.index_in_file);
    auto it = file_ids.find(cfg.file);
    if (it == file_ids.end()) {
      it = file_ids.emplace(cfg.file, int32_t(d.file_names.size())).first;
      d.file_names.push_back(cfg.file);
    }
    d.file_index.push_back(it->second);
  }
  fill_groups(config, configs, d);
  if (n == 0) {
    d.row_offset.push_back(0);
    d.validate();
    return d;
  }

  if (options.stop_flag && *options.stop_flag)
    throw Interrupted("interrupted before computing descriptors; nothing was written");
  DescriptorWorkers pool(config, configs, find_lammps_library(options.library_path), workers,
                         options.derivative_bits);
  const auto t0 = std::chrono::steady_clock::now();
  pool.run(options.stop_flag);
  const auto t1 = std::chrono::steady_clock::now();
  const auto& loc = pool.locations();

  // Exact sizes, then one pass over the records in configuration order, appending to every
  // array (reserved once, never reallocated, first touched by the copy itself).
  d.row_offset.reserve(size_t(n) + 1);
  d.row_offset.push_back(0);
  for (int64_t c = 0; c < n; ++c)
    d.row_offset.push_back(d.row_offset.back() + loc[size_t(c)].nrows);
  const int64_t natoms = d.natoms(), nrows = d.nrows(), nd = d.ndesc;
  d.energy.reserve(size_t(n));
  d.ref_energy.reserve(size_t(n));
  reserve_large(d.descriptors, natoms * nd);
  reserve_large(d.atom_type, natoms);
  reserve_large(d.forces, natoms * 3);
  reserve_large(d.ref_forces, natoms * 3);
  reserve_large(d.row_i, nrows);
  reserve_large(d.row_k, nrows);
  if (d.derivative_bits == 64)
    reserve_large(d.dgrad64, nrows * nd);
  else
    reserve_large(d.dgrad32, nrows * nd);

  StagingReader in;
  std::vector<int64_t> punched(size_t(pool.workers()), 0);
  for (int64_t c = 0; c < n; ++c) {
    const Configuration& cfg = configs[size_t(c)];
    const RecordLocation& r = loc[size_t(c)];
    in.fd = pool.staging_fd(r.worker);
    in.offset = r.offset;
    const int64_t a0 = d.atom_offset[size_t(c)], na = cfg.natoms;
    RecordHeader h;
    read_at(in.fd, &h, sizeof h, in.offset);
    in.offset += int64_t(sizeof h);
    if (h.config != c || h.natoms != na || h.nrows != r.nrows)
      throw LammpsError("descriptor staging record for " + where(cfg) +
                        " does not match its index (internal error)");
    in.append(d.descriptors, na * nd);
    in.append(d.ref_forces, na * 3);
    in.append(d.forces, na * 3);  // DFT forces, rotated; the reference is subtracted below
    in.append(d.row_i, h.nrows);
    in.append(d.row_k, h.nrows);
    if (d.derivative_bits == 64)
      in.append(d.dgrad64, h.nrows * nd);
    else
      in.append(d.dgrad32, h.nrows * nd);
    if (in.offset != r.offset + r.bytes)
      throw LammpsError("descriptor staging record for " + where(cfg) +
                        " has an unexpected size (internal error)");

    double e = cfg.energy - h.ref_energy;
    for (int64_t i = 0; i < na; ++i) {
      int t = cfg.types[size_t(i)];
      d.atom_type.push_back(t);
      e += shift[size_t(t)];
    }
    for (int64_t k = a0 * 3; k < (a0 + na) * 3; ++k)
      d.forces[size_t(k)] -= d.ref_forces[size_t(k)];
    d.energy.push_back(e);
    d.ref_energy.push_back(h.ref_energy);

    // Give consumed staging memory back to the system as we go.
    int64_t& done = punched[size_t(r.worker)];
    int64_t end = (in.offset / 4096) * 4096;
    if (end - done >= kPunchChunk) {
      ::fallocate(in.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, done, end - done);
      done = end;
    }
  }
  const auto t2 = std::chrono::steady_clock::now();
  d.validate();
  char msg[256];
  std::snprintf(msg, sizeof msg,
                "descriptors: %lld configurations in %.2f s on %d LAMMPS worker processes; "
                "%.3f GB assembled in %.2f s",
                (long long)n, std::chrono::duration<double>(t1 - t0).count(), workers,
                double(d.array_bytes()) / 1e9, std::chrono::duration<double>(t2 - t1).count());
  log_info(msg);
  return d;
}

}  // namespace fitnn
