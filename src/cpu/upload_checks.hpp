// The checks every Backend::upload() makes before touching a dataset (CPU and CUDA alike):
// the model layout fits the dataset, array sizes agree, offsets grow, each derivative row
// indexes inside its configuration and rows are sorted by force component (the order
// dataset.hpp promises and both backends rely on), element indices fit the model.
#pragma once
#include <string>

#include "fitnn/dataset.hpp"
#include "fitnn/model.hpp"

namespace fitnn {
namespace cpu {

// backend: "cpu backend" / "cuda backend" (prefix of messages); max_layers: the backend's
// limit on L. Throws InputError (layout) or DataError (dataset). Returns the largest number
// of atoms in one configuration.
int64_t check_upload(const Dataset& data, const ModelLayout& layout, const std::string& backend,
                     int max_layers);

}  // namespace cpu
}  // namespace fitnn
