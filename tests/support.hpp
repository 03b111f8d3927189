// Helpers shared by the tests: paths to ../shared, golden files, tolerance checks, a temporary
// directory and a way to run the real `fitnn` binary and capture its output and exit code.
#pragma once
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace fitnn_test {

std::string shared_dir();                 // ../shared beside the checkout
std::string test_data_dir();              // tests/data
nlohmann::json load_json(const std::string& path);
const nlohmann::json& ta_golden();        // cached ../shared/reference/ta_golden.json
const nlohmann::json& wbe_golden();
std::string read_text(const std::string& path);
void write_text(const std::string& path, const std::string& text);
bool file_exists(const std::string& path);
std::vector<std::string> list_dir(const std::string& path);

// max over i of |a_i - b_i| / (atol + rtol |b_i|); <= 1 means within tolerance.
double tolerance_ratio(const std::vector<double>& a, const std::vector<double>& b, double atol,
                       double rtol);
double max_abs(const std::vector<double>& v);

struct TempDir {
  TempDir();
  ~TempDir();
  std::string path;
  std::string operator/(const std::string& name) const { return path + "/" + name; }
};

struct CliResult {
  int exit_code = -1;
  std::string out;  // stdout and stderr together
};
// Runs build/fitnn with `args` (a shell-quoted string) in directory `cwd`.
CliResult run_fitnn(const std::string& args, const std::string& cwd);
// Runs any shell command in `cwd`.
CliResult run_shell(const std::string& command, const std::string& cwd);

}  // namespace fitnn_test
