// Small text helpers shared by the LAMMPS export writers (src/export/): exact decimal doubles,
// whitespace tokenizing and the number test used to parse pair_style arguments.
#pragma once
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

namespace fitnn {
namespace exporttext {

// The shortest %.{15,16,17}g text that reads back to exactly `v` (finite v only).
inline std::string exact(double v) {
  char buf[40];
  for (int prec = 15; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

inline std::vector<std::string> split_words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> words;
  std::string w;
  while (in >> w) words.push_back(w);
  return words;
}

inline std::string join_words(const std::vector<std::string>& words, size_t from = 0) {
  std::string s;
  for (size_t k = from; k < words.size(); ++k) s += (s.empty() ? "" : " ") + words[k];
  return s;
}

inline bool is_number(const std::string& w) {
  if (w.empty()) return false;
  char* end = nullptr;
  std::strtod(w.c_str(), &end);
  return end && *end == '\0';
}

// Appends `values` as lines of at most `per_line` numbers (LAMMPS reads at most 30 per line
// of an nn model file and 1023 characters per line).
inline void append_values(std::string& out, const std::vector<double>& values, size_t from,
                          size_t count, size_t per_line) {
  for (size_t k = 0; k < count; ++k) {
    out += exact(values[from + k]);
    out += (k + 1 == count || (k + 1) % per_line == 0) ? "\n" : " ";
  }
}

}  // namespace exporttext
}  // namespace fitnn
