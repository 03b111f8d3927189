// Fixtures of the descriptor tests: the BISPECTRUM and REFERENCE settings of a golden JSON
// file as a Config, a few Ta configurations from the shared data set, and a check that no
// LAMMPS worker process is left behind.
#pragma once
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

#include "fitnn/config.hpp"
#include "fitnn/scrape.hpp"
#include "support.hpp"

namespace fitnn_test {

inline fitnn::Config golden_config(const nlohmann::json& g) {
  fitnn::Config c;
  const nlohmann::json& b = g["bispectrum"];
  fitnn::BispectrumSettings& s = c.bispectrum;
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
  s.quadraticflag = b["quadraticflag"];
  s.switchinnerflag = b.value("switchinnerflag", 0);
  if (b.contains("sinner")) s.sinner = b["sinner"].get<std::vector<double>>();
  if (b.contains("dinner")) s.dinner = b["dinner"].get<std::vector<double>>();
  s.bikflag = b["bikflag"];
  s.dgradflag = b["dgradflag"];
  EXPECT_EQ(s.num_descriptors(), b["ncoeff"].get<int>());
  c.reference.pair_style = g["reference"]["pair_style"];  // "pair_style ..." form
  for (const auto& pc : g["reference"]["pair_coeff"]) c.reference.pair_coeffs.push_back(pc);
  return c;
}

inline fitnn::Config ta_config() { return golden_config(ta_golden()); }

// The first `per_group` files of each Ta group (every third one a test configuration).
inline std::vector<fitnn::Configuration> ta_files(const std::vector<std::string>& groups,
                                                  size_t per_group) {
  fitnn::BispectrumSettings b;
  b.types = {"Ta"};
  std::vector<fitnn::Configuration> out;
  for (const auto& group : groups) {
    std::string dir = shared_dir() + "/data/Ta/" + group;
    auto names = list_dir(dir);
    for (size_t k = 0; k < std::min(per_group, names.size()); ++k) {
      auto v = fitnn::read_fitsnap_json(dir + "/" + names[k], b);
      for (auto& c : v) {
        c.group = group;
        c.testing = (k % 3 == 2);
        c.eweight = 100.0 + double(k);
        out.push_back(c);
      }
    }
  }
  return out;
}

// No child process (a LAMMPS worker) is left: all were reaped.
inline bool no_children_left() {
  int status;
  return waitpid(-1, &status, WNOHANG) < 0 && errno == ECHILD;
}

}  // namespace fitnn_test
