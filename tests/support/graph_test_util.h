// Building and running one-operator graphs in tests of the engine's
// operators: inputs become graph inputs (so nothing is folded away), the
// node gets the attributes given, the outputs come back as tensors.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "graph/ir.h"
#include "graph/session.h"

namespace lowbit::graph::testing {

inline Attribute AInt(int64_t v) {
  Attribute a;
  a.kind = Attribute::Kind::kInt;
  a.i = v;
  return a;
}
inline Attribute AFloat(float v) {
  Attribute a;
  a.kind = Attribute::Kind::kFloat;
  a.f = v;
  return a;
}
inline Attribute AString(const std::string& v) {
  Attribute a;
  a.kind = Attribute::Kind::kString;
  a.s = v;
  return a;
}
inline Attribute AInts(std::vector<int64_t> v) {
  Attribute a;
  a.kind = Attribute::Kind::kInts;
  a.ints = std::move(v);
  return a;
}
inline Attribute AFloats(std::vector<float> v) {
  Attribute a;
  a.kind = Attribute::Kind::kFloats;
  a.floats = std::move(v);
  return a;
}

inline Tensor F32(Shape shape, const std::vector<float>& v) {
  Tensor t = Tensor::Zeros(DType::kF32, std::move(shape));
  LB_CHECK(static_cast<int64_t>(v.size()) == t.numel());
  std::copy(v.begin(), v.end(), t.data<float>());
  return t;
}
inline Tensor I64(Shape shape, const std::vector<int64_t>& v) {
  Tensor t = Tensor::Zeros(DType::kI64, std::move(shape));
  LB_CHECK(static_cast<int64_t>(v.size()) == t.numel());
  std::copy(v.begin(), v.end(), t.data<int64_t>());
  return t;
}
inline std::vector<float> Values(const Tensor& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i)
    v[i] = static_cast<float>(t.GetDouble(i));
  return v;
}

struct OpCase {
  std::string op, domain;
  int opset = 13;
  // An undefined Tensor() is an omitted optional input.
  std::vector<Tensor> inputs;
  // Inputs given as constants (initializers) instead of graph inputs, by
  // index: attributes-turned-inputs such as Reshape's shape.
  std::vector<int> constant_inputs;
  int num_outputs = 1;
  std::map<std::string, Attribute> attrs;
  int threads = 1;
};

// Runs the case; errors of Create (attributes) and Run (shapes) come back.
inline Result<std::vector<Tensor>> RunOp(const OpCase& c) {
  auto g = std::make_shared<Graph>();
  g->opsets[""] = c.opset;
  if (!c.domain.empty()) g->opsets[c.domain] = 1;
  Node n;
  n.op = c.op;
  n.domain = c.domain;
  n.name = "n0";
  n.attrs = c.attrs;
  std::map<std::string, Tensor> feeds;
  for (size_t k = 0; k < c.inputs.size(); ++k) {
    if (!c.inputs[k].defined() && c.inputs[k].numel() != 0) {
      n.inputs.push_back(-1);
      continue;
    }
    const std::string name = "in" + std::to_string(k);
    const int id = g->ValueId(name);
    n.inputs.push_back(id);
    const bool is_const =
        std::find(c.constant_inputs.begin(), c.constant_inputs.end(),
                  static_cast<int>(k)) != c.constant_inputs.end();
    if (is_const) {
      g->constants[id] = c.inputs[k];
      continue;
    }
    ValueInfo vi;
    vi.name = name;
    vi.dtype = c.inputs[k].dtype();
    g->inputs.push_back(vi);
    g->input_ids.push_back(id);
    feeds[name] = c.inputs[k];
  }
  for (int k = 0; k < c.num_outputs; ++k) {
    const std::string name = "out" + std::to_string(k);
    const int id = g->ValueId(name);
    n.outputs.push_back(id);
    ValueInfo vi;
    vi.name = name;
    g->outputs.push_back(vi);
    g->output_ids.push_back(id);
  }
  g->nodes.push_back(n);
  SessionOptions o;
  o.threads = c.threads;
  LB_ASSIGN_OR_RETURN(auto s, Session::Create(g, o));
  return s->Run(feeds);
}

}  // namespace lowbit::graph::testing
