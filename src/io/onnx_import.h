// ImportOnnx: an ONNX model as the engine's graph (graph/ir.h). The file is
// read and checked by OnnxModel (every stored size, external data, Constant
// tensors lifted into initializers); initializers become constant tensors,
// nodes keep ONNX's operator, domain and attribute names, If branches become
// subgraphs. What the engine cannot run is refused later, by Session::Create,
// naming the node.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "graph/ir.h"

namespace lowbit {

class OnnxModel;

Result<std::shared_ptr<graph::Graph>> ImportOnnx(const std::string& path);
Result<std::shared_ptr<graph::Graph>> ImportOnnxModel(const OnnxModel& m);

}  // namespace lowbit
