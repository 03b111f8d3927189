// Benchmark of the descriptor stage: every FitSNAP JSON file under a data folder through
// compute_dataset(), with the Ta or WBe settings of shared/reference/*_golden.json.
//   bench_descriptors <ta|wbe> <data folder> [workers] [32|64] [max configs]
// Prints wall time, configs/s and the Dataset's size; run under /usr/bin/time -v for RSS.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "fitnn/descriptors.hpp"
#include "fitnn/errors.hpp"
#include "fitnn/scrape.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

static fitnn::Config settings_from_golden(const std::string& path) {
  std::ifstream in(path);
  json g = json::parse(in);
  fitnn::Config c;
  const json& b = g["bispectrum"];
  auto& s = c.bispectrum;
  s.types = b["types"].get<std::vector<std::string>>();
  s.num_types = int(s.types.size());
  s.twojmax = b["twojmax"];
  s.rcutfac = b["rcutfac"];
  s.rfac0 = b["rfac0"];
  s.rmin0 = b["rmin0"];
  s.radelem = b["radelem"].get<std::vector<double>>();
  s.wj = b["wj"].get<std::vector<double>>();
  s.bzeroflag = b["bzeroflag"];
  s.switchflag = b["switchflag"];
  s.bnormflag = b["bnormflag"];
  s.wselfallflag = b["wselfallflag"];
  s.chemflag = b["chemflag"];
  s.bikflag = 1;
  s.dgradflag = 1;
  c.reference.pair_style = g["reference"]["pair_style"];
  for (const auto& pc : g["reference"]["pair_coeff"]) c.reference.pair_coeffs.push_back(pc);
  return c;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s <ta|wbe> <data folder> [workers] [32|64] [max configs]\n",
                 argv[0]);
    return 2;
  }
  std::string which = argv[1];
  std::string shared = fs::weakly_canonical(std::string(FITNN_SOURCE_DIR) + "/../shared");
  fitnn::Config config = settings_from_golden(shared + "/reference/" + which + "_golden.json");
  fitnn::LammpsOptions opt;
  opt.workers = argc > 3 ? std::atoi(argv[3]) : 0;
  opt.derivative_bits = argc > 4 ? std::atoi(argv[4]) : 64;
  size_t max_configs = argc > 5 ? size_t(std::atol(argv[5])) : size_t(-1);
  try {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::string> files;
    for (auto& e : fs::recursive_directory_iterator(argv[2]))
      if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    std::vector<fitnn::Configuration> configs;
    for (const auto& f : files) {
      for (auto& c : fitnn::read_fitsnap_json(f, config.bispectrum)) {
        c.group = fs::path(f).parent_path().filename();
        configs.push_back(std::move(c));
      }
      if (configs.size() >= max_configs) break;
    }
    if (configs.size() > max_configs) configs.resize(max_configs);
    auto t1 = std::chrono::steady_clock::now();
    fitnn::Dataset d = fitnn::compute_dataset(config, configs, opt);
    auto t2 = std::chrono::steady_clock::now();
    double scrape_s = std::chrono::duration<double>(t1 - t0).count();
    double desc_s = std::chrono::duration<double>(t2 - t1).count();
    double dgrad_bytes = double(d.nrows()) * d.ndesc;
    double other = double(d.array_bytes()) - dgrad_bytes * (opt.derivative_bits / 8);
    std::printf("configs %lld atoms %lld rows %lld ndesc %d workers %d bits %d\n",
                (long long)d.nconfigs(), (long long)d.natoms(), (long long)d.nrows(), d.ndesc,
                opt.workers, opt.derivative_bits);
    std::printf("scrape %.2f s, descriptors %.2f s (%.1f configs/s)\n", scrape_s, desc_s,
                d.nconfigs() / desc_s);
    rusage self{}, kids{};
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &kids);
    auto sec = [](const timeval& t) { return double(t.tv_sec) + 1e-6 * double(t.tv_usec); };
    std::printf("CPU: parent %.2f s user + %.2f s sys, workers %.2f s user + %.2f s sys\n",
                sec(self.ru_utime), sec(self.ru_stime), sec(kids.ru_utime), sec(kids.ru_stime));
    std::printf("dataset %.3f GB as stored; %.3f GB with float64 rows, %.3f GB with float32\n",
                d.array_bytes() / 1e9, (other + 8 * dgrad_bytes) / 1e9,
                (other + 4 * dgrad_bytes) / 1e9);
  } catch (const fitnn::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return e.exit_code();
  }
  return 0;
}
