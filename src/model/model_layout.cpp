// ModelLayout: the widths of the per-element MLPs and where each layer's weights and biases
// sit in the ONE flat parameter vector (per net, per layer: W_l row-major (out, in), then b_l).
#include <string>

#include "fitnn/errors.hpp"
#include "fitnn/model.hpp"

namespace fitnn {

namespace {

// Upper bounds that only catch nonsense (a typo turning 64 into 6400000), not big models.
constexpr int kMaxWidth = 1 << 20;
constexpr int kMaxHiddenLayers = 64;

}  // namespace

ModelLayout ModelLayout::from_settings(int ndesc, int nelements, const TrainSettings& t) {
  if (ndesc < 1)
    throw InputError("model: the number of descriptors must be at least 1 (got " +
                     std::to_string(ndesc) + ")");
  if (nelements < 1)
    throw InputError("model: the number of elements must be at least 1 (got " +
                     std::to_string(nelements) + ")");
  if (t.multi_element_option < 1 || t.multi_element_option > 3)
    throw InputError("[PYTORCH] multi_element_option = " +
                     std::to_string(t.multi_element_option) +
                     ": use 1 (one network), 2 (one network per element) or 3 (one-hot input)");
  if (int(t.hidden_sizes.size()) > kMaxHiddenLayers)
    throw InputError("[PYTORCH] layer_sizes: " + std::to_string(t.hidden_sizes.size()) +
                     " hidden layers is more than the " + std::to_string(kMaxHiddenLayers) +
                     " supported");
  for (size_t k = 0; k < t.hidden_sizes.size(); ++k) {
    const int w = t.hidden_sizes[k];
    if (w < 1 || w > kMaxWidth)
      throw InputError("[PYTORCH] layer_sizes: hidden layer " + std::to_string(k + 1) +
                       " has width " + std::to_string(w) + "; widths must be 1.." +
                       std::to_string(kMaxWidth));
  }
  ModelLayout m;
  m.ndesc = ndesc;
  m.nelements = nelements;
  m.option = t.multi_element_option;
  m.activation = t.activation;
  m.input_layer = t.input_layer;
  m.widths.reserve(t.hidden_sizes.size() + 3);
  m.widths.push_back(m.input_width());
  if (m.input_layer) m.widths.push_back(m.input_width());
  for (int w : t.hidden_sizes) m.widths.push_back(w);
  m.widths.push_back(1);
  return m;
}

int64_t ModelLayout::nparams_per_net() const {
  int64_t n = 0;
  for (int l = 1; l <= nlayers(); ++l)
    n += int64_t(widths[l]) * widths[l - 1] + widths[l];
  return n;
}

int64_t ModelLayout::weight_offset(int net, int l) const {
  if (net < 0 || net >= nnets() || l < 1 || l > nlayers())
    throw InputError("model: no layer " + std::to_string(l) + " in net " + std::to_string(net));
  int64_t off = nparams_per_net() * net;
  for (int k = 1; k < l; ++k) off += int64_t(widths[k]) * widths[k - 1] + widths[k];
  return off;
}

int64_t ModelLayout::bias_offset(int net, int l) const {
  return weight_offset(net, l) + int64_t(widths[l]) * widths[l - 1];
}

bool ModelLayout::operator==(const ModelLayout& o) const {
  return ndesc == o.ndesc && nelements == o.nelements && option == o.option &&
         widths == o.widths && activation == o.activation && input_layer == o.input_layer;
}

std::string ModelLayout::describe_parameter(int64_t index) const {
  const int net = int(index / nparams_per_net());
  for (int l = 1; l <= nlayers(); ++l) {
    const int64_t w0 = weight_offset(net, l), b0 = bias_offset(net, l);
    if (index < b0) {
      const int64_t k = index - w0, in = widths[l - 1];
      return "net " + std::to_string(net) + " layer " + std::to_string(l) + " weight [" +
             std::to_string(k / in) + ", " + std::to_string(k % in) + "]";
    }
    if (index < b0 + widths[l])
      return "net " + std::to_string(net) + " layer " + std::to_string(l) + " bias [" +
             std::to_string(index - b0) + "]";
  }
  return "parameter " + std::to_string(index);
}

}  // namespace fitnn
