// Worker processes computing descriptors (descriptor_workers.hpp): fork, the shared work
// counter, the per-configuration records and the parent's message loop.
#include "descriptors/descriptor_workers.hpp"

#include <malloc.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <new>

#include "descriptors/child_process.hpp"
#include "descriptors/snap_calculator.hpp"
#include "fitnn/errors.hpp"
#include "fitnn/log.hpp"

namespace fitnn {

constexpr int kMaxWorkers = 1024;

// Lives in a MAP_SHARED anonymous mapping created before the fork.
struct Shared {
  std::atomic<int64_t> next;                   // next configuration index to hand out
  std::atomic<int64_t> current[kMaxWorkers];   // configuration each worker is on (-1: none)
};

namespace {

enum MessageKind : int32_t { kReady = 1, kDone = 2, kFinished = 3, kFailed = 4 };

// Fixed-size message from a worker; kFailed is followed by text_bytes of text whose first
// character is the error kind (child_process.hpp). Each message is one write of < PIPE_BUF.
struct Message {
  int32_t kind = 0;
  int32_t worker = 0;
  int64_t config = -1;
  int64_t nrows = 0;
  int64_t offset = 0;
  int64_t bytes = 0;
  int32_t version = 0;
  int32_t text_bytes = 0;
};
constexpr size_t kMaxText = 3500;

int make_staging_file() {
  int fd = ::memfd_create("fitnn-descriptors", MFD_CLOEXEC);
  if (fd >= 0) return fd;
  std::string dir = std::filesystem::temp_directory_path().string();
  std::string tmpl = dir + "/fitnn-descriptors-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  fd = ::mkstemp(buf.data());
  if (fd < 0)
    throw Error("cannot create a staging file for descriptors in " + dir + ": " +
                std::strerror(errno) + " (set TMPDIR to a writable folder)");
  ::unlink(buf.data());
  return fd;
}

std::string where(const Configuration& cfg) {
  return "configuration " + std::to_string(cfg.index_in_file) + " of '" + cfg.file + "'";
}

void stage_bytes(int fd, const void* data, size_t bytes) {
  if (bytes > 0 && !write_all(fd, data, bytes))
    throw Error(std::string("writing descriptors to the in-memory staging file failed: ") +
                std::strerror(errno) + " (out of memory? try derivative_precision = 32)");
}

template <class T>
void stage(int fd, const std::vector<T>& v) {
  stage_bytes(fd, v.data(), v.size() * sizeof(T));
}

}  // namespace

int64_t record_bytes(int64_t natoms, int64_t nrows, int ndesc, int derivative_bits) {
  return int64_t(sizeof(RecordHeader)) + natoms * ndesc * 8 + natoms * 6 * 8 + nrows * 8 +
         nrows * ndesc * (derivative_bits / 8);
}

DescriptorWorkers::DescriptorWorkers(const Config& config,
                                     const std::vector<Configuration>& configs,
                                     std::string library_path, int workers,
                                     int derivative_bits)
    : m_config(config),
      m_configs(configs),
      m_library(std::move(library_path)),
      m_nworkers(std::max(1, std::min(workers, kMaxWorkers))),
      m_bits(derivative_bits) {}

DescriptorWorkers::~DescriptorWorkers() {
  stop_all();
  for (int fd : m_pipes)
    if (fd >= 0) ::close(fd);
  for (int fd : m_writers)
    if (fd >= 0) ::close(fd);
  for (int fd : m_staging)
    if (fd >= 0) ::close(fd);
  if (m_shared) ::munmap(m_shared, m_shared_bytes);
}

void DescriptorWorkers::stop_all() {
  for (pid_t& pid : m_pids) {
    kill_and_reap(pid);
    pid = -1;
  }
}

void DescriptorWorkers::start_worker(int w) {
  int fds[2];
  if (::pipe(fds) != 0)
    throw Error(std::string("cannot create a pipe for a descriptor worker: ") +
                std::strerror(errno));
  m_pipes[size_t(w)] = fds[0];
  m_writers[size_t(w)] = fds[1];
  m_staging[size_t(w)] = make_staging_file();
  const pid_t parent = ::getpid();
  std::fflush(nullptr);  // the child must not flush the parent's buffered output again
  pid_t pid = ::fork();
  if (pid < 0)
    throw Error(std::string("cannot fork a descriptor worker: ") + std::strerror(errno));
  if (pid == 0) worker_main(w, parent);
  m_pids[size_t(w)] = pid;
  ::close(m_writers[size_t(w)]);
  m_writers[size_t(w)] = -1;
}

void DescriptorWorkers::worker_main(int w, pid_t parent) {
  prepare_child_process(parent);
  const int out = m_writers[size_t(w)];
  const int staging = m_staging[size_t(w)];
  for (int k = 0; k < w; ++k) ::close(m_staging[size_t(k)]);
  for (int k = 0; k <= w; ++k) ::close(m_pipes[size_t(k)]);
  auto send = [&](Message m, const std::string& text) {
    m.worker = w;
    m.text_bytes = int32_t(std::min(text.size(), kMaxText));
    char buf[sizeof(Message) + kMaxText];
    std::memcpy(buf, &m, sizeof m);
    std::memcpy(buf + sizeof m, text.data(), size_t(m.text_bytes));
    if (!write_all(out, buf, sizeof m + size_t(m.text_bytes))) exit_child(3);
  };
  // LAMMPS allocates and frees its N^2 arrays for every configuration; keeping freed memory
  // in this process (no mmap per allocation, no trimming) saves the page faults and kernel
  // zeroing, a third of the time for 250-atom configurations. The worker's heap then stays at
  // its largest configuration's size until it exits.
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
  const char* reuse_env = std::getenv("FITNN_LAMMPS_REUSE");
  const InstanceReuse reuse = reuse_env && std::string(reuse_env) == "0" ? InstanceReuse::clear
                                                                         : InstanceReuse::reuse;
  try {
    LammpsLibrary lib(m_library);
    SnapCalculator calc(lib, m_config.bispectrum, m_config.reference, reuse);
    Message ready;
    ready.kind = kReady;
    ready.version = calc.version();
    send(ready, "");
    const int nd = calc.ndesc();
    const int64_t n = int64_t(m_configs.size());
    SnapResult res;
    std::vector<float> f32;
    int64_t offset = 0;
    for (;;) {
      int64_t c = m_shared->next.fetch_add(1);
      if (c >= n) break;
      m_shared->current[w].store(c);
      calc.compute(m_configs[size_t(c)], res);
      RecordHeader h;
      h.config = c;
      h.natoms = res.natoms;
      h.nrows = res.nrows();
      h.ref_energy = res.ref_energy;
      stage_bytes(staging, &h, sizeof h);
      stage(staging, res.descriptors);
      stage(staging, res.ref_forces);
      stage(staging, res.dft_forces);
      stage(staging, res.row_i);
      stage(staging, res.row_k);
      if (m_bits == 64) {
        stage(staging, res.dgrad);
      } else {
        f32.assign(res.dgrad.begin(), res.dgrad.end());
        stage(staging, f32);
      }
      Message done;
      done.kind = kDone;
      done.config = c;
      done.nrows = h.nrows;
      done.offset = offset;
      done.bytes = record_bytes(h.natoms, h.nrows, nd, m_bits);
      offset += done.bytes;
      send(done, "");
    }
    m_shared->current[w].store(-1);
    Message fin;
    fin.kind = kFinished;
    send(fin, "");
  } catch (const std::exception& e) {
    Message m;
    m.kind = kFailed;
    m.config = m_shared->current[w].load();
    send(m, std::string(1, error_kind(e)) + e.what());
    exit_child(1);
  } catch (...) {
    Message m;
    m.kind = kFailed;
    m.config = m_shared->current[w].load();
    send(m, "Eunknown failure in a descriptor worker");
    exit_child(1);
  }
  exit_child(0);
}

void DescriptorWorkers::run(const volatile std::sig_atomic_t* stop_flag) {
  const int64_t n = int64_t(m_configs.size());
  m_locations.assign(size_t(n), RecordLocation{});
  m_shared_bytes = sizeof(Shared);
  void* mem = ::mmap(nullptr, m_shared_bytes, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED)
    throw Error(std::string("cannot map shared memory for the descriptor workers: ") +
                std::strerror(errno));
  m_shared = new (mem) Shared;
  m_shared->next.store(0);
  for (int w = 0; w < kMaxWorkers; ++w) m_shared->current[w].store(-1);

  const size_t W = size_t(m_nworkers);
  m_pids.assign(W, -1);
  m_pipes.assign(W, -1);
  m_writers.assign(W, -1);
  m_staging.assign(W, -1);
  for (int w = 0; w < m_nworkers; ++w) start_worker(w);

  Progress progress("descriptors", n);
  std::vector<bool> finished(W, false), closed(W, false);
  int open = m_nworkers;
  int64_t done = 0;
  std::vector<pollfd> pfd(W);
  while (open > 0) {
    if (stop_flag && *stop_flag) {
      // SIGINT/SIGTERM: the records computed so far are dropped with the staging memory.
      stop_all();
      throw Interrupted("interrupted while computing descriptors (" + std::to_string(done) +
                        " of " + std::to_string(n) + " configurations done); the workers were "
                        "stopped and nothing was written");
    }
    for (size_t w = 0; w < W; ++w) pfd[w] = pollfd{closed[w] ? -1 : m_pipes[w], POLLIN, 0};
    int r = ::poll(pfd.data(), pfd.size(), 250);
    if (r < 0) {
      if (errno == EINTR) continue;
      throw Error(std::string("poll on the descriptor workers failed: ") + std::strerror(errno));
    }
    for (size_t w = 0; w < W; ++w) {
      if (closed[w] || !(pfd[w].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Message m;
      size_t got = read_all(m_pipes[w], &m, sizeof m);
      if (got == 0) {
        closed[w] = true;
        --open;
        if (finished[w]) continue;
        int64_t c = m_shared->current[w].load();
        int status = kill_and_reap(m_pids[w]);
        m_pids[w] = -1;
        stop_all();
        throw LammpsError("descriptor worker " + std::to_string(w) + " stopped (" +
                          describe_wait_status(status) + ")" +
                          (c >= 0 && c < n ? " while computing " + where(m_configs[size_t(c)])
                                           : std::string(" before its first configuration")));
      }
      if (got != sizeof m) {
        stop_all();
        throw LammpsError("descriptor worker " + std::to_string(w) + " sent a truncated message");
      }
      if (m.kind == kFailed) {
        std::string text(size_t(std::max(0, m.text_bytes)), '\0');
        read_all(m_pipes[w], text.data(), text.size());
        stop_all();
        if (text.empty()) text = "E(no message)";
        throw_error_of_kind(text[0], text.substr(1));
      }
      if (m.kind == kReady) {
        m_version = m.version;
      } else if (m.kind == kDone) {
        if (m.config < 0 || m.config >= n || m_locations[size_t(m.config)].worker >= 0) {
          stop_all();
          throw LammpsError("descriptor worker " + std::to_string(w) +
                            " reported an unexpected configuration index");
        }
        m_locations[size_t(m.config)] = RecordLocation{int32_t(w), m.offset, m.bytes, m.nrows};
        progress.update(++done);
      } else if (m.kind == kFinished) {
        finished[w] = true;
      }
    }
  }
  for (size_t w = 0; w < W; ++w) {
    int status = 0;
    while (::waitpid(m_pids[w], &status, 0) < 0 && errno == EINTR) {
    }
    m_pids[w] = -1;
  }
  if (done != n)
    throw LammpsError("descriptor workers finished with " + std::to_string(done) + " of " +
                      std::to_string(n) + " configurations computed");
  progress.finish();
}

}  // namespace fitnn
