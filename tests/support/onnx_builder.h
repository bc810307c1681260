// Building small ONNX models in tests with the protobuf classes: tensors,
// nodes, attributes, declared inputs, and TinyModel (Conv, Relu, depthwise
// Conv, Flatten, MatMul, Gemm, Gather, Add).
#pragma once

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace lowbit::testing_cli {

inline onnx::TensorProto Tensor(const std::string& name,
                                std::vector<int64_t> dims, uint32_t seed,
                                bool raw) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::FLOAT);
  int64_t n = 1;
  for (int64_t d : dims) {
    t.add_dims(d);
    n *= d;
  }
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 0.3f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = g(rng);
  if (raw) {
    t.set_raw_data(v.data(), v.size() * 4);
  } else {
    for (float x : v) t.add_float_data(x);
  }
  return t;
}

inline onnx::NodeProto& Node(onnx::GraphProto& g, const std::string& op,
                             std::vector<std::string> in,
                             const std::string& out) {
  onnx::NodeProto& n = *g.add_node();
  n.set_op_type(op);
  n.set_name(out);
  for (auto& s : in) n.add_input(s);
  n.add_output(out);
  return n;
}

inline void Ints(onnx::NodeProto& n, const std::string& name,
                 std::vector<int64_t> v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

inline void Int(onnx::NodeProto& n, const std::string& name, int64_t v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

inline void ValueInfo(onnx::ValueInfoProto* v, const std::string& name,
                      std::vector<int64_t> dims) {
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) tt->mutable_shape()->add_dim()->set_dim_value(d);
}

// x [1,4,6,6] -> Conv 3x3 (weights in a Constant node) -> Relu -> depthwise
// Conv (group 8, 9 values per channel) -> Flatten -> MatMul [288,16]
// (float_data) -> Gemm transB [10,16] (raw_data) -> + Gather(emb [21,10], [7])
// -> y [1,10].
inline onnx::ModelProto TinyModel(int64_t opset) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(opset);
  onnx::GraphProto& g = *m.mutable_graph();
  g.set_name("tiny");
  ValueInfo(g.add_input(), "x", {1, 4, 6, 6});
  ValueInfo(g.add_output(), "y", {1, 10});
  auto& c = Node(g, "Constant", {}, "conv1.w");
  auto* a = c.add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  *a->mutable_t() = Tensor("", {8, 4, 3, 3}, 1, true);
  Ints(Node(g, "Conv", {"x", "conv1.w"}, "c1"), "pads", {1, 1, 1, 1});
  Node(g, "Relu", {"c1"}, "r1");
  *g.add_initializer() = Tensor("dw.w", {8, 1, 3, 3}, 2, true);
  auto& dw = Node(g, "Conv", {"r1", "dw.w"}, "c2");
  Ints(dw, "pads", {1, 1, 1, 1});
  Int(dw, "group", 8);
  Node(g, "Flatten", {"c2"}, "f");
  *g.add_initializer() = Tensor("fc.w", {288, 16}, 3, false);
  Node(g, "MatMul", {"f", "fc.w"}, "h");
  *g.add_initializer() = Tensor("out.w", {10, 16}, 4, true);
  *g.add_initializer() = Tensor("out.b", {10}, 5, true);
  Int(Node(g, "Gemm", {"h", "out.w", "out.b"}, "g"), "transB", 1);
  // An embedding row added to the output: Gather(table [20, 10], [7]).
  *g.add_initializer() =
      Tensor("emb.w", {21, 10}, 6, true);  // 210: odd packing
  onnx::TensorProto idx;
  idx.set_name("idx");
  idx.set_data_type(onnx::TensorProto::INT64);
  idx.add_dims(1);
  idx.add_int64_data(7);
  *g.add_initializer() = idx;
  Node(g, "Gather", {"emb.w", "idx"}, "e");
  Node(g, "Add", {"g", "e"}, "y");
  return m;
}

inline void Save(const onnx::ModelProto& m, const std::filesystem::path& p) {
  std::string s;
  ASSERT_TRUE(m.SerializeToString(&s));
  std::ofstream(p, std::ios::binary) << s;
}

}  // namespace lowbit::testing_cli
