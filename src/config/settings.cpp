// Small derived quantities of the settings: descriptor count, element lookup, activation
// names, the resolved data path.
#include <filesystem>

#include "fitnn/config.hpp"
#include "fitnn/errors.hpp"

namespace fitnn {

int BispectrumSettings::num_descriptors() const {
  // Count (j1, j2, j) with 0 <= j2 <= j1 <= J, |j1-j2| <= j <= min(J, j1+j2), j1+j2+j even,
  // j >= j1 (all in units of 1/2: twice the angular momenta). chemflag multiplies by
  // nelements^3; bzeroflag does not change the count.
  const int J = twojmax;
  int count = 0;
  for (int j1 = 0; j1 <= J; ++j1)
    for (int j2 = 0; j2 <= j1; ++j2)
      for (int j = j1 - j2; j <= std::min(J, j1 + j2); j += 2)
        if (j >= j1) ++count;
  if (chemflag) count *= num_types * num_types * num_types;
  return count;
}

int BispectrumSettings::type_index(const std::string& name) const {
  for (size_t i = 0; i < types.size(); ++i)
    if (types[i] == name) return int(i);
  return -1;
}

const char* activation_name(Activation a) {
  switch (a) {
    case Activation::softplus: return "softplus";
    case Activation::tanh: return "tanh";
    case Activation::sigmoid: return "sigmoid";
    case Activation::relu: return "relu";
    case Activation::linear: return "linear";
  }
  return "?";
}

Activation activation_from_name(const std::string& name) {
  for (Activation a : {Activation::softplus, Activation::tanh, Activation::sigmoid,
                       Activation::relu, Activation::linear})
    if (name == activation_name(a)) return a;
  throw InputError("unknown activation '" + name +
                   "': use one of softplus, tanh, sigmoid, relu, linear");
}

std::string Config::resolved_data_path() const {
  std::filesystem::path p(data_path);
  if (p.is_absolute() || input_dir.empty()) return p.lexically_normal().string();
  return (std::filesystem::path(input_dir) / p).lexically_normal().string();
}

}  // namespace fitnn
