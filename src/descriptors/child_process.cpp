// Forked child processes and their pipes (child_process.hpp).
#include "descriptors/child_process.hpp"

#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "fitnn/errors.hpp"

namespace fitnn {

bool write_all(int fd, const void* data, size_t bytes) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    ssize_t n = ::write(fd, p, bytes);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += n;
    bytes -= size_t(n);
  }
  return true;
}

size_t read_all(int fd, void* data, size_t bytes) {
  char* p = static_cast<char*>(data);
  size_t done = 0;
  while (done < bytes) {
    ssize_t n = ::read(fd, p + done, bytes - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw LammpsError(std::string("reading from a descriptor worker failed: ") +
                        std::strerror(errno));
    }
    if (n == 0) break;
    done += size_t(n);
  }
  return done;
}

char error_kind(const std::exception& e) {
  if (dynamic_cast<const InputError*>(&e)) return 'I';
  if (dynamic_cast<const DataError*>(&e)) return 'D';
  if (dynamic_cast<const LammpsError*>(&e)) return 'L';
  if (dynamic_cast<const OutputError*>(&e)) return 'O';
  return 'E';
}

void throw_error_of_kind(char kind, const std::string& message) {
  switch (kind) {
    case 'I': throw InputError(message);
    case 'D': throw DataError(message);
    case 'L': throw LammpsError(message);
    case 'O': throw OutputError(message);
    default: throw Error(message);
  }
}

void prepare_child_process(pid_t parent) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(1);
  ::signal(SIGINT, SIG_IGN);
  ::signal(SIGTERM, SIG_IGN);
  ::signal(SIGPIPE, SIG_DFL);
}

void exit_child(int code) { ::_exit(code); }

std::string describe_wait_status(int status) {
  if (status < 0) return "unknown status";
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    std::string s = "signal " + std::to_string(sig) + " (" + strsignal(sig) + ")";
    if (sig == SIGKILL) s += ", possibly killed by the system for lack of memory";
    return s;
  }
  return "status " + std::to_string(status);
}

int kill_and_reap(pid_t pid) {
  if (pid <= 0) return -1;
  ::kill(pid, SIGKILL);
  int status = -1;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

int usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? int(n) : 1;
}

}  // namespace fitnn
