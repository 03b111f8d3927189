// libFuzzer target: the extended XYZ scraper (parse_extxyz, the in-memory half of
// read_extxyz) followed by the LAMMPS frame of every frame it accepts. Any input must either
// give consistent Configurations or throw fitnn::DataError.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fitnn/descriptors.hpp"
#include "fitnn/errors.hpp"
#include "fitnn/scrape.hpp"
#include "fuzz_checks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fitnn::BispectrumSettings b = fitnn_fuzz::three_elements();
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    for (const fitnn::Configuration& c : fitnn::parse_extxyz(text, "fuzz.xyz", b))
      fitnn_fuzz::check_configuration_and_frame(c, b);
  } catch (const fitnn::DataError&) {
  }
  return 0;
}
