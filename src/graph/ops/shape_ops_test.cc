// Data-movement operators: shapes and values by hand, every opset form of the
// parameters that moved from attributes to inputs.
#include <gtest/gtest.h>

#include "tests/support/graph_test_util.h"

namespace lowbit::graph {
namespace {

using namespace testing;

std::vector<float> Iota(int n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) v[i] = static_cast<float>(i);
  return v;
}

TEST(ShapeOps, ReshapeSqueezeUnsqueezeFlatten) {
  OpCase c;
  c.op = "Reshape";
  c.inputs = {F32({2, 3, 4}, Iota(24)), I64({3}, {0, -1, 2})};
  c.constant_inputs = {1};
  auto r = RunOp(c);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].shape(), (Shape{2, 6, 2}));
  EXPECT_EQ(Values((*r)[0]), Iota(24));
  c.inputs[1] = I64({2}, {5, -1});
  r = RunOp(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("node n0 (Reshape)"), std::string::npos);

  OpCase s;
  s.op = "Squeeze";
  s.opset = 11;
  s.attrs = {{"axes", AInts({0, -1})}};
  s.inputs = {F32({1, 3, 1}, Iota(3))};
  r = RunOp(s);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].shape(), (Shape{3}));
  OpCase u;
  u.op = "Unsqueeze";
  u.opset = 13;
  u.inputs = {F32({3}, Iota(3)), I64({2}, {0, 2})};
  u.constant_inputs = {1};
  r = RunOp(u);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].shape(), (Shape{1, 3, 1}));
  OpCase f;
  f.op = "Flatten";
  f.attrs = {{"axis", AInt(2)}};
  f.inputs = {F32({2, 3, 4}, Iota(24))};
  r = RunOp(f);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].shape(), (Shape{6, 4}));
}

TEST(ShapeOps, TransposeConcatSplit) {
  OpCase t;
  t.op = "Transpose";
  t.attrs = {{"perm", AInts({2, 0, 1})}};
  t.inputs = {F32({2, 3, 4}, Iota(24))};
  auto r = RunOp(t);
  ASSERT_TRUE(r.ok());
  const Tensor& y = (*r)[0];
  ASSERT_EQ(y.shape(), (Shape{4, 2, 3}));
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k)
        EXPECT_EQ(y.data<float>()[(k * 2 + i) * 3 + j], (i * 3 + j) * 4 + k);
  OpCase c;
  c.op = "Concat";
  c.attrs = {{"axis", AInt(1)}};
  c.inputs = {F32({2, 1}, {0, 1}), F32({2, 2}, {10, 11, 12, 13})};
  r = RunOp(c);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Values((*r)[0]), (std::vector<float>{0, 10, 11, 1, 12, 13}));
  OpCase s;
  s.op = "Split";
  s.opset = 11;
  s.num_outputs = 2;
  s.attrs = {{"axis", AInt(1)}, {"split", AInts({1, 2})}};
  s.inputs = {(*r)[0]};
  r = RunOp(s);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(Values((*r)[0]), (std::vector<float>{0, 1}));
  EXPECT_EQ(Values((*r)[1]), (std::vector<float>{10, 11, 12, 13}));
}

TEST(ShapeOps, SliceForms) {
  OpCase s;
  s.op = "Slice";
  s.opset = 13;
  s.inputs = {F32({3, 4}, Iota(12)), I64({2}, {0, 3}), I64({2}, {-1, -10}),
              I64({2}, {0, 1}), I64({2}, {2, -2})};
  s.constant_inputs = {1, 2, 3, 4};
  auto r = RunOp(s);
  ASSERT_TRUE(r.ok()) << r.status().message();
  // rows 0 (step 2, end 2 exclusive), columns 3, 1 (step -2)
  EXPECT_EQ((*r)[0].shape(), (Shape{1, 2}));
  EXPECT_EQ(Values((*r)[0]), (std::vector<float>{3, 1}));
  OpCase old;  // opset 9: attributes
  old.op = "Slice";
  old.opset = 9;
  old.attrs = {
      {"starts", AInts({1})}, {"ends", AInts({1000})}, {"axes", AInts({1})}};
  old.inputs = {F32({3, 4}, Iota(12))};
  r = RunOp(old);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].shape(), (Shape{3, 3}));
}

TEST(ShapeOps, PadModes) {
  for (const char* mode : {"constant", "reflect", "edge"}) {
    OpCase p;
    p.op = "Pad";
    p.opset = 13;
    p.attrs = {{"mode", AString(mode)}};
    p.inputs = {F32({1, 3}, {1, 2, 3}), I64({4}, {0, 2, 0, 1}), F32({}, {9})};
    p.constant_inputs = {1, 2};
    auto r = RunOp(p);
    ASSERT_TRUE(r.ok()) << r.status().message();
    const std::string m = mode;
    const std::vector<float> want =
        m == "constant"  ? std::vector<float>{9, 9, 1, 2, 3, 9}
        : m == "reflect" ? std::vector<float>{3, 2, 1, 2, 3, 2}
                         : std::vector<float>{1, 1, 1, 2, 3, 3};
    EXPECT_EQ(Values((*r)[0]), want) << mode;
  }
}

TEST(ShapeOps, GatherExpandTileShape) {
  OpCase g;
  g.op = "Gather";
  g.attrs = {{"axis", AInt(1)}};
  g.inputs = {F32({2, 3}, Iota(6)), I64({2}, {2, -3})};
  auto r = RunOp(g);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Values((*r)[0]), (std::vector<float>{2, 0, 5, 3}));
  g.inputs[1] = I64({1}, {3});
  r = RunOp(g);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("out of range"), std::string::npos);
  OpCase e;
  e.op = "Expand";
  e.inputs = {F32({2, 1}, {1, 2}), I64({2}, {2, 3})};
  e.constant_inputs = {1};
  r = RunOp(e);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(Values((*r)[0]), (std::vector<float>{1, 1, 1, 2, 2, 2}));
  OpCase t;
  t.op = "Tile";
  t.inputs = {F32({2}, {1, 2}), I64({1}, {3})};
  t.constant_inputs = {1};
  r = RunOp(t);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(Values((*r)[0]), (std::vector<float>{1, 2, 1, 2, 1, 2}));
  OpCase s;
  s.op = "Shape";
  s.inputs = {F32({2, 5, 7}, std::vector<float>(70))};
  r = RunOp(s);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Values((*r)[0]), (std::vector<float>{2, 5, 7}));
}

}  // namespace
}  // namespace lowbit::graph
