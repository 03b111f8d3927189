// AtomicFile: temp file + fsync + rename (include/fitnn/atomic_file.hpp).
#include "fitnn/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <filesystem>

#include "fitnn/errors.hpp"
#include "fitnn/log.hpp"

namespace fitnn {

std::string temp_path_for(const std::string& path) {
  return path + ".tmp." + std::to_string(getpid());
}

static void fsync_parent(const std::string& path) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) parent = ".";
  int fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

void commit_temp_file(const std::string& temp, const std::string& path) {
  int fd = ::open(temp.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    std::string err = std::strerror(errno);
    std::remove(temp.c_str());
    throw OutputError("cannot write '" + path + "': " + err);
  }
  fsync_parent(path);
}

AtomicFile::AtomicFile(std::string path) : m_path(std::move(path)) {
  m_temp = temp_path_for(m_path);
  m_file = std::fopen(m_temp.c_str(), "wb");
  if (!m_file)
    throw OutputError("cannot create '" + m_path + "' (temporary '" + m_temp +
                      "'): " + std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (m_file) std::fclose(m_file);
  if (!m_committed) {
    if (std::remove(m_temp.c_str()) != 0 && errno != ENOENT)
      log_warn("could not remove temporary file '" + m_temp + "'");
  }
}

void AtomicFile::write(const void* data, size_t bytes) {
  if (bytes && std::fwrite(data, 1, bytes, m_file) != bytes)
    throw OutputError("cannot write '" + m_path + "': " + std::strerror(errno));
}

void AtomicFile::printf(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = std::vfprintf(m_file, fmt, ap);
  va_end(ap);
  if (rc < 0) throw OutputError("cannot write '" + m_path + "': " + std::strerror(errno));
}

void AtomicFile::commit() {
  if (std::fflush(m_file) != 0 || ::fsync(fileno(m_file)) != 0) {
    throw OutputError("cannot write '" + m_path + "': " + std::strerror(errno));
  }
  std::fclose(m_file);
  m_file = nullptr;
  if (std::rename(m_temp.c_str(), m_path.c_str()) != 0)
    throw OutputError("cannot rename '" + m_temp + "' to '" + m_path +
                      "': " + std::strerror(errno));
  m_committed = true;
  fsync_parent(m_path);
}

}  // namespace fitnn
