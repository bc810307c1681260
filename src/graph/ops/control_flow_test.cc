// If: the branch a graph input chooses, branches reading values of the
// enclosing graphs (computed ones too), nested Ifs, branches of different
// shapes (inferred as the graph runs), a constant condition replaced by its
// branch at load, and branches that disagree refused by the node's name.
#include "graph/ops/control_flow.h"

#include <gtest/gtest.h>

#include "tests/support/graph_test_util.h"

namespace lowbit::graph {
namespace {

using testing::F32;
using testing::Values;

Tensor Bool(bool v) {
  Tensor t = Tensor::Zeros(DType::kBool, {});
  t.data<uint8_t>()[0] = v ? 1 : 0;
  return t;
}

void AddNode(Graph& g, const std::string& op, const std::string& name,
             std::vector<std::string> in, std::vector<std::string> out) {
  Node n;
  n.op = op;
  n.name = name;
  for (const std::string& s : in) n.inputs.push_back(g.ValueId(s));
  for (const std::string& s : out) n.outputs.push_back(g.ValueId(s));
  g.nodes.push_back(std::move(n));
}

void AddOutput(Graph& g, const std::string& name) {
  ValueInfo v;
  v.name = name;
  g.outputs.push_back(v);
  g.output_ids.push_back(g.ValueId(name));
}

void AddInput(Graph& g, const std::string& name, DType t) {
  ValueInfo v;
  v.name = name;
  v.dtype = t;
  g.inputs.push_back(v);
  g.input_ids.push_back(g.ValueId(name));
}

// A branch of one node `op` over `in` (names of the enclosing graphs),
// giving `out`.
std::shared_ptr<Graph> OneNode(const std::string& op,
                               std::vector<std::string> in,
                               const std::string& out) {
  auto b = std::make_shared<Graph>();
  b->opsets[""] = 13;
  AddNode(*b, op, out + "_node", in, {out});
  AddOutput(*b, out);
  std::sort(in.begin(), in.end());
  in.erase(std::unique(in.begin(), in.end()), in.end());
  b->outer_names = in;
  return b;
}

Attribute GraphAttr(std::shared_ptr<Graph> g) {
  Attribute a;
  a.kind = Attribute::Kind::kGraph;
  a.g = std::move(g);
  return a;
}

void AddIf(Graph& g, const std::string& name, const std::string& cond,
           std::shared_ptr<Graph> then_b, std::shared_ptr<Graph> else_b,
           std::vector<std::string> out) {
  AddNode(g, "If", name, {cond}, out);
  g.nodes.back().attrs["then_branch"] = GraphAttr(std::move(then_b));
  g.nodes.back().attrs["else_branch"] = GraphAttr(std::move(else_b));
}

const Tensor kX = F32({2, 3}, {1, -2, 3, -4, 5, -6});

std::vector<float> RunY(Session& s, std::map<std::string, Tensor> feeds) {
  auto r = s.Run(feeds);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? Values((*r)[0]) : std::vector<float>{};
}

TEST(If, GraphInputChoosesTheBranch) {
  auto g = std::make_shared<Graph>();
  g->opsets[""] = 13;
  AddInput(*g, "cond", DType::kBool);
  AddInput(*g, "x", DType::kF32);
  AddIf(*g, "choose", "cond", OneNode("Add", {"x", "x"}, "twice"),
        OneNode("Neg", {"x"}, "minus"), {"y"});
  AddOutput(*g, "y");
  g->inputs[0].dtype.reset();  // any type: a numeric condition below
  auto s = Session::Create(g);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(RunY(**s, {{"cond", Bool(true)}, {"x", kX}}),
            (std::vector<float>{2, -4, 6, -8, 10, -12}));
  EXPECT_EQ(RunY(**s, {{"cond", Bool(false)}, {"x", kX}}),
            (std::vector<float>{-1, 2, -3, 4, -5, 6}));
  // A numeric condition: non-zero is true.
  EXPECT_EQ(RunY(**s, {{"cond", F32({1}, {0.0f})}, {"x", kX}})[0], -1);
}

TEST(If, BranchesReadComputedOuterValues) {
  // The If comes first in the file: its branches read z, which a later node
  // computes, so the executor must order and keep z by the binding.
  auto g = std::make_shared<Graph>();
  g->opsets[""] = 13;
  AddInput(*g, "cond", DType::kBool);
  AddInput(*g, "x", DType::kF32);
  AddIf(*g, "choose", "cond", OneNode("Add", {"z", "x"}, "t"),
        OneNode("Relu", {"z"}, "e"), {"y"});
  AddNode(*g, "Mul", "square", {"x", "x"}, {"z"});
  AddNode(*g, "Neg", "after", {"y"}, {"w"});
  AddOutput(*g, "w");
  auto s = Session::Create(g);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(RunY(**s, {{"cond", Bool(true)}, {"x", kX}}),
            (std::vector<float>{-2, -2, -12, -12, -30, -30}));
  EXPECT_EQ(RunY(**s, {{"cond", Bool(false)}, {"x", kX}}),
            (std::vector<float>{-1, -4, -9, -16, -25, -36}));
}

// outer If(c1): then = If(c2) over x (x + x, or -x); else = Relu(x).
std::shared_ptr<Graph> Nested(const std::string& c1, const std::string& c2) {
  auto g = std::make_shared<Graph>();
  g->opsets[""] = 13;
  auto inner = std::make_shared<Graph>();
  inner->opsets[""] = 13;
  AddIf(*inner, "inner", c2, OneNode("Add", {"x", "x"}, "a"),
        OneNode("Neg", {"x"}, "n"), {"iy"});
  AddOutput(*inner, "iy");
  // As the importer leaves it: the inner branches' names passed on.
  inner->outer_names = {c2, "x"};
  std::sort(inner->outer_names.begin(), inner->outer_names.end());
  AddIf(*g, "outer", c1, inner, OneNode("Relu", {"x"}, "r"), {"y"});
  AddOutput(*g, "y");
  return g;
}

TEST(If, NestedIfsReadTheTopGraph) {
  auto g = Nested("c1", "c2");
  AddInput(*g, "c1", DType::kBool);
  AddInput(*g, "c2", DType::kBool);
  AddInput(*g, "x", DType::kF32);
  auto s = Session::Create(g);
  ASSERT_TRUE(s.ok()) << s.status().message();
  for (bool c1 : {false, true}) {
    for (bool c2 : {false, true}) {
      const std::vector<float> y =
          RunY(**s, {{"c1", Bool(c1)}, {"c2", Bool(c2)}, {"x", kX}});
      ASSERT_EQ(y.size(), 6u);
      const float want = !c1 ? 1.0f : (c2 ? 2.0f : -1.0f);
      EXPECT_EQ(y[0], want) << c1 << c2;
      EXPECT_EQ(y[1], !c1 ? 0.0f : (c2 ? -4.0f : 2.0f)) << c1 << c2;
    }
  }
}

TEST(If, NestedWithoutPassedOnNamesIsBoundToo) {
  // A hand-built middle graph that does not list what its If reads: the
  // binding passes the names on itself.
  auto g = Nested("c1", "c2");
  g->nodes[0].attrs["then_branch"].g->outer_names.clear();  // c2, x
  AddInput(*g, "c1", DType::kBool);
  AddInput(*g, "c2", DType::kBool);
  AddInput(*g, "x", DType::kF32);
  auto s = Session::Create(g);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(RunY(**s, {{"c1", Bool(true)}, {"c2", Bool(false)}, {"x", kX}})[0],
            -1.0f);
}

TEST(If, ConstantConditionsBecomeTheirBranchAtLoad) {
  for (bool fold : {true, false}) {
    auto g = Nested("c1", "c2");
    g->constants[g->ValueId("c1")] = Bool(true);
    g->constants[g->ValueId("c2")] = Bool(false);
    AddInput(*g, "x", DType::kF32);
    SessionOptions o;
    o.fold_constants = fold;
    auto s = Session::Create(g, o);
    ASSERT_TRUE(s.ok()) << s.status().message();
    int ifs = 0;
    for (const Node& n : (*s)->graph().nodes) ifs += n.op == "If";
    EXPECT_EQ(ifs, fold ? 0 : 1);
    EXPECT_EQ(RunY(**s, {{"x", kX}}),
              (std::vector<float>{-1, 2, -3, 4, -5, 6}));
  }
}

TEST(If, BranchesOfDifferentShapesAreInferredWhileRunning) {
  auto g = std::make_shared<Graph>();
  g->opsets[""] = 13;
  AddInput(*g, "cond", DType::kBool);
  AddInput(*g, "x", DType::kF32);
  AddInput(*g, "v", DType::kF32);
  AddIf(*g, "choose", "cond", OneNode("Neg", {"x"}, "nx"),
        OneNode("Neg", {"v"}, "nv"), {"y"});
  AddNode(*g, "Relu", "after", {"y"}, {"w"});
  AddOutput(*g, "w");
  auto s = Session::Create(g);
  ASSERT_TRUE(s.ok()) << s.status().message();
  const Tensor v = F32({1, 4}, {-1, 2, -3, 4});
  for (int rep = 0; rep < 2; ++rep) {
    auto a = (*s)->Run({{"cond", Bool(true)}, {"x", kX}, {"v", v}});
    ASSERT_TRUE(a.ok()) << a.status().message();
    EXPECT_EQ((*a)[0].shape(), (Shape{2, 3}));
    EXPECT_EQ(Values((*a)[0]), (std::vector<float>{0, 2, 0, 4, 0, 6}));
    auto b = (*s)->Run({{"cond", Bool(false)}, {"x", kX}, {"v", v}});
    ASSERT_TRUE(b.ok()) << b.status().message();
    EXPECT_EQ((*b)[0].shape(), (Shape{1, 4}));
    EXPECT_EQ(Values((*b)[0]), (std::vector<float>{1, 0, 3, 0}));
  }
  // Ranks that differ are refused, naming the node.
  auto c = (*s)->Run(
      {{"cond", Bool(true)}, {"x", kX}, {"v", F32({4}, {-1, 2, -3, 4})}});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("node choose (If)"), std::string::npos);
  EXPECT_NE(c.status().message().find("ranks differ"), std::string::npos);
}

TEST(If, BranchesThatDisagreeAreRefusedAtLoad) {
  auto g = std::make_shared<Graph>();
  g->opsets[""] = 13;
  AddInput(*g, "cond", DType::kBool);
  AddInput(*g, "x", DType::kF32);
  auto two = OneNode("Neg", {"x"}, "a");
  AddNode(*two, "Relu", "b_node", {"x"}, {"b"});
  AddOutput(*two, "b");
  AddIf(*g, "mismatch", "cond", OneNode("Neg", {"x"}, "n"), two, {"y"});
  AddOutput(*g, "y");
  auto s = Session::Create(g);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("node mismatch (If)"), std::string::npos)
      << s.status().message();
  EXPECT_NE(s.status().message().find("then_branch has 1 outputs and "
                                      "else_branch 2"),
            std::string::npos)
      << s.status().message();
}

TEST(If, DifferentTypesAndUnknownNamesAreRefused) {
  auto g = std::make_shared<Graph>();
  g->opsets[""] = 13;
  AddInput(*g, "cond", DType::kBool);
  AddInput(*g, "x", DType::kF32);
  AddIf(*g, "reads", "cond", OneNode("Neg", {"nowhere"}, "n"),
        OneNode("Neg", {"x"}, "m"), {"y"});
  AddOutput(*g, "y");
  auto s = Session::Create(g);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("node reads (If)"), std::string::npos);
  EXPECT_NE(s.status().message().find("'nowhere'"), std::string::npos);

  auto h = std::make_shared<Graph>();
  h->opsets[""] = 13;
  AddInput(*h, "cond", DType::kBool);
  AddInput(*h, "x", DType::kF32);
  AddInput(*h, "i", DType::kI64);
  AddIf(*h, "types", "cond", OneNode("Neg", {"x"}, "n"),
        OneNode("Neg", {"i"}, "m"), {"y"});
  AddOutput(*h, "y");
  auto t = Session::Create(h);
  ASSERT_TRUE(t.ok()) << t.status().message();
  auto r = (*t)->Run(
      {{"cond", Bool(true)}, {"x", kX}, {"i", testing::I64({1}, {3})}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("node types (If)"), std::string::npos);
  EXPECT_NE(r.status().message().find("f32 in then_branch and i64"),
            std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace lowbit::graph
