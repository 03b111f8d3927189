// ThreadTeam: a generation counter announces each job; helpers spin on it for a short while,
// then sleep on a condition variable. A helper joins a job only while it is open (m_open),
// announcing itself in m_active first; the caller closes the job after its own share and
// waits for m_active to drain (sequentially consistent atomics make "active++ then read
// open" and "open = false then read active" see each other).
#include "cpu/thread_team.hpp"

#include <chrono>

namespace fitnn {
namespace cpu {

namespace {

// How long a helper spins for the next job before it sleeps, and how long the caller spins
// for active helpers to finish before it starts yielding its core.
constexpr auto kSpin = std::chrono::microseconds(200);
constexpr auto kSpinJoin = std::chrono::microseconds(20);

}  // namespace

ThreadTeam::ThreadTeam(int nthreads) : m_size(nthreads < 1 ? 1 : nthreads) {
  m_threads.reserve(size_t(m_size - 1));
  for (int w = 1; w < m_size; ++w) m_threads.emplace_back([this, w] { helper_loop(w); });
}

ThreadTeam::~ThreadTeam() {
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_stop.store(true);
    m_generation.fetch_add(1);
  }
  m_wake.notify_all();
  for (auto& t : m_threads) t.join();
}

void ThreadTeam::do_work(JobFn fn, void* ctx, int w) {
  try {
    fn(ctx, w);
  } catch (...) {
    std::lock_guard<std::mutex> lock(m_error_mutex);
    if (!m_error) m_error = std::current_exception();
  }
}

void ThreadTeam::run_job(JobFn fn, void* ctx) {
  m_fn = fn;
  m_ctx = ctx;
  m_error = nullptr;
  m_open.store(true);
  {
    // The lock orders the announcement against a helper that is about to sleep.
    std::lock_guard<std::mutex> lock(m_mutex);
    m_generation.fetch_add(1);
  }
  if (m_sleeping.load() > 0) m_wake.notify_all();
  do_work(fn, ctx, 0);
  m_open.store(false);
  // Wait for the helpers inside the job: spin briefly, then yield (on a busy machine a helper
  // that was preempted needs this core more than the waiting caller does).
  const auto start = std::chrono::steady_clock::now();
  for (int spins = 1; m_active.load() > 0; ++spins) {
    if (spins % 64 != 0 || std::chrono::steady_clock::now() - start < kSpinJoin)
      cpu_relax();
    else
      std::this_thread::yield();
  }
  if (m_error) {
    std::exception_ptr e = m_error;
    m_error = nullptr;
    std::rethrow_exception(e);
  }
}

void ThreadTeam::helper_loop(int w) {
  uint64_t seen = 0;
  for (;;) {
    // Spin for the next generation, then sleep.
    const auto start = std::chrono::steady_clock::now();
    int spins = 0;
    while (m_generation.load(std::memory_order_acquire) == seen) {
      // Yield rather than pause: on a machine with fewer free cores than threads the caller
      // may be waiting for this core.
      std::this_thread::yield();
      if (++spins % 16 == 0 && std::chrono::steady_clock::now() - start > kSpin) {
        std::unique_lock<std::mutex> lock(m_mutex);
        m_sleeping.fetch_add(1);
        m_wake.wait(lock, [&] { return m_generation.load() != seen; });
        m_sleeping.fetch_sub(1);
      }
    }
    seen = m_generation.load();
    if (m_stop.load()) return;
    m_active.fetch_add(1);
    if (m_open.load()) do_work(m_fn, m_ctx, w);  // m_fn/m_ctx are stable while we are active
    m_active.fetch_sub(1);
  }
}

}  // namespace cpu
}  // namespace fitnn
