// A fixed team of threads for the CPU backend. run(f) opens a job: the caller calls f(0), and
// every helper that wakes up while the job is open calls f(w) (w = 1..size()-1); when the
// caller's f returns the job closes, and run() waits only for helpers already inside f.
// So f must share its work out dynamically (e.g. claim units from an atomic counter): on a
// busy machine a helper that is not scheduled in time simply takes no part, instead of
// holding the caller up. Helpers spin briefly between jobs (a training step is ~100 us, a
// futex wake-up tens of microseconds), then sleep. No allocation per job; an exception thrown
// by any f is rethrown by run().
#pragma once
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace fitnn {
namespace cpu {

// One step of a spin wait: the x86 pause instruction, elsewhere a yield.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

class ThreadTeam {
 public:
  explicit ThreadTeam(int nthreads);  // nthreads >= 1; 1 = no helper threads
  ~ThreadTeam();
  ThreadTeam(const ThreadTeam&) = delete;
  ThreadTeam& operator=(const ThreadTeam&) = delete;

  int size() const { return m_size; }

  template <class F>
  void run(F& f) {
    if (m_size == 1) {
      f(0);
      return;
    }
    run_job(&invoke<F>, &f);
  }

 private:
  using JobFn = void (*)(void*, int);
  template <class F>
  static void invoke(void* ctx, int w) {
    (*static_cast<F*>(ctx))(w);
  }
  void run_job(JobFn fn, void* ctx);
  void helper_loop(int w);
  void do_work(JobFn fn, void* ctx, int w);

  int m_size = 1;
  std::vector<std::thread> m_threads;
  JobFn m_fn = nullptr;
  void* m_ctx = nullptr;
  std::atomic<uint64_t> m_generation{0};
  std::atomic<bool> m_open{false};   // a job is accepting helpers
  std::atomic<int> m_active{0};      // helpers inside the job
  std::atomic<bool> m_stop{false};
  std::atomic<int> m_sleeping{0};
  std::mutex m_mutex;
  std::condition_variable m_wake;
  std::mutex m_error_mutex;
  std::exception_ptr m_error;
};

}  // namespace cpu
}  // namespace fitnn
