// Tests of the reductions (reduce.cc): hand-computed cases, a naive reference
// over random shapes and axis sets, axes as attribute or input by opset,
// empty axes, ArgMax / ArgMin ties, and errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "tests/support/graph_test_util.h"

namespace lowbit::graph {
namespace {

using testing::AInt;
using testing::AInts;
using testing::F32;
using testing::I64;
using testing::OpCase;
using testing::RunOp;
using testing::Values;

std::vector<Tensor> RunOk(const OpCase& c) {
  auto r = RunOp(c);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? std::move(r).value() : std::vector<Tensor>{Tensor()};
}

std::string Error(const OpCase& c) {
  auto r = RunOp(c);
  EXPECT_FALSE(r.ok());
  return r.ok() ? "" : r.status().message();
}

std::vector<int64_t> Ints(const Tensor& t) {
  std::vector<int64_t> v(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.GetInt(i);
  return v;
}

// Naive reduction: every input element adds into its output element.
std::vector<double> RefReduce(const std::string& op,
                              const std::vector<double>& x, const Shape& s,
                              const std::vector<char>& red) {
  const int r = static_cast<int>(s.size());
  Shape out;
  int64_t count = 1;
  for (int i = 0; i < r; ++i) {
    out.push_back(red[i] ? 1 : s[i]);
    if (red[i]) count *= s[i];
  }
  const int64_t n_out = NumElements(out);
  double init = 0;
  if (op == "ReduceProd") init = 1;
  if (op == "ReduceMax") init = -INFINITY;
  if (op == "ReduceMin") init = INFINITY;
  std::vector<double> y(n_out, init);
  for (int64_t i = 0; i < static_cast<int64_t>(x.size()); ++i) {
    int64_t rest = i, o = 0, stride = 1;
    for (int d = r - 1; d >= 0; --d) {
      const int64_t c = rest % s[d];
      rest /= s[d];
      if (!red[d]) o += c * stride;
      stride *= out[d];
    }
    const double v = x[i];
    if (op == "ReduceProd") {
      y[o] *= v;
    } else if (op == "ReduceMax") {
      y[o] = std::max(y[o], v);
    } else if (op == "ReduceMin") {
      y[o] = std::min(y[o], v);
    } else if (op == "ReduceL1") {
      y[o] += std::fabs(v);
    } else if (op == "ReduceL2" || op == "ReduceSumSquare") {
      y[o] += v * v;
    } else {
      y[o] += v;
    }
  }
  for (double& v : y) {
    if (op == "ReduceMean") v /= static_cast<double>(count);
    if (op == "ReduceL2") v = std::sqrt(v);
  }
  return y;
}

const char* const kReduceOps[] = {"ReduceSum", "ReduceMean",     "ReduceMax",
                                  "ReduceMin", "ReduceProd",     "ReduceL1",
                                  "ReduceL2",  "ReduceSumSquare"};

TEST(ReduceOps, HandComputed) {
  OpCase c;
  c.opset = 13;
  c.inputs = {F32({2, 3}, {1, 2, 3, 4, 5, 6})};
  c.attrs["axes"] = AInts({1});
  const std::vector<std::pair<const char*, std::vector<float>>> want = {
      {"ReduceMean", {2, 5}},
      {"ReduceMax", {3, 6}},
      {"ReduceMin", {1, 4}},
      {"ReduceProd", {6, 120}},
      {"ReduceL1", {6, 15}},
      {"ReduceL2", {std::sqrt(14.0f), std::sqrt(77.0f)}},
      {"ReduceSumSquare", {14, 77}}};
  for (const auto& [op, v] : want) {
    c.op = op;
    c.inputs[0] = F32({2, 3}, {1, 2, 3, 4, 5, 6});
    auto out = RunOk(c);
    EXPECT_EQ(out[0].shape(), (Shape{2, 1})) << op;
    EXPECT_EQ(Values(out[0]), v) << op;
  }
  // ReduceSum at opset 11 (axes attribute), keepdims 0, axis 0.
  c.op = "ReduceSum";
  c.opset = 11;
  c.attrs["axes"] = AInts({0});
  c.attrs["keepdims"] = AInt(0);
  auto out = RunOk(c);
  EXPECT_EQ(out[0].shape(), (Shape{3}));
  EXPECT_EQ(Values(out[0]), (std::vector<float>{5, 7, 9}));
}

TEST(ReduceOps, MatchReferenceOnRandomShapesAndAxes) {
  std::mt19937 rng(7);
  const std::vector<Shape> shapes = {{5},          {3, 4},          {2, 3, 4},
                                     {4, 1, 3, 5}, {2, 3, 2, 3, 2}, {6, 50, 70},
                                     {3, 0, 2}};
  for (const Shape& s : shapes) {
    const int r = static_cast<int>(s.size());
    for (int mask = 0; mask < (1 << r); ++mask) {
      std::vector<int64_t> axes;
      std::vector<char> red(r, 0);
      for (int i = 0; i < r; ++i) {
        if (mask & (1 << i)) {
          // Alternate negative and positive spellings.
          axes.push_back(i % 2 ? i - r : i);
          red[i] = 1;
        }
      }
      if (axes.empty()) std::fill(red.begin(), red.end(), 1);  // all
      int64_t count = 1;
      for (int i = 0; i < r; ++i) count *= red[i] ? s[i] : 1;
      for (const char* op : kReduceOps) {
        const bool prod = std::string(op) == "ReduceProd";
        if (prod && count > 1000) continue;  // would overflow
        Tensor x = Tensor::Zeros(DType::kF32, s);
        std::uniform_real_distribution<float> u(prod ? 0.8f : -3.0f,
                                                prod ? 1.25f : 3.0f);
        for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = u(rng);
        const std::vector<float> xf = Values(x);
        const std::vector<double> want =
            RefReduce(op, std::vector<double>(xf.begin(), xf.end()), s, red);
        for (int keep : {0, 1}) {
          OpCase c;
          c.op = op;
          c.opset = 13;
          c.threads = (mask & 1) ? 3 : 1;
          c.inputs = {x};
          if (std::string(op) == "ReduceSum") {
            c.inputs.push_back(Tensor::Ints(axes));
            c.constant_inputs = {1};
          } else if (!axes.empty()) {
            c.attrs["axes"] = AInts(axes);
          }
          c.attrs["keepdims"] = AInt(keep);
          auto out = RunOk(c);
          Shape want_shape;
          for (int i = 0; i < r; ++i) {
            if (!red[i]) {
              want_shape.push_back(s[i]);
            } else if (keep) {
              want_shape.push_back(1);
            }
          }
          ASSERT_EQ(out[0].shape(), want_shape) << op << " mask " << mask;
          const std::vector<float> got = Values(out[0]);
          ASSERT_EQ(got.size(), want.size());
          for (size_t i = 0; i < got.size(); ++i) {
            if (std::isinf(want[i]) || std::isnan(want[i])) {
              EXPECT_EQ(std::isnan(got[i]), std::isnan(want[i])) << op;
              if (std::isinf(want[i])) {
                EXPECT_EQ(got[i], want[i]) << op;
              }
            } else {
              // Sums of many values of either sign cancel: allow for the
              // rounding of the terms too.
              const double tol =
                  2e-5 * (1 + std::fabs(want[i])) +
                  (std::string(op) == "ReduceMean" ? 0.0 : 1e-6 * count);
              EXPECT_NEAR(got[i], want[i], tol)
                  << op << " shape " << ShapeString(s) << " mask " << mask;
            }
          }
        }
      }
    }
  }
}

TEST(ReduceOps, IntegerTypesAreExact) {
  std::mt19937 rng(8);
  const Shape s = {3, 4, 5};
  std::uniform_int_distribution<int64_t> u(-50, 50);
  std::vector<int64_t> v(60);
  for (int64_t& e : v) e = u(rng);
  for (const char* op :
       {"ReduceSum", "ReduceMax", "ReduceMin", "ReduceL1", "ReduceSumSquare"}) {
    for (std::vector<int64_t> axes :
         {std::vector<int64_t>{1}, std::vector<int64_t>{0, 2}}) {
      std::vector<char> red(3, 0);
      for (int64_t a : axes) red[a] = 1;
      const std::vector<double> want =
          RefReduce(op, std::vector<double>(v.begin(), v.end()), s, red);
      OpCase c;
      c.op = op;
      c.opset = 11;
      c.inputs = {I64(s, v)};
      c.attrs["axes"] = AInts(axes);
      auto out = RunOk(c);
      ASSERT_EQ(out[0].dtype(), DType::kI64);
      const std::vector<int64_t> got = Ints(out[0]);
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i], static_cast<int64_t>(want[i])) << op;
      }
    }
  }
  // ReduceProd of a shape: the element count.
  OpCase c;
  c.op = "ReduceProd";
  c.opset = 13;
  c.inputs = {I64({4}, {1, 3, 48, 320})};
  c.attrs["keepdims"] = AInt(0);
  auto out = RunOk(c);
  EXPECT_EQ(out[0].shape(), Shape{});
  EXPECT_EQ(Ints(out[0]), (std::vector<int64_t>{3 * 48 * 320}));
}

TEST(ReduceOps, AxesInputByOpset) {
  const Tensor x = F32({2, 3}, {1, 2, 3, 4, 5, 6});
  // ReduceSum takes axes as an input from 13, ReduceMean from 18.
  OpCase c;
  c.op = "ReduceSum";
  c.opset = 13;
  c.inputs = {x, I64({1}, {-1})};
  c.constant_inputs = {1};
  EXPECT_EQ(Values(RunOk(c)[0]), (std::vector<float>{6, 15}));
  c.op = "ReduceMean";
  c.opset = 18;
  EXPECT_EQ(Values(RunOk(c)[0]), (std::vector<float>{2, 5}));
  c.op = "ReduceL2";
  c.inputs[1] = I64({1}, {0});
  EXPECT_EQ(RunOk(c)[0].shape(), (Shape{1, 3}));
  c.op = "ReduceMean";
  c.opset = 17;
  std::string e = Error(c);
  EXPECT_NE(e.find("node n0 (ReduceMean)"), std::string::npos) << e;
  EXPECT_NE(e.find("opset 18"), std::string::npos) << e;
  c.op = "ReduceSum";
  c.opset = 12;
  e = Error(c);
  EXPECT_NE(e.find("opset 13"), std::string::npos) << e;
  // An axes input that is not a constant.
  c.opset = 13;
  c.constant_inputs.clear();
  e = Error(c);
  EXPECT_NE(e.find("n0"), std::string::npos) << e;
  EXPECT_NE(e.find("must be known before running"), std::string::npos) << e;
}

TEST(ReduceOps, EmptyAxesReduceAllOrNothing) {
  const Tensor x = F32({2, 3}, {1, 2, 3, 4, 5, 6});
  OpCase c;
  c.op = "ReduceSum";
  c.opset = 13;
  c.inputs = {x, I64({0}, {})};
  c.constant_inputs = {1};
  auto out = RunOk(c);
  EXPECT_EQ(out[0].shape(), (Shape{1, 1}));
  EXPECT_EQ(Values(out[0]), (std::vector<float>{21}));
  c.attrs["noop_with_empty_axes"] = AInt(1);
  out = RunOk(c);
  EXPECT_EQ(out[0].shape(), (Shape{2, 3}));
  EXPECT_EQ(Values(out[0]), Values(x));
  // Axes omitted altogether.
  c.inputs.resize(1);
  c.constant_inputs.clear();
  out = RunOk(c);
  EXPECT_EQ(Values(out[0]), Values(x));
  c.attrs.clear();
  c.attrs["keepdims"] = AInt(0);
  c.op = "ReduceMax";
  out = RunOk(c);
  EXPECT_EQ(out[0].shape(), Shape{});
  EXPECT_EQ(Values(out[0]), (std::vector<float>{6}));
}

TEST(ReduceOps, EmptyReductionGivesTheIdentity) {
  const Tensor x = Tensor::Zeros(DType::kF32, {2, 0, 3});
  const std::vector<std::pair<const char*, float>> want = {
      {"ReduceSum", 0.0f},
      {"ReduceProd", 1.0f},
      {"ReduceMax", -std::numeric_limits<float>::infinity()},
      {"ReduceMin", std::numeric_limits<float>::infinity()},
      {"ReduceL2", 0.0f}};
  for (const auto& [op, v] : want) {
    OpCase c;
    c.op = op;
    c.opset = 11;
    c.inputs = {x};
    c.attrs["axes"] = AInts({1});
    auto out = RunOk(c);
    EXPECT_EQ(out[0].shape(), (Shape{2, 1, 3})) << op;
    for (float g : Values(out[0])) EXPECT_EQ(g, v) << op;
  }
}

TEST(ReduceOps, Errors) {
  OpCase c;
  c.op = "ReduceMean";
  c.opset = 13;
  c.inputs = {F32({2, 3}, {1, 2, 3, 4, 5, 6})};
  c.attrs["axes"] = AInts({2});
  std::string e = Error(c);
  EXPECT_NE(e.find("node n0 (ReduceMean)"), std::string::npos) << e;
  EXPECT_NE(e.find("out of range"), std::string::npos) << e;
  c.attrs["axes"] = AInts({1, -1});
  e = Error(c);
  EXPECT_NE(e.find("repeated"), std::string::npos) << e;
  c.attrs["axes"] = AInts({1});
  c.attrs["keepdims"] = AInt(2);
  e = Error(c);
  EXPECT_NE(e.find("keepdims"), std::string::npos) << e;
}

// ---- ArgMax, ArgMin -------------------------------------------------------

TEST(ReduceOps, ArgMaxTiesAndAttributes) {
  OpCase c;
  c.op = "ArgMax";
  c.opset = 13;
  c.inputs = {F32({2, 4}, {1, 5, 5, 2, 7, 0, 7, 7})};
  c.attrs["axis"] = AInt(1);
  auto out = RunOk(c);
  EXPECT_EQ(out[0].dtype(), DType::kI64);
  EXPECT_EQ(out[0].shape(), (Shape{2, 1}));
  EXPECT_EQ(Ints(out[0]), (std::vector<int64_t>{1, 0}));
  c.attrs["select_last_index"] = AInt(1);
  EXPECT_EQ(Ints(RunOk(c)[0]), (std::vector<int64_t>{2, 3}));
  c.attrs["keepdims"] = AInt(0);
  c.attrs.erase("axis");  // default 0
  out = RunOk(c);
  EXPECT_EQ(out[0].shape(), (Shape{4}));
  EXPECT_EQ(Ints(out[0]), (std::vector<int64_t>{1, 0, 1, 1}));
  c.op = "ArgMin";
  c.attrs["select_last_index"] = AInt(0);
  c.attrs["axis"] = AInt(-1);
  EXPECT_EQ(Ints(RunOk(c)[0]), (std::vector<int64_t>{0, 1}));
}

TEST(ReduceOps, ArgMaxMatchesReference) {
  std::mt19937 rng(9);
  for (const Shape& s :
       std::vector<Shape>{{7}, {3, 5}, {2, 3, 4}, {2, 3, 4, 5}, {40, 30, 25}}) {
    const int r = static_cast<int>(s.size());
    Tensor x = Tensor::Zeros(DType::kI64, s);
    std::uniform_int_distribution<int64_t> u(0, 5);  // many ties
    for (int64_t i = 0; i < x.numel(); ++i) x.data<int64_t>()[i] = u(rng);
    for (int axis = -r; axis < r; ++axis) {
      for (int last : {0, 1}) {
        for (const char* op : {"ArgMax", "ArgMin"}) {
          const bool is_max = std::string(op) == "ArgMax";
          const int a = axis < 0 ? axis + r : axis;
          int64_t outer = 1, len = s[a], inner = 1;
          for (int i = 0; i < a; ++i) outer *= s[i];
          for (int i = a + 1; i < r; ++i) inner *= s[i];
          std::vector<int64_t> want(outer * inner);
          const int64_t* px = x.data<int64_t>();
          for (int64_t o = 0; o < outer; ++o) {
            for (int64_t i = 0; i < inner; ++i) {
              int64_t best = 0;
              for (int64_t k = 1; k < len; ++k) {
                const int64_t v = px[(o * len + k) * inner + i];
                const int64_t b = px[(o * len + best) * inner + i];
                if (is_max ? (v > b || (last && v == b))
                           : (v < b || (last && v == b))) {
                  best = k;
                }
              }
              want[o * inner + i] = best;
            }
          }
          OpCase c;
          c.op = op;
          c.opset = 13;
          c.threads = 2;
          c.inputs = {x};
          c.attrs["axis"] = AInt(axis);
          c.attrs["select_last_index"] = AInt(last);
          EXPECT_EQ(Ints(RunOk(c)[0]), want) << op << " axis " << axis;
          // The same on f32.
          Tensor xf = Tensor::Zeros(DType::kF32, s);
          for (int64_t i = 0; i < x.numel(); ++i) {
            xf.data<float>()[i] = static_cast<float>(px[i]) * 0.5f;
          }
          c.inputs = {xf};
          EXPECT_EQ(Ints(RunOk(c)[0]), want) << op << " f32 axis " << axis;
        }
      }
    }
  }
}

TEST(ReduceOps, ArgMaxErrors) {
  OpCase c;
  c.op = "ArgMax";
  c.inputs = {F32({2, 3}, {1, 2, 3, 4, 5, 6})};
  c.attrs["axis"] = AInt(-3);
  std::string e = Error(c);
  EXPECT_NE(e.find("node n0 (ArgMax)"), std::string::npos) << e;
  EXPECT_NE(e.find("out of range"), std::string::npos) << e;
  c.attrs["axis"] = AInt(0);
  c.attrs["select_last_index"] = AInt(3);
  e = Error(c);
  EXPECT_NE(e.find("select_last_index"), std::string::npos) << e;
  c.attrs.clear();
  c.inputs = {Tensor::Zeros(DType::kF32, {0, 3})};
  e = Error(c);
  EXPECT_NE(e.find("empty axis"), std::string::npos) << e;
}

}  // namespace
}  // namespace lowbit::graph
