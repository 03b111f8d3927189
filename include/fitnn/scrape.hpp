// Scrapers (src/scrape/): FitSNAP JSON and extended XYZ files into Configurations in metal
// units, and the GROUPS logic (train/test split, weights, smartweights, random sampling).
#pragma once
#include <string>
#include <vector>

#include "fitnn/config.hpp"
#include "fitnn/configuration.hpp"

namespace fitnn {

// All configurations of one FitSNAP JSON file; element names mapped to BISPECTRUM `type`
// order. Throws DataError naming the file, configuration and key.
std::vector<Configuration> read_fitsnap_json(const std::string& path,
                                             const BispectrumSettings& bispectrum);
// All frames of one extended XYZ file.
std::vector<Configuration> read_extxyz(const std::string& path,
                                       const BispectrumSettings& bispectrum);
// The same from text already in memory (what the two readers above do after reading the
// file); `origin` names the source in messages and in Configuration::file. Used by the fuzz
// targets (fuzz/).
std::vector<Configuration> parse_fitsnap_json(const std::string& text, const std::string& origin,
                                              const BispectrumSettings& bispectrum);
std::vector<Configuration> parse_extxyz(const std::string& text, const std::string& origin,
                                        const BispectrumSettings& bispectrum);

// Every configuration named by the GROUPS section under dataPath, split into training and
// testing and weighted with FitSNAP's semantics; global training_fraction applied.
std::vector<Configuration> scrape(const Config& config);

}  // namespace fitnn
