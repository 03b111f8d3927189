// Implementation of the shared test helpers (support.hpp).
#include "support.hpp"

#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

namespace fitnn_test {

std::string shared_dir() {
  if (const char* env = std::getenv("FITNN_SHARED_DIR")) return env;
  return fs::weakly_canonical(FITNN_SHARED_DIR).string();
}
std::string test_data_dir() { return FITNN_TEST_DATA_DIR; }

nlohmann::json load_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  return nlohmann::json::parse(in);
}

const nlohmann::json& ta_golden() {
  static nlohmann::json j = load_json(shared_dir() + "/reference/ta_golden.json");
  return j;
}
const nlohmann::json& wbe_golden() {
  static nlohmann::json j = load_json(shared_dir() + "/reference/wbe_golden.json");
  return j;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
void write_text(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
}
bool file_exists(const std::string& path) { return fs::exists(path); }
std::vector<std::string> list_dir(const std::string& path) {
  std::vector<std::string> names;
  for (auto& e : fs::directory_iterator(path)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

double tolerance_ratio(const std::vector<double>& a, const std::vector<double>& b, double atol,
                       double rtol) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0.0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    double r = std::abs(a[i] - b[i]) / (atol + rtol * std::abs(b[i]));
    if (!(r <= worst)) worst = r;  // NaN propagates as failure
  }
  return worst;
}
double max_abs(const std::vector<double>& v) {
  double m = 0.0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "fitnn_test_XXXXXX").string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
  path = buf.data();
}
TempDir::~TempDir() {
  std::error_code ec;
  if (!std::getenv("FITNN_KEEP_TEMP")) fs::remove_all(path, ec);
}

CliResult run_shell(const std::string& command, const std::string& cwd) {
  std::string full = "cd '" + cwd + "' && " + command + " 2>&1";
  CliResult r;
  FILE* p = popen(full.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

CliResult run_fitnn(const std::string& args, const std::string& cwd) {
  return run_shell(std::string("'") + FITNN_BINARY + "' " + args, cwd);
}

}  // namespace fitnn_test
