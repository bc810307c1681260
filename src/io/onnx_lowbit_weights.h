// lowbit's own decode subgraphs (io/onnx_quantized.h, the `decode` form)
// recognised when a model is imported, so that the engine keeps the codes
// instead of computing the floats once and holding them.
//
// The writer records each such weight in the model's metadata_props as
// "lowbit.q.<weight>" = {"scheme", "granularity", "group_size",
// "symmetric", "scale_type", "axis", "shape"} (JSON). The importer rebuilds
// the QuantizedTensor from that record and the subgraph's initializers,
// writes the decode subgraph of that tensor again (WriteOnnxWeight, into a
// scratch model) and accepts the weight only when every node and every
// initializer is identical, and no other node reads the subgraph's
// intermediate values. So a recognised weight decodes, by construction, to
// exactly what the file's own nodes compute; anything else (an edited
// subgraph, a stale record) is left to run as ordinary nodes.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "formats/quantized_tensor.h"
#include "graph/qweight.h"
#include "graph/tensor.h"

namespace onnx {
class ModelProto;
}

namespace lowbit {

// "lowbit.q." + weight name.
std::string LowbitWeightKey(const std::string& weight);
// The metadata record of a weight written in the decode form.
std::string LowbitWeightRecord(const QuantizedTensor& q, const Shape& shape,
                               int axis);

struct LowbitDecoded {
  std::map<std::string, std::shared_ptr<graph::QuantWeight>> weights;
  std::set<std::string> node_outputs;  // outputs of the nodes they replace
  std::vector<std::string> rejected;   // "weight: why", for reports
};

// `inits`: every initializer of `m` by name (as ImportOnnxModel reads them);
// `opset`: the model's default-domain opset.
LowbitDecoded RecognizeLowbitDecode(
    const onnx::ModelProto& m, int64_t opset,
    const std::map<std::string, graph::Tensor>& inits);

}  // namespace lowbit
