// libFuzzer target: the FitSNAP JSON scraper (parse_fitsnap_json, the in-memory half of
// read_fitsnap_json) followed by the LAMMPS frame of every configuration it accepts. Any
// input must either give consistent Configurations or throw fitnn::DataError.
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
    for (const fitnn::Configuration& c : fitnn::parse_fitsnap_json(text, "fuzz.json", b))
      fitnn_fuzz::check_configuration_and_frame(c, b);
  } catch (const fitnn::DataError&) {
  }
  return 0;
}
