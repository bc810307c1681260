// AWQ's input scales fold into BatchNormalization and into a Mul+Add affine
// pair (the constants divided by s, no Mul inserted), and only where that
// is exact: a producer read elsewhere or constants not per channel keep the
// Mul.
#include "io/onnx_awq_fold.h"

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cstring>
#include <string>
#include <vector>

#include "io/onnx_quantized.h"

namespace lowbit {
namespace {

void Init(onnx::GraphProto& g, const std::string& name,
          const std::vector<int64_t>& dims, const std::vector<float>& v) {
  onnx::TensorProto* t = g.add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t->add_dims(d);
  t->set_raw_data(v.data(), v.size() * 4);
}

onnx::NodeProto* Node(onnx::GraphProto& g, const std::string& op,
                      const std::vector<std::string>& in,
                      const std::string& out) {
  onnx::NodeProto* n = g.add_node();
  n->set_op_type(op);
  n->set_name(out);
  for (const auto& s : in) n->add_input(s);
  n->add_output(out);
  return n;
}

std::vector<float> Values(const onnx::GraphProto& g, const std::string& name) {
  for (const auto& t : g.initializer()) {
    if (t.name() != name) continue;
    std::vector<float> v(t.raw_data().size() / 4);
    std::memcpy(v.data(), t.raw_data().data(), t.raw_data().size());
    return v;
  }
  return {};
}

int Count(const onnx::GraphProto& g, const std::string& op) {
  int n = 0;
  for (const auto& nd : g.node()) n += nd.op_type() == op;
  return n;
}

TEST(AwqFold, BatchNormalizationBeforeConv) {
  onnx::ModelProto m;
  onnx::GraphProto& g = *m.mutable_graph();
  Init(g, "scale", {2}, {1.5f, -2.0f});
  Init(g, "B", {2}, {0.25f, 1.0f});
  Init(g, "mean", {2}, {0.0f, 0.5f});
  Init(g, "var", {2}, {1.0f, 4.0f});
  Init(g, "W", {3, 2, 1, 1}, std::vector<float>(6, 0.5f));
  Node(g, "BatchNormalization", {"x", "scale", "B", "mean", "var"}, "bn");
  Node(g, "Conv", {"bn", "W"}, "y");
  g.add_output()->set_name("y");
  int64_t bytes = 0;
  std::string placed;
  ASSERT_TRUE(InsertInputScale(m, "W", {2.0f, 4.0f}, 4, &bytes, &placed).ok());
  EXPECT_EQ(placed, "folded into BatchNormalization");
  EXPECT_EQ(Count(g, "Mul"), 0);
  EXPECT_EQ(Values(g, g.node(0).input(1)), (std::vector<float>{0.75f, -0.5f}));
  EXPECT_EQ(Values(g, g.node(0).input(2)), (std::vector<float>{0.125f, 0.25f}));
  EXPECT_EQ(bytes, 16);
  EXPECT_TRUE(Values(g, "scale").empty());  // read by nothing now: removed
}

TEST(AwqFold, MulAddBeforeMatMulEitherOperandOrder) {
  for (bool swapped : {false, true}) {
    onnx::ModelProto m;
    onnx::GraphProto& g = *m.mutable_graph();
    Init(g, "gamma", {3}, {1.0f, 2.0f, 3.0f});
    Init(g, "beta", {1, 3}, {0.5f, 0.5f, -1.0f});
    Init(g, "W", {3, 4}, std::vector<float>(12, 1.0f));
    Node(g, "Div", {"a", "b"}, "norm");
    Node(g, "Mul",
         swapped ? std::vector<std::string>{"gamma", "norm"}
                 : std::vector<std::string>{"norm", "gamma"},
         "scaled");
    Node(g, "Add",
         swapped ? std::vector<std::string>{"beta", "scaled"}
                 : std::vector<std::string>{"scaled", "beta"},
         "ln");
    Node(g, "MatMul", {"ln", "W"}, "y");
    g.add_output()->set_name("y");
    int64_t bytes = 0;
    std::string placed;
    ASSERT_TRUE(
        InsertInputScale(m, "W", {1.0f, 2.0f, 4.0f}, 2, &bytes, &placed).ok());
    EXPECT_EQ(placed, "folded into Mul+Add");
    EXPECT_EQ(Count(g, "Mul"), 1);  // the affine one, no new Mul
    EXPECT_EQ(Values(g, g.node(1).input(swapped ? 0 : 1)),
              (std::vector<float>{1.0f, 1.0f, 0.75f}));
    EXPECT_EQ(Values(g, g.node(2).input(swapped ? 0 : 1)),
              (std::vector<float>{0.5f, 0.25f, -0.25f}));
  }
}

TEST(AwqFold, ElseAMulBeforeTheLayer) {
  // The Add's output is read twice (a residual): no fold.
  {
    onnx::ModelProto m;
    onnx::GraphProto& g = *m.mutable_graph();
    Init(g, "gamma", {3}, {1.0f, 2.0f, 3.0f});
    Init(g, "beta", {3}, {0.5f, 0.5f, -1.0f});
    Init(g, "W", {3, 4}, std::vector<float>(12, 1.0f));
    Node(g, "Mul", {"x", "gamma"}, "scaled");
    Node(g, "Add", {"scaled", "beta"}, "ln");
    Node(g, "MatMul", {"ln", "W"}, "y");
    Node(g, "Relu", {"ln"}, "z");
    int64_t bytes = 0;
    std::string placed;
    ASSERT_TRUE(
        InsertInputScale(m, "W", {1.0f, 2.0f, 4.0f}, 2, &bytes, &placed).ok());
    EXPECT_EQ(placed, "Mul");
    EXPECT_EQ(Count(g, "Mul"), 2);
    EXPECT_EQ(Values(g, "gamma"), (std::vector<float>{1.0f, 2.0f, 3.0f}));
  }
  // One gamma for every channel (a scalar): not per channel, no fold.
  {
    onnx::ModelProto m;
    onnx::GraphProto& g = *m.mutable_graph();
    Init(g, "gamma", {}, {2.0f});
    Init(g, "beta", {3}, {0.5f, 0.5f, -1.0f});
    Init(g, "W", {3, 4}, std::vector<float>(12, 1.0f));
    Node(g, "Mul", {"x", "gamma"}, "scaled");
    Node(g, "Add", {"scaled", "beta"}, "ln");
    Node(g, "MatMul", {"ln", "W"}, "y");
    int64_t bytes = 0;
    std::string placed;
    ASSERT_TRUE(
        InsertInputScale(m, "W", {1.0f, 2.0f, 4.0f}, 2, &bytes, &placed).ok());
    EXPECT_EQ(placed, "Mul");
  }
  // A Conv whose BatchNormalization constants are [C] but whose input is
  // [N, C, H, W] folds; a Mul+Add with [C] constants on a Conv's input does
  // not (they broadcast onto the last axis, W, not onto the channels).
  {
    onnx::ModelProto m;
    onnx::GraphProto& g = *m.mutable_graph();
    Init(g, "gamma", {2}, {1.0f, 2.0f});
    Init(g, "beta", {2}, {0.5f, 0.5f});
    Init(g, "W", {3, 2, 1, 1}, std::vector<float>(6, 1.0f));
    Node(g, "Mul", {"x", "gamma"}, "scaled");
    Node(g, "Add", {"scaled", "beta"}, "s2");
    Node(g, "Conv", {"s2", "W"}, "y");
    int64_t bytes = 0;
    std::string placed;
    ASSERT_TRUE(
        InsertInputScale(m, "W", {2.0f, 4.0f}, 4, &bytes, &placed).ok());
    EXPECT_EQ(placed, "Mul");
  }
}

}  // namespace
}  // namespace lowbit
