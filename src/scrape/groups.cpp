// GROUPS with FitSNAP's semantics: each group is a folder of JSON files (or a .xyz/.extxyz
// file) under dataPath; its training_size/testing_size are fractions (< 1, or 1.0 written as
// a float) or counts; random_sampling shuffles before the split (seeded, seed logged);
// smartweights divides weights by the group's count; global training_fraction re-splits
// everything at random. Files are read by parallel threads; order is deterministic.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <random>
#include <thread>

#include "fitnn/errors.hpp"
#include "fitnn/log.hpp"
#include "fitnn/scrape.hpp"
#include "scrape/split_rng.hpp"

namespace fs = std::filesystem;

namespace fitnn {
namespace {

std::vector<std::string> group_files(const Config& config, const GroupSpec& g) {
  std::string root = config.resolved_data_path();
  std::error_code ec;
  if (!fs::is_directory(root, ec))
    throw DataError("[PATH] dataPath '" + root + "' is not a folder (from " +
                    config.input_path + ")");
  std::vector<std::string> files;
  if (config.scraper == "XYZ") {
    for (const char* ext : {".xyz", ".extxyz"}) {
      fs::path p = fs::path(root) / (g.name + ext);
      if (fs::exists(p, ec)) files.push_back(p.string());
    }
    if (files.empty())
      throw DataError("[GROUPS] " + g.name + ": no file " + g.name + ".xyz or " + g.name +
                      ".extxyz in dataPath '" + root + "'");
    return files;
  }
  fs::path dir = fs::path(root) / g.name;
  if (!fs::is_directory(dir, ec))
    throw DataError("[GROUPS] " + g.name + ": no folder '" + dir.string() + "' under dataPath");
  for (auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.size() > 5 && name.compare(name.size() - 5, 5, ".json") == 0)
      files.push_back(e.path().string());
  }
  if (files.empty())
    throw DataError("[GROUPS] " + g.name + ": folder '" + dir.string() +
                    "' holds no .json file (empty group)");
  std::sort(files.begin(), files.end());
  return files;
}

// FitSNAP's size rule: fraction -> max(1, round(v n)) (0 -> none, 1.0 -> all); else a count.
int64_t split_size(double v, bool is_fraction, int64_t n) {
  if (!is_fraction) return int64_t(v);
  if (v <= 0.0) return 0;
  if (v >= 1.0) return n;
  return std::max<int64_t>(1, int64_t(std::nearbyint(v * double(n))));
}

// Read every file with `threads` workers; results in file order. The first error wins.
std::vector<std::vector<Configuration>> read_all(const std::vector<std::string>& files,
                                                 const Config& config) {
  std::vector<std::vector<Configuration>> out(files.size());
  std::vector<std::exception_ptr> errors(files.size());
  std::atomic<size_t> next{0};
  auto work = [&]() {
    for (size_t k; (k = next++) < files.size();) {
      try {
        out[k] = config.scraper == "XYZ" ? read_extxyz(files[k], config.bispectrum)
                                         : read_fitsnap_json(files[k], config.bispectrum);
      } catch (...) {
        errors[k] = std::current_exception();
        next = files.size();
      }
    }
  };
  unsigned nthreads = std::max(1u, std::min(4u, std::thread::hardware_concurrency()));
  if (files.size() < 16) nthreads = 1;
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < nthreads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  return out;
}

}  // namespace

std::vector<Configuration> scrape(const Config& config) {
  const GroupSettings& gs = config.groups;
  uint64_t seed = gs.random_seed ? *gs.random_seed : draw_seed();
  if (gs.random_sampling)
    log_info("GROUPS random_sampling seed: " + std::to_string(seed) +
             " (set [GROUPS] random_seed to repeat this split)");
  SplitRng rng(seed);

  // All files of all groups, read in parallel.
  std::vector<std::string> files;
  std::vector<size_t> group_begin;
  for (auto& g : gs.groups) {
    group_begin.push_back(files.size());
    auto f = group_files(config, g);
    files.insert(files.end(), f.begin(), f.end());
  }
  group_begin.push_back(files.size());
  auto per_file = read_all(files, config);

  std::vector<Configuration> result;
  for (size_t gi = 0; gi < gs.groups.size(); ++gi) {
    const GroupSpec& g = gs.groups[gi];
    std::vector<Configuration> group;
    for (size_t f = group_begin[gi]; f < group_begin[gi + 1]; ++f)
      for (auto& c : per_file[f]) group.push_back(std::move(c));
    const int64_t n = int64_t(group.size());
    if (gs.random_sampling) rng.shuffle(group);
    int64_t ntrain = split_size(g.training_size, g.training_is_fraction, n);
    int64_t ntest = g.testing_size < 0 ? n - std::min(ntrain, n)
                                       : split_size(g.testing_size, g.testing_is_fraction, n);
    if (ntrain > n)
      throw DataError("[GROUPS] " + g.name + ": training_size asks for " +
                      std::to_string(ntrain) + " configurations but the group has " +
                      std::to_string(n));
    if (ntrain + ntest > n) {
      log_warn("[GROUPS] " + g.name + ": training + testing sizes exceed the " +
               std::to_string(n) + " configurations; testing gets the remaining " +
               std::to_string(n - ntrain));
      ntest = n - ntrain;
    }
    if (ntrain + ntest == 0)
      log_warn("[GROUPS] " + g.name + ": sizes select no configuration from this group");
    double count = double(ntrain + ntest);
    for (int64_t k = 0; k < ntrain + ntest; ++k) {
      Configuration& c = group[k];
      c.group = g.name;
      c.group_index = int(gi);
      c.testing = k >= ntrain;
      c.eweight = g.eweight;
      c.fweight = g.fweight;
      c.vweight = g.vweight;
      if (gs.smartweights) {  // FitSNAP: weights shared out over the group's configurations
        c.eweight /= count;
        c.fweight /= count * 3.0 * c.natoms;
        c.vweight /= count * 6.0;
      }
      result.push_back(std::move(c));
    }
  }
  if (result.empty())
    throw DataError(config.input_path + ": [GROUPS] select no configuration at all");

  if (config.train.training_fraction) {
    // Random split of everything into int(f N) training and the rest validation.
    uint64_t tseed = config.train.manual_seed_flag ? config.train.seed : draw_seed();
    if (!config.train.manual_seed_flag)
      log_info("training_fraction split seed: " + std::to_string(tseed));
    SplitRng trng(tseed ^ 0x9e3779b97f4a7c15ull);
    std::vector<size_t> order(result.size());
    for (size_t k = 0; k < order.size(); ++k) order[k] = k;
    trng.shuffle(order);
    size_t ntrain = size_t(*config.train.training_fraction * double(result.size()));
    for (size_t k = 0; k < order.size(); ++k) result[order[k]].testing = k >= ntrain;
  }
  return result;
}

}  // namespace fitnn
