// The one progress/log facility of the library. Nothing below src/cli/ prints to the
// terminal except through these functions. Messages go to stderr (warnings) or stdout (info);
// a test can capture them with set_log_sink().
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace fitnn {

enum class LogLevel { info, note, warn };
void log_message(LogLevel level, const std::string& msg);
inline void log_info(const std::string& m) { log_message(LogLevel::info, m); }
inline void log_note(const std::string& m) { log_message(LogLevel::note, m); }
inline void log_warn(const std::string& m) { log_message(LogLevel::warn, m); }
// Replace the output (nullptr: back to stdout/stderr). Returns the previous sink.
using LogSink = std::function<void(LogLevel, const std::string&)>;
LogSink set_log_sink(LogSink sink);
void set_quiet(bool quiet);  // suppress info (warnings still shown)

// Progress of a long loop: "what: done/total, rate/s, ETA". On a terminal it redraws one
// line; otherwise it prints a plain line every `period` seconds.
class Progress {
 public:
  Progress(std::string what, int64_t total, double period_s = 5.0);
  void update(int64_t done);
  void finish();
 private:
  std::string m_what;
  int64_t m_total;
  double m_period;
  bool m_tty;
  bool m_finished = false;
  std::chrono::steady_clock::time_point m_start, m_last;
};

}  // namespace fitnn
