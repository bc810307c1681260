// The engine's graph IR, independent of any file format (io/onnx_import.h
// builds it from ONNX): values named by index, nodes in any order (the
// executor sorts them), constants as tensors, attributes as typed values,
// subgraphs (If) as nested graphs. ONNX semantics: operator names, domains
// and attribute names are ONNX's.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "graph/tensor.h"

namespace lowbit::graph {

struct Graph;
struct QuantWeight;  // graph/qweight.h

struct Attribute {
  enum class Kind {
    kFloat,
    kInt,
    kString,
    kFloats,
    kInts,
    kStrings,
    kTensor,
    kGraph
  };
  Kind kind = Kind::kInt;
  float f = 0.0f;
  int64_t i = 0;
  std::string s;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
  Tensor t;
  std::shared_ptr<Graph> g;
};

// A declared input or output: element type and shape, each dimension fixed
// (>= 0) or free (-1, with an optional symbolic name).
struct ValueInfo {
  std::string name;
  std::optional<DType> dtype;  // unset: not declared
  bool has_shape = false;
  std::vector<int64_t> dims;
  std::vector<std::string> dim_names;
};

struct Node {
  std::string op;      // "Conv"
  std::string domain;  // "" for ai.onnx, "com.microsoft", ...
  std::string name;    // as in the file, or "<op> #<index>" when unnamed
  // Value ids; -1 for an omitted optional input or output.
  std::vector<int> inputs, outputs;
  std::map<std::string, Attribute> attrs;

  const Attribute* Find(const std::string& a) const {
    auto it = attrs.find(a);
    return it == attrs.end() ? nullptr : &it->second;
  }
  int64_t Int(const std::string& a, int64_t def) const;
  float Float(const std::string& a, float def) const;
  std::string String(const std::string& a, const std::string& def) const;
  std::vector<int64_t> Ints(const std::string& a,
                            std::vector<int64_t> def = {}) const;
  int num_inputs() const { return static_cast<int>(inputs.size()); }
  // Input k is present (given and not the empty name).
  bool Has(int k) const { return k < num_inputs() && inputs[k] >= 0; }
};

struct Graph {
  std::vector<std::string> value_names;  // by value id
  std::vector<Node> nodes;
  std::vector<ValueInfo> inputs;  // graph inputs that are not constants
  std::vector<ValueInfo> outputs;
  std::vector<int> input_ids, output_ids;
  std::map<int, Tensor> constants;  // initializers, by value id
  // Quantized constants, by value id: weights kept as codes that Conv,
  // MatMul and Gemm read through KernelContext::qweight (graph/qweight.h).
  std::map<int, std::shared_ptr<QuantWeight>> qweights;
  std::map<std::string, int> opsets;  // domain -> version ("" = ai.onnx)
  // For subgraphs: values of the enclosing graphs they read, by name (bound
  // when the subgraph runs).
  std::vector<std::string> outer_names;
  std::map<std::string, int> name_index;  // value_names inverted

  int ValueId(const std::string& name);  // finds or adds
  // Constants and quantized weights that no node reads and that are not
  // graph outputs are removed.
  void DropUnread();
  int Find(const std::string& name) const;  // -1 when absent
  int opset() const {
    auto it = opsets.find("");
    return it == opsets.end() ? 0 : it->second;
  }
  std::string NodeLabel(const Node& n) const {
    return "node " + n.name + " (" + n.op + ")";
  }
};

// The nodes in a topological order (Kahn's, the smallest ready node index
// first: file order where the file is sorted). InvalidArgument names a node
// on a cycle.
Result<std::vector<int>> TopologicalOrder(const Graph& g);

}  // namespace lowbit::graph
