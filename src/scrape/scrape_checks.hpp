// Checks shared by the scrapers: reading a data file with clear errors, element lookup, and
// the sanity of one configuration (finite numbers, a right-handed cell, no coincident atoms).
#pragma once
#include <string>

#include "fitnn/config.hpp"
#include "fitnn/configuration.hpp"

namespace fitnn {

// Whole file as text; DataError for a missing file, a directory, a dangling link.
std::string read_data_file(const std::string& path);
// 0-based index of `name` in BISPECTRUM type; DataError naming `where` if absent.
int element_index(const BispectrumSettings& b, const std::string& name, const std::string& where);
// NaN/Inf anywhere, det(lattice) <= 0, two atoms at the same place: DataError naming `where`.
void check_configuration(const Configuration& c, const std::string& where);

}  // namespace fitnn
