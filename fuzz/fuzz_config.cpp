// libFuzzer target: the INI reader and the typed Config (parse_config_string). Any input must
// either parse or throw fitnn::InputError; any other exception, a crash or a sanitizer report
// is a finding. A parsed Config must also give a model layout (what the CLI does next).
#include <cstddef>
#include <cstdint>
#include <string>

#include "fitnn/config.hpp"
#include "fitnn/errors.hpp"
#include "fitnn/log.hpp"
#include "fitnn/model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool quiet = (fitnn::set_log_sink([](fitnn::LogLevel, const std::string&) {}), true);
  (void)quiet;
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    fitnn::Config c = fitnn::parse_config_string(text, "fuzz.in", "/nonexistent");
    const int ndesc = c.bispectrum.num_descriptors();
    fitnn::ModelLayout layout =
        fitnn::ModelLayout::from_settings(ndesc, c.bispectrum.num_types, c.train);
    if (layout.widths.back() != 1 || layout.widths.front() != layout.input_width())
      __builtin_trap();
    (void)c.resolved_data_path();
  } catch (const fitnn::InputError&) {
  }
  return 0;
}
