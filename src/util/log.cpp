// Implementation of the log/progress facility (include/fitnn/log.hpp).
#include "fitnn/log.hpp"

#include <unistd.h>

#include <cstdio>
#include <mutex>

namespace fitnn {
namespace {
std::mutex g_mutex;
LogSink g_sink;
bool g_quiet = false;
}  // namespace

void log_message(LogLevel level, const std::string& msg) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_sink) {
    g_sink(level, msg);
    return;
  }
  if (level == LogLevel::info && g_quiet) return;
  if (level == LogLevel::warn) {
    std::fprintf(stderr, "fitnn: warning: %s\n", msg.c_str());
    std::fflush(stderr);
  } else if (level == LogLevel::note) {
    std::fprintf(stdout, "fitnn: note: %s\n", msg.c_str());
    std::fflush(stdout);
  } else {
    std::fprintf(stdout, "%s\n", msg.c_str());
    std::fflush(stdout);
  }
}

LogSink set_log_sink(LogSink sink) {
  std::lock_guard<std::mutex> lock(g_mutex);
  LogSink old = std::move(g_sink);
  g_sink = std::move(sink);
  return old;
}

void set_quiet(bool quiet) { g_quiet = quiet; }

Progress::Progress(std::string what, int64_t total, double period_s)
    : m_what(std::move(what)), m_total(total), m_period(period_s) {
  m_tty = isatty(STDOUT_FILENO) && !g_sink;
  m_start = m_last = std::chrono::steady_clock::now();
}

static std::string format_progress(const std::string& what, int64_t done, int64_t total,
                                   double elapsed) {
  double rate = elapsed > 0 ? done / elapsed : 0.0;
  double eta = rate > 0 ? (total - done) / rate : 0.0;
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s: %lld/%lld configs, %.1f configs/s, ETA %.0f s",
                what.c_str(), (long long)done, (long long)total, rate, eta);
  return buf;
}

void Progress::update(int64_t done) {
  if (g_quiet) return;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - m_last).count();
  double elapsed = std::chrono::duration<double>(now - m_start).count();
  if (m_tty) {
    if (since < 0.2 && done < m_total) return;
    m_last = now;
    std::lock_guard<std::mutex> lock(g_mutex);
    std::fprintf(stdout, "\r%s   ", format_progress(m_what, done, m_total, elapsed).c_str());
    std::fflush(stdout);
  } else {
    if (since < m_period) return;
    m_last = now;
    log_info(format_progress(m_what, done, m_total, elapsed));
  }
}

void Progress::finish() {
  if (m_finished || g_quiet) return;
  m_finished = true;
  double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
  if (m_tty) {
    std::lock_guard<std::mutex> lock(g_mutex);
    std::fprintf(stdout, "\r%s\n", format_progress(m_what, m_total, m_total, elapsed).c_str());
    std::fflush(stdout);
  } else {
    log_info(format_progress(m_what, m_total, m_total, elapsed));
  }
}

}  // namespace fitnn
