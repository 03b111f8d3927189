// The message of a training step that was not taken because its loss or gradient was not
// finite, shared by the CPU and CUDA backends: which step and batch, the first value that was
// not finite (the batch loss, or the gradient entry named by ModelLayout::describe_parameter)
// and what to do about it. The backends throw it as a NumericError.
#pragma once
#include <cstdint>
#include <string>

#include "fitnn/model.hpp"

namespace fitnn {
namespace cpu {

// step: the step that was refused (1-based); configs, n: its batch; grad: (ngrad) the summed
// gradient in the layout's parameter order (read only when the loss is finite; may be null
// then). With a finite loss and a finite gradient (a backend that saw a non-finite value
// elsewhere) the value is "a non-finite value".
template <class S>
std::string refused_step_message(const std::string& backend, int64_t step,
                                 const int64_t* configs, int n, double loss,
                                 const ModelLayout& layout, const S* grad, int64_t ngrad);

}  // namespace cpu
}  // namespace fitnn
