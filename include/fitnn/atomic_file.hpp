// Writing files so that nothing is ever half-written: content goes to "<path>.tmp.<pid>",
// is flushed and fsync'ed, then renamed over <path> (and the folder fsync'ed). If the
// writer is destroyed without commit(), the temporary file is removed.
#pragma once
#include <cstdio>
#include <string>

namespace fitnn {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);  // throws OutputError if it cannot be created
  ~AtomicFile();                          // removes the temporary unless committed
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t bytes);
  void write(const std::string& text) { write(text.data(), text.size()); }
  void printf(const char* fmt, ...) __attribute__((format(printf, 2, 3)));
  const std::string& temp_path() const { return m_temp; }
  // Flush, fsync, rename onto the final path. Throws OutputError on failure.
  void commit();

 private:
  std::string m_path, m_temp;
  std::FILE* m_file = nullptr;
  bool m_committed = false;
};

// Commit-by-rename for files produced by a library that writes its own file (HDF5):
// write to temp_path_for(path), then call commit_temp_file(temp, path).
std::string temp_path_for(const std::string& path);
void commit_temp_file(const std::string& temp, const std::string& path);

}  // namespace fitnn
