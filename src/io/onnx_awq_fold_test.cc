// AWQ's input scales fold into BatchNormalization and into a Mul+Add affine
// pair, per channel or scalar (the constants divided by s, no Mul inserted),
// and only where that
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
  // A gamma of two values meeting the last axis of a MatMul input of 3: no
  // fold.
  {
    onnx::ModelProto m;
    onnx::GraphProto& g = *m.mutable_graph();
    Init(g, "gamma", {2, 1}, {2.0f, 3.0f});
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

// A learnable activation's scalar slope and offset (a * h(x) + b, as the
// PaddleOCR recognizer has before its 1x1 convolutions) fold as per-channel
// constants shaped to the Conv's channel axis: [C, 1, 1] for a 4-D input,
// [C, 1] for a 3-D one.
TEST(AwqFold, ScalarMulAddBeforeConv) {
  for (int rank : {4, 3}) {
    onnx::ModelProto m;
    onnx::GraphProto& g = *m.mutable_graph();
    Init(g, "a", {1}, {2.0f});
    Init(g, "b", {}, {-1.0f});
    std::vector<int64_t> wd = {3, 2, 1};
    if (rank == 4) wd.push_back(1);
    Init(g, "W", wd, std::vector<float>(6, 1.0f));
    Node(g, "HardSwish", {"x"}, "h");
    Node(g, "Mul", {"a", "h"}, "scaled");
    Node(g, "Add", {"scaled", "b"}, "act");
    Node(g, "Conv", {"act", "W"}, "y");
    int64_t bytes = 0;
    std::string placed;
    ASSERT_TRUE(
        InsertInputScale(m, "W", {2.0f, 4.0f}, rank, &bytes, &placed).ok());
    EXPECT_EQ(placed, "folded into Mul+Add");
    EXPECT_EQ(Count(g, "Mul"), 1);
    EXPECT_EQ(Values(g, g.node(1).input(0)), (std::vector<float>{1.0f, 0.5f}));
    EXPECT_EQ(Values(g, g.node(2).input(1)),
              (std::vector<float>{-0.5f, -0.25f}));
    std::vector<int64_t> want = {2, 1};
    if (rank == 4) want.push_back(1);
    for (int k : {1, 2}) {
      const std::string& name = g.node(k).input(k == 1 ? 0 : 1);
      for (const auto& t : g.initializer()) {
        if (t.name() == name) {
          EXPECT_EQ(std::vector<int64_t>(t.dims().begin(), t.dims().end()),
                    want);
        }
      }
    }
    EXPECT_EQ(bytes, 16);
    EXPECT_TRUE(Values(g, "a").empty());
  }
}

// Into the layer before: Conv (+bias) -> Relu -> Conv folds into the first
// Conv's output channels, weight and bias in place (the weight keeps its name
// for its own quantization); MatMul -> Add(bias) -> MatMul and Gemm(transB)
// -> MatMul likewise. Not when the producer's weight is read elsewhere, nor
// from a Conv into a MatMul.
TEST(AwqFold, IntoTheLayerBefore) {
  {
    onnx::ModelProto m;
    onnx::GraphProto& g = *m.mutable_graph();
    Init(g, "A", {2, 1, 1, 2}, {1.0f, 2.0f, 3.0f, 4.0f});
    Init(g, "Ab", {2}, {0.5f, -1.0f});
    Init(g, "W", {3, 2, 1, 1}, std::vector<float>(6, 1.0f));
    Node(g, "Conv", {"x", "A", "Ab"}, "a");
    Node(g, "Relu", {"a"}, "r");
    Node(g, "Conv", {"r", "W"}, "y");
    int64_t bytes = 0;
    std::string placed;
    ASSERT_TRUE(
        InsertInputScale(m, "W", {2.0f, 4.0f}, 4, &bytes, &placed).ok());
    EXPECT_EQ(placed, "folded into Conv through Relu");
    EXPECT_EQ(Count(g, "Mul"), 0);
    EXPECT_EQ(g.node(0).input(1), "A");
    EXPECT_EQ(Values(g, "A"), (std::vector<float>{0.5f, 1.0f, 0.75f, 1.0f}));
    EXPECT_EQ(Values(g, "Ab"), (std::vector<float>{0.25f, -0.25f}));
    EXPECT_EQ(bytes, 0);
  }
  for (bool gemm : {false, true}) {
    onnx::ModelProto m;
    onnx::GraphProto& g = *m.mutable_graph();
    // [K=2, N=3] for MatMul; [N=3, K=2] for Gemm with transB.
    Init(g, "A", gemm ? std::vector<int64_t>{3, 2} : std::vector<int64_t>{2, 3},
         {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f});
    Init(g, "b", {3}, {1.0f, 1.0f, 1.0f});
    Init(g, "W", {3, 4}, std::vector<float>(12, 1.0f));
    if (gemm) {
      auto* n = Node(g, "Gemm", {"x", "A"}, "a");
      auto* at = n->add_attribute();
      at->set_name("transB");
      at->set_type(onnx::AttributeProto::INT);
      at->set_i(1);
    } else {
      Node(g, "MatMul", {"x", "A"}, "a");
    }
    Node(g, "Add", {"a", "b"}, "ab");
    Node(g, "MatMul", {"ab", "W"}, "y");
    int64_t bytes = 0;
    std::string placed;
    ASSERT_TRUE(
        InsertInputScale(m, "W", {1.0f, 2.0f, 4.0f}, 2, &bytes, &placed).ok());
    EXPECT_EQ(placed, std::string("folded into ") + (gemm ? "Gemm" : "MatMul") +
                          "+Add");
    EXPECT_EQ(Values(g, "A"),
              gemm ? (std::vector<float>{1.0f, 2.0f, 1.5f, 2.0f, 1.25f, 1.5f})
                   : (std::vector<float>{1.0f, 1.0f, 0.75f, 4.0f, 2.5f, 1.5f}));
    EXPECT_EQ(Values(g, "b"), (std::vector<float>{1.0f, 0.5f, 0.25f}));
  }
  // The producer's weight also read by another node: a Mul, A unchanged.
  {
    onnx::ModelProto m;
    onnx::GraphProto& g = *m.mutable_graph();
    Init(g, "A", {2, 2}, {1.0f, 2.0f, 3.0f, 4.0f});
    Init(g, "W", {2, 4}, std::vector<float>(8, 1.0f));
    Node(g, "MatMul", {"x", "A"}, "a");
    Node(g, "MatMul", {"z", "A"}, "a2");
    Node(g, "MatMul", {"a", "W"}, "y");
    int64_t bytes = 0;
    std::string placed;
    ASSERT_TRUE(
        InsertInputScale(m, "W", {2.0f, 4.0f}, 2, &bytes, &placed).ok());
    EXPECT_EQ(placed, "Mul");
    EXPECT_EQ(Values(g, "A"), (std::vector<float>{1.0f, 2.0f, 3.0f, 4.0f}));
  }
  // A Conv feeding a MatMul: the channels meet different axes.
  {
    onnx::ModelProto m;
    onnx::GraphProto& g = *m.mutable_graph();
    Init(g, "A", {2, 1, 1, 1}, {1.0f, 2.0f});
    Init(g, "W", {2, 4}, std::vector<float>(8, 1.0f));
    Node(g, "Conv", {"x", "A"}, "a");
    Node(g, "MatMul", {"a", "W"}, "y");
    int64_t bytes = 0;
    std::string placed;
    ASSERT_TRUE(
        InsertInputScale(m, "W", {2.0f, 4.0f}, 2, &bytes, &placed).ok());
    EXPECT_EQ(placed, "Mul");
  }
}

}  // namespace
}  // namespace lowbit
