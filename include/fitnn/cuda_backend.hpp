// The CUDA Backend's factory, for make_backend() (src/cpu/backend_factory.cpp). Defined in
// kernels/ and linked only when FitNN is built with CUDA (FITNN_HAVE_CUDA); this header has
// no CUDA includes so that any translation unit may include it.
#pragma once
#include <memory>

#include "fitnn/backend.hpp"

namespace fitnn {

// Throws DeviceError when no usable GPU is found.
std::unique_ptr<Backend> make_cuda_backend(Precision precision);

}  // namespace fitnn
