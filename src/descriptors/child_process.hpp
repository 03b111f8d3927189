// Forked child processes and the pipes between them and the parent: full reads/writes that
// survive EINTR and short transfers, typed FitNN errors carried across the process boundary,
// and killing/reaping children. LAMMPS runs only in such children (see lammps_library.hpp).
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <exception>
#include <string>

namespace fitnn {

// Writes all bytes (retrying short writes). Returns false when the reader has gone.
bool write_all(int fd, const void* data, size_t bytes);
// Reads exactly `bytes`; returns the number read (< bytes only at end of file). Throws
// LammpsError on a read error.
size_t read_all(int fd, void* data, size_t bytes);

// A one-letter kind for a caught exception ('I' InputError, 'D' DataError, 'L' LammpsError,
// 'O' OutputError, 'E' anything else) and the inverse: throws the matching FitNN type.
char error_kind(const std::exception& e);
[[noreturn]] void throw_error_of_kind(char kind, const std::string& message);

// In a freshly forked child of `parent`: die with the parent (PR_SET_PDEATHSIG; exits at once
// if the parent is already gone), ignore SIGINT and SIGTERM (a terminal's Ctrl-C or a kill of
// the process group reaches the workers too: the parent decides and stops them), default
// SIGPIPE.
void prepare_child_process(pid_t parent);
// Leaves a forked child without running the parent's atexit handlers or flushing its stdio.
[[noreturn]] void exit_child(int code);

// How a child ended, in words ("exit status 3", "signal 9 (Killed)").
std::string describe_wait_status(int status);
// SIGKILL then waitpid; ignores a pid <= 0. Returns the wait status (or -1).
int kill_and_reap(pid_t pid);

// Number of CPU cores this process may use (sched_getaffinity; at least 1).
int usable_cores();

}  // namespace fitnn
