#include "io/onnx_import.h"

#include <onnx/onnx_pb.h>

#include <cstring>
#include <set>

#include "graph/qweight.h"
#include "io/onnx_lowbit_weights.h"
#include "io/onnx_model.h"

namespace lowbit {
namespace {

using graph::Attribute;
using graph::Graph;
using graph::Node;
using graph::Tensor;
using graph::ValueInfo;

// Bytes an initializer of `n` elements of `t` holds in the file: sub-byte
// types (int4, uint4) are packed, two per byte.
int64_t FileBytes(DType t, int64_t n) {
  const int bits = DTypeBits(t);
  return bits < 8 ? (n * bits + 7) / 8 : n * graph::ElementBytes(t);
}

Result<Tensor> TensorOf(const onnx::TensorProto& t, const std::string& where) {
  const std::optional<DType> dt = DTypeOfOnnx(t.data_type());
  if (!dt) {
    return BadInput(where + ": tensor '" + t.name() + "' has element type " +
                    std::to_string(t.data_type()) +
                    ", which lowbit's engine does not read");
  }
  auto bytes = OnnxInFileBytes(t);
  if (!bytes.ok()) return bytes.status().WithPrefix(where);
  Shape shape(t.dims().begin(), t.dims().end());
  Tensor x = Tensor::Zeros(*dt, shape);
  const int64_t need = FileBytes(*dt, x.numel());
  if (static_cast<int64_t>(bytes->size()) < need) {
    return BadInput(where + ": tensor '" + t.name() + "' is short");
  }
  if (need > 0) {
    std::memcpy(x.bytes(), bytes->data(), static_cast<size_t>(need));
  }
  return x;
}

ValueInfo InfoOf(const onnx::ValueInfoProto& v) {
  ValueInfo i;
  i.name = v.name();
  if (v.type().has_tensor_type()) {
    const auto& tt = v.type().tensor_type();
    i.dtype = DTypeOfOnnx(tt.elem_type());
    if (tt.has_shape()) {
      i.has_shape = true;
      for (const auto& d : tt.shape().dim()) {
        i.dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
        i.dim_names.push_back(d.has_dim_param() ? d.dim_param() : "");
      }
    }
  }
  return i;
}

Result<std::shared_ptr<Graph>> ConvertGraph(
    const onnx::GraphProto& gp, const std::map<std::string, int>& opsets,
    const std::string& where, const std::map<std::string, Tensor>* inits,
    bool subgraph, const LowbitDecoded* decoded = nullptr);

Result<Attribute> AttributeOf(const onnx::AttributeProto& a,
                              const std::map<std::string, int>& opsets,
                              const std::string& where) {
  Attribute x;
  using AP = onnx::AttributeProto;
  switch (a.type()) {
    case AP::FLOAT:
      x.kind = Attribute::Kind::kFloat;
      x.f = a.f();
      break;
    case AP::INT:
      x.kind = Attribute::Kind::kInt;
      x.i = a.i();
      break;
    case AP::STRING:
      x.kind = Attribute::Kind::kString;
      x.s = a.s();
      break;
    case AP::FLOATS:
      x.kind = Attribute::Kind::kFloats;
      x.floats.assign(a.floats().begin(), a.floats().end());
      break;
    case AP::INTS:
      x.kind = Attribute::Kind::kInts;
      x.ints.assign(a.ints().begin(), a.ints().end());
      break;
    case AP::STRINGS:
      x.kind = Attribute::Kind::kStrings;
      x.strings.assign(a.strings().begin(), a.strings().end());
      break;
    case AP::TENSOR: {
      x.kind = Attribute::Kind::kTensor;
      LB_ASSIGN_OR_RETURN(x.t, TensorOf(a.t(), where));
      break;
    }
    case AP::GRAPH: {
      x.kind = Attribute::Kind::kGraph;
      LB_ASSIGN_OR_RETURN(
          x.g, ConvertGraph(a.g(), opsets, where + " subgraph " + a.name(),
                            nullptr, true));
      break;
    }
    default:
      return BadInput(where + ": attribute " + a.name() + " has type " +
                      std::to_string(static_cast<int>(a.type())) +
                      ", which lowbit's engine does not read");
  }
  return x;
}

Result<std::shared_ptr<Graph>> ConvertGraph(
    const onnx::GraphProto& gp, const std::map<std::string, int>& opsets,
    const std::string& where, const std::map<std::string, Tensor>* inits,
    bool subgraph, const LowbitDecoded* decoded) {
  auto g = std::make_shared<Graph>();
  g->opsets = opsets;
  // Constants: the model's initializers (given), or the subgraph's own.
  std::set<std::string> init_names;
  if (inits != nullptr) {
    for (const auto& [name, t] : *inits) {
      g->constants[g->ValueId(name)] = t;
      init_names.insert(name);
    }
  }
  for (const auto& t : gp.initializer()) {
    if (init_names.count(t.name())) continue;
    LB_ASSIGN_OR_RETURN(Tensor x, TensorOf(t, where));
    g->constants[g->ValueId(t.name())] = std::move(x);
    init_names.insert(t.name());
  }
  for (const auto& v : gp.input()) {
    if (init_names.count(v.name())) continue;  // an initializer's default
    g->inputs.push_back(InfoOf(v));
    g->input_ids.push_back(g->ValueId(v.name()));
  }
  std::set<std::string> defined(init_names);
  for (const auto& v : gp.input()) defined.insert(v.name());
  if (decoded != nullptr) {  // lowbit's decode subgraphs: codes kept
    for (const auto& [name, w] : decoded->weights) {
      g->qweights[g->ValueId(name)] = w;
      defined.insert(name);
    }
  }
  for (int i = 0; i < gp.node_size(); ++i) {
    const onnx::NodeProto& np = gp.node(i);
    if (decoded != nullptr && np.output_size() == 1 &&
        decoded->node_outputs.count(np.output(0))) {
      continue;
    }
    Node n;
    n.op = np.op_type();
    n.domain = np.domain() == "ai.onnx" ? "" : np.domain();
    n.name =
        np.name().empty() ? np.op_type() + "#" + std::to_string(i) : np.name();
    for (const std::string& in : np.input()) {
      n.inputs.push_back(in.empty() ? -1 : g->ValueId(in));
    }
    for (const std::string& out : np.output()) {
      n.outputs.push_back(out.empty() ? -1 : g->ValueId(out));
      if (!out.empty()) defined.insert(out);
    }
    for (const auto& a : np.attribute()) {
      LB_ASSIGN_OR_RETURN(n.attrs[a.name()],
                          AttributeOf(a, opsets, where + ": node " + n.name));
    }
    g->nodes.push_back(std::move(n));
  }
  for (const auto& v : gp.output()) {
    g->outputs.push_back(InfoOf(v));
    g->output_ids.push_back(g->ValueId(v.name()));
  }
  if (subgraph) {
    // Names read but not defined here come from the enclosing graphs.
    std::set<std::string> outer;
    for (const Node& n : g->nodes) {
      for (int v : n.inputs) {
        if (v >= 0 && !defined.count(g->value_names[v])) {
          outer.insert(g->value_names[v]);
        }
      }
    }
    for (int v : g->output_ids) {
      if (!defined.count(g->value_names[v])) outer.insert(g->value_names[v]);
    }
    // And what nested subgraphs read from beyond this one.
    for (const Node& n : g->nodes) {
      for (const auto& [name, a] : n.attrs) {
        if (a.kind != Attribute::Kind::kGraph || a.g == nullptr) continue;
        for (const std::string& o : a.g->outer_names) {
          if (!defined.count(o)) outer.insert(o);
        }
      }
    }
    g->outer_names.assign(outer.begin(), outer.end());
  }
  return g;
}

}  // namespace

Result<std::shared_ptr<graph::Graph>> ImportOnnxModel(const OnnxModel& m) {
  const onnx::ModelProto& mp = m.proto();
  std::map<std::string, int> opsets;
  for (const auto& o : mp.opset_import()) {
    opsets[o.domain() == "ai.onnx" ? "" : o.domain()] =
        static_cast<int>(o.version());
  }
  if (!opsets.count("")) opsets[""] = static_cast<int>(m.opset());
  std::map<std::string, Tensor> inits;
  for (const ModelTensor& t : m.tensors()) {
    LB_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, m.ReadBytes(t));
    Tensor x = Tensor::Zeros(t.dtype, t.shape);
    const int64_t need = FileBytes(t.dtype, x.numel());
    if (static_cast<int64_t>(bytes.size()) < need) {
      return BadInput(m.path() + ": initializer '" + t.name + "' is short");
    }
    if (need > 0) {
      std::memcpy(x.bytes(), bytes.data(), static_cast<size_t>(need));
    }
    inits[t.name] = std::move(x);
  }
  const LowbitDecoded decoded = RecognizeLowbitDecode(mp, opsets.at(""), inits);
  return ConvertGraph(mp.graph(), opsets, m.path(), &inits, false, &decoded);
}

Result<std::shared_ptr<graph::Graph>> ImportOnnx(const std::string& path) {
  LB_ASSIGN_OR_RETURN(auto m, OnnxModel::Open(path));
  return ImportOnnxModel(*m);
}

}  // namespace lowbit
