// Elementwise and unary operators against values computed by hand or by a
// naive broadcast in the test.
#include <gtest/gtest.h>

#include <cmath>

#include "tests/support/graph_test_util.h"

namespace lowbit::graph {
namespace {

using namespace testing;

TEST(Elementwise, BroadcastsLikeNumpy) {
  // [2,3,1] + [1,4] -> [2,3,4]
  std::vector<float> a(6), b(4);
  for (int i = 0; i < 6; ++i) a[i] = static_cast<float>(i);
  for (int i = 0; i < 4; ++i) b[i] = 10.0f * (i + 1);
  for (const char* op : {"Add", "Sub", "Mul", "Div", "Max", "Min", "Pow"}) {
    OpCase c;
    c.op = op;
    c.inputs = {F32({2, 3, 1}, a), F32({1, 4}, b)};
    auto r = RunOp(c);
    ASSERT_TRUE(r.ok()) << r.status().message();
    const Tensor& y = (*r)[0];
    ASSERT_EQ(y.shape(), (Shape{2, 3, 4}));
    for (int i = 0; i < 6; ++i) {
      for (int j = 0; j < 4; ++j) {
        const float x = a[i], z = b[j];
        const std::string o = op;
        const float want = o == "Add"   ? x + z
                           : o == "Sub" ? x - z
                           : o == "Mul" ? x * z
                           : o == "Div" ? x / z
                           : o == "Max" ? std::max(x, z)
                           : o == "Min" ? std::min(x, z)
                                        : std::pow(x, z);
        EXPECT_FLOAT_EQ(y.data<float>()[i * 4 + j], want) << op;
      }
    }
  }
}

TEST(Elementwise, ChannelBroadcastAndScalars) {
  // [1,2,2,2] * [2,1,1] (per channel), and x - scalar.
  std::vector<float> x(8);
  for (int i = 0; i < 8; ++i) x[i] = static_cast<float>(i + 1);
  OpCase c;
  c.op = "Mul";
  c.inputs = {F32({1, 2, 2, 2}, x), F32({2, 1, 1}, {2.0f, -1.0f})};
  auto r = RunOp(c);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(Values((*r)[0]), (std::vector<float>{2, 4, 6, 8, -5, -6, -7, -8}));
  c.op = "Sub";
  c.inputs = {F32({}, {1.0f}), F32({1, 2, 2, 2}, x)};
  r = RunOp(c);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Values((*r)[0]),
            (std::vector<float>{0, -1, -2, -3, -4, -5, -6, -7}));
}

TEST(Elementwise, LegacyAxisBroadcastBeforeOpset7) {
  OpCase c;
  c.op = "Add";
  c.opset = 6;
  c.attrs = {{"broadcast", AInt(1)}, {"axis", AInt(1)}};
  c.inputs = {F32({2, 3, 2}, std::vector<float>(12, 1.0f)),
              F32({3}, {1, 2, 3})};
  auto r = RunOp(c);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(Values((*r)[0]),
            (std::vector<float>{2, 2, 3, 3, 4, 4, 2, 2, 3, 3, 4, 4}));
}

TEST(Elementwise, ComparisonsWhereAndVariadic) {
  OpCase c;
  c.op = "Greater";
  c.inputs = {F32({3}, {1, 5, 3}), F32({1}, {3})};
  auto r = RunOp(c);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dtype(), DType::kBool);
  EXPECT_EQ(Values((*r)[0]), (std::vector<float>{0, 1, 0}));
  OpCase w;
  w.op = "Where";
  w.inputs = {(*r)[0], F32({3}, {10, 20, 30}), F32({}, {-1})};
  auto rw = RunOp(w);
  ASSERT_TRUE(rw.ok()) << rw.status().message();
  EXPECT_EQ(Values((*rw)[0]), (std::vector<float>{-1, 20, -1}));
  OpCase s;
  s.op = "Mean";
  s.inputs = {F32({2}, {1, 2}), F32({2}, {3, 4}), F32({1}, {5})};
  auto rs = RunOp(s);
  ASSERT_TRUE(rs.ok()) << rs.status().message();
  EXPECT_EQ(Values((*rs)[0]), (std::vector<float>{3, 11.0f / 3}));
}

TEST(Elementwise, IntegerShapeArithmetic) {
  OpCase c;
  c.op = "Div";
  c.inputs = {I64({3}, {7, -7, 9}), I64({1}, {2})};
  auto r = RunOp(c);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dtype(), DType::kI64);
  EXPECT_EQ((*r)[0].data<int64_t>()[0], 3);
  EXPECT_EQ((*r)[0].data<int64_t>()[1], -3);  // C++ truncation, as ONNX
}

TEST(Elementwise, RefusesBadShapesAndTypes) {
  OpCase c;
  c.op = "Add";
  c.inputs = {F32({2, 3}, std::vector<float>(6)),
              F32({4}, std::vector<float>(4))};
  auto r = RunOp(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("node n0 (Add)"), std::string::npos);
  EXPECT_NE(r.status().message().find("do not broadcast"), std::string::npos);
  c.inputs = {F32({2}, {1, 2}), I64({2}, {1, 2})};
  r = RunOp(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("types"), std::string::npos);
}

TEST(Unary, ActivationsAndClip) {
  const std::vector<float> x = {-3, -0.5f, 0, 0.5f, 3};
  struct Case {
    const char* op;
    std::map<std::string, Attribute> attrs;
    float (*f)(float);
  };
  const std::vector<Case> cases = {
      {"Relu", {}, [](float v) { return std::max(v, 0.0f); }},
      {"Sigmoid", {}, [](float v) { return 1.0f / (1.0f + std::exp(-v)); }},
      {"HardSigmoid",
       {{"alpha", AFloat(0.2f)}, {"beta", AFloat(0.5f)}},
       [](float v) { return std::clamp(0.2f * v + 0.5f, 0.0f, 1.0f); }},
      {"HardSwish",
       {},
       [](float v) { return v * std::clamp(v / 6 + 0.5f, 0.0f, 1.0f); }},
      {"LeakyRelu",
       {{"alpha", AFloat(0.1f)}},
       [](float v) { return v < 0 ? 0.1f * v : v; }},
      {"Tanh", {}, [](float v) { return std::tanh(v); }},
      {"Erf", {}, [](float v) { return std::erf(v); }},
      {"Gelu",
       {},
       [](float v) { return 0.5f * v * (1 + std::erf(v / std::sqrt(2.0f))); }},
      {"Softplus", {}, [](float v) { return std::log1p(std::exp(v)); }},
  };
  for (const Case& k : cases) {
    OpCase c;
    c.op = k.op;
    c.opset = 20;
    c.attrs = k.attrs;
    c.inputs = {F32({5}, x)};
    auto r = RunOp(c);
    ASSERT_TRUE(r.ok()) << k.op << ": " << r.status().message();
    for (int i = 0; i < 5; ++i) {
      EXPECT_NEAR((*r)[0].data<float>()[i], k.f(x[i]), 1e-6f)
          << k.op << " " << x[i];
    }
  }
  OpCase clip;  // opset 11: min and max as inputs; opset 6: attributes
  clip.op = "Clip";
  clip.opset = 11;
  clip.inputs = {F32({5}, x), F32({}, {-1}), F32({}, {1})};
  auto r = RunOp(clip);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(Values((*r)[0]), (std::vector<float>{-1, -0.5f, 0, 0.5f, 1}));
  clip.opset = 6;
  clip.inputs = {F32({5}, x)};
  clip.attrs = {{"min", AFloat(0)}, {"max", AFloat(2)}};
  r = RunOp(clip);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(Values((*r)[0]), (std::vector<float>{0, 0, 0, 0.5f, 2}));
}

TEST(Unary, CastBetweenTypes) {
  OpCase c;
  c.op = "Cast";
  c.attrs = {{"to", AInt(7)}};  // int64
  c.inputs = {F32({3}, {1.9f, -2.5f, 300})};
  auto r = RunOp(c);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].dtype(), DType::kI64);
  EXPECT_EQ((*r)[0].data<int64_t>()[0], 1);
  EXPECT_EQ((*r)[0].data<int64_t>()[1], -2);
  c.attrs = {{"to", AInt(99)}};
  r = RunOp(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("node n0 (Cast)"), std::string::npos);
}

}  // namespace
}  // namespace lowbit::graph
