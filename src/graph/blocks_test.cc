// Cutting a graph into single-value blocks (graph/blocks.h): the cuts fall
// where one value alone is carried, a residual stays inside one block,
// constant-only nodes are recomputed by the block that reads them, and the
// blocks run one after another give the whole graph's output.
#include "graph/blocks.h"

#include <gtest/gtest.h>

#include "graph/session.h"
#include "tests/support/graph_test_util.h"

namespace lowbit::graph {
namespace {

using testing::F32;
using testing::I64;
using testing::Values;

// x -> Relu -> a; Mul(a, k) -> b; Add(a, b) -> c (a residual);
// Identity(shape constant) -> s (constant-only); Reshape(c, s) -> d;
// Neg(d) -> y.
std::shared_ptr<Graph> ResidualGraph() {
  auto g = std::make_shared<Graph>();
  g->opsets[""] = 13;
  auto node = [&](const std::string& op, std::vector<std::string> in,
                  const std::string& out) {
    Node n;
    n.op = op;
    n.name = out + "_node";
    for (const std::string& s : in) n.inputs.push_back(g->ValueId(s));
    n.outputs.push_back(g->ValueId(out));
    g->nodes.push_back(n);
  };
  const int x = g->ValueId("x");
  g->input_ids = {x};
  ValueInfo vi;
  vi.name = "x";
  vi.dtype = DType::kF32;
  g->inputs = {vi};
  g->constants[g->ValueId("k")] = F32({1}, {-0.5f});
  g->constants[g->ValueId("shape0")] = I64({2}, {3, 2});
  node("Relu", {"x"}, "a");
  node("Identity", {"shape0"}, "s");  // constant-only, read at the end
  node("Mul", {"a", "k"}, "b");
  node("Add", {"a", "b"}, "c");
  node("Reshape", {"c", "s"}, "d");
  node("Neg", {"d"}, "y");
  g->output_ids = {g->ValueId("y")};
  ValueInfo yo;
  yo.name = "y";
  g->outputs = {yo};
  return g;
}

TEST(Blocks, CutWhereOneValueIsCarried) {
  auto g = ResidualGraph();
  auto blocks = SingleValueBlocks(*g);
  ASSERT_TRUE(blocks.ok()) << blocks.status().message();
  ASSERT_EQ(blocks->size(), 4u);
  auto names = [&](const Block& b) {
    std::vector<std::string> v;
    for (int i : b.nodes)
      v.push_back(g->nodes[i].outputs[0] >= 0
                      ? g->value_names[g->nodes[i].outputs[0]]
                      : "");
    return v;
  };
  EXPECT_EQ(names((*blocks)[0]), std::vector<std::string>{"a"});
  // The residual: a is read again by the Add, so no cut after the Mul.
  EXPECT_EQ(names((*blocks)[1]), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(names((*blocks)[2]), std::vector<std::string>{"d"});
  EXPECT_EQ(names((*blocks)[3]), std::vector<std::string>{"y"});
  EXPECT_EQ(g->value_names[(*blocks)[0].input], "x");
  EXPECT_EQ(g->value_names[(*blocks)[1].input], "a");
  EXPECT_EQ(g->value_names[(*blocks)[1].output], "c");
  EXPECT_EQ(g->value_names[(*blocks)[3].output], "y");
  const Block j = JoinBlocks(*blocks, 1, 3);
  EXPECT_EQ(g->value_names[j.input], "a");
  EXPECT_EQ(g->value_names[j.output], "d");
  EXPECT_EQ(names(j), (std::vector<std::string>{"b", "c", "d"}));
}

TEST(Blocks, BlocksRunInTurnGiveTheGraphsOutput) {
  auto g = ResidualGraph();
  const Tensor x = F32({2, 3}, {-1.0f, 2.0f, 3.0f, -4.0f, 5.0f, 0.5f});
  SessionOptions so;
  so.threads = 1;
  // A session folds and fuses the graph it is given: a copy.
  auto whole = Session::Create(std::make_shared<Graph>(*g), so);
  ASSERT_TRUE(whole.ok()) << whole.status().message();
  auto want = (*whole)->Run({{"x", x}});
  ASSERT_TRUE(want.ok()) << want.status().message();
  auto blocks = SingleValueBlocks(*g);
  ASSERT_TRUE(blocks.ok());
  Tensor v = x;
  for (const Block& b : *blocks) {
    auto sub = std::make_shared<Graph>(ExtractBlock(*g, b));
    ASSERT_EQ(sub->inputs.size(), 1u);
    // The reshape's block recomputes its constant-only shape.
    if (g->value_names[b.output] == "d") {
      EXPECT_EQ(sub->nodes.size(), 2u);
    }
    auto s = Session::Create(sub, so);
    ASSERT_TRUE(s.ok()) << s.status().message();
    auto out = (*s)->Run({{sub->inputs[0].name, v}});
    ASSERT_TRUE(out.ok()) << out.status().message();
    v = (*out)[0];
  }
  EXPECT_EQ(v.shape(), (Shape{3, 2}));
  EXPECT_EQ(Values(v), Values((*want)[0]));
  // relu(x) / 2, negated.
  EXPECT_EQ(Values(v),
            (std::vector<float>{-0.0f, -1.0f, -1.5f, -0.0f, -2.5f, -0.25f}));
}

TEST(Blocks, RefusesGraphsOfSeveralInputs) {
  auto g = ResidualGraph();
  ValueInfo vi;
  vi.name = "k";
  g->inputs.push_back(vi);
  g->input_ids.push_back(g->Find("k"));
  auto blocks = SingleValueBlocks(*g);
  ASSERT_FALSE(blocks.ok());
  EXPECT_NE(blocks.status().message().find("one input"), std::string::npos);
}

}  // namespace
}  // namespace lowbit::graph
