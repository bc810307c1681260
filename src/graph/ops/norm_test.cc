// Tests of the normalization operators (norm.cc): hand-computed cases, naive
// references on random shapes, opset differences of Softmax, and errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "tests/support/graph_test_util.h"

namespace lowbit::graph {
namespace {

using testing::AFloat;
using testing::AInt;
using testing::AString;
using testing::F32;
using testing::OpCase;
using testing::RunOp;
using testing::Values;

Tensor Random(Shape shape, std::mt19937& rng, float lo = -2.0f,
              float hi = 2.0f) {
  Tensor t = Tensor::Zeros(DType::kF32, std::move(shape));
  std::uniform_real_distribution<float> u(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
  return t;
}

std::vector<float> Vec(const Tensor& t) { return Values(t); }

std::vector<Tensor> RunOk(const OpCase& c) {
  auto r = RunOp(c);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? std::move(r).value() : std::vector<Tensor>{};
}

// The error message of a case that must fail.
std::string Error(const OpCase& c) {
  auto r = RunOp(c);
  EXPECT_FALSE(r.ok());
  return r.ok() ? "" : r.status().message();
}

void ExpectNear(const std::vector<float>& got, const std::vector<float>& want,
                float tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], tol * (1.0f + std::fabs(want[i])))
        << "at " << i;
  }
}

// ---- BatchNormalization ---------------------------------------------------

TEST(NormOps, BatchNormalizationHandComputed) {
  OpCase c;
  c.op = "BatchNormalization";
  c.opset = 15;
  c.inputs = {F32({1, 2, 1, 2}, {1, 2, 3, 4}), F32({2}, {1, 2}),
              F32({2}, {0, 1}), F32({2}, {1.5f, 3.5f}),
              F32({2}, {0.25f, 0.25f})};
  c.attrs["epsilon"] = AFloat(0.0f);
  auto out = RunOk(c);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].shape(), (Shape{1, 2, 1, 2}));
  ExpectNear(Vec(out[0]), {-1, 1, -1, 3}, 1e-6f);
}

TEST(NormOps, BatchNormalizationMatchesReferenceOnRandomShapes) {
  std::mt19937 rng(1);
  const std::vector<Shape> shapes = {
      {3, 4}, {2, 3, 5}, {2, 4, 3, 5}, {1, 3, 2, 3, 4}, {2, 64, 33, 17}};
  for (int opset : {7, 9, 15}) {
    for (const Shape& s : shapes) {
      const int64_t ch = s[1];
      Tensor x = Random(s, rng), scale = Random({ch}, rng),
             b = Random({ch}, rng), mean = Random({ch}, rng),
             var = Random({ch}, rng, 0.1f, 3.0f);
      OpCase c;
      c.op = "BatchNormalization";
      c.opset = opset;
      c.threads = 3;
      c.inputs = {x, scale, b, mean, var};
      c.attrs["epsilon"] = AFloat(1e-3f);
      c.attrs["momentum"] = AFloat(0.9f);  // ignored
      auto out = RunOk(c);
      ASSERT_EQ(out.size(), 1u);
      const int64_t inner = x.numel() / (s[0] * ch);
      std::vector<float> want(x.numel());
      for (int64_t i = 0; i < x.numel(); ++i) {
        const int64_t k = (i / inner) % ch;
        want[i] = (x.data<float>()[i] - mean.data<float>()[k]) /
                      std::sqrt(var.data<float>()[k] + 1e-3f) *
                      scale.data<float>()[k] +
                  b.data<float>()[k];
      }
      ExpectNear(Vec(out[0]), want, 1e-5f);
    }
  }
}

// Training mode (the ONNX example's numbers worked by hand): Y from the
// batch's mean and population variance per channel, the running statistics
// moved by 1 - momentum towards them.
TEST(NormOps, BatchNormalizationTrainingMode) {
  OpCase c;
  c.op = "BatchNormalization";
  c.opset = 15;
  c.inputs = {F32({1, 2, 1, 3}, {-1, 0, 1, 2, 3, 4}), F32({2}, {1.0f, 1.5f}),
              F32({2}, {0, 1}), F32({2}, {0, 3}), F32({2}, {1.0f, 1.5f})};
  c.attrs["training_mode"] = AInt(1);
  c.num_outputs = 3;
  const std::vector<Tensor> r = RunOk(c);
  ASSERT_EQ(r.size(), 3u);
  const float inv = 1.0f / std::sqrt(2.0f / 3.0f + 1e-5f);
  ExpectNear(Vec(r[0]), {-inv, 0, inv, 1 - 1.5f * inv, 1, 1 + 1.5f * inv},
             1e-6f);
  ExpectNear(Vec(r[1]), {0.0f, 3.0f}, 1e-6f);
  ExpectNear(Vec(r[2]),
             {0.9f + 0.1f * 2.0f / 3.0f, 1.5f * 0.9f + 0.1f * 2.0f / 3.0f},
             1e-6f);
  // Only Y asked for: the same Y.
  c.num_outputs = 1;
  const std::vector<Tensor> y = RunOk(c);
  ASSERT_EQ(y.size(), 1u);
  ExpectNear(Vec(y[0]), Vec(r[0]), 0.0f);
}

// A BatchNormalization node whose training outputs are named "" (-1).
Result<std::vector<Tensor>> RunBatchNormWithEmptyOutputs(int opset) {
  auto g = std::make_shared<Graph>();
  g->opsets[""] = opset;
  Node n;
  n.op = "BatchNormalization";
  n.name = "n0";
  const std::vector<Tensor> in = {F32({1, 1, 2}, {1, 3}), F32({1}, {1}),
                                  F32({1}, {0}), F32({1}, {2}), F32({1}, {1})};
  std::map<std::string, Tensor> feeds;
  for (size_t k = 0; k < in.size(); ++k) {
    const std::string name = "in" + std::to_string(k);
    const int id = g->ValueId(name);
    n.inputs.push_back(id);
    ValueInfo vi;
    vi.name = name;
    vi.dtype = DType::kF32;
    g->inputs.push_back(vi);
    g->input_ids.push_back(id);
    feeds[name] = in[k];
  }
  const int y = g->ValueId("y");
  n.outputs = {y, -1, -1, -1, -1};
  g->nodes.push_back(n);
  ValueInfo vo;
  vo.name = "y";
  g->outputs.push_back(vo);
  g->output_ids.push_back(y);
  LB_ASSIGN_OR_RETURN(auto s, Session::Create(g));
  return s->Run(feeds);
}

TEST(NormOps, BatchNormalizationAcceptsEmptyTrainingOutputs) {
  auto r = RunBatchNormWithEmptyOutputs(7);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const float inv = 1.0f / std::sqrt(1.0f + 1e-5f);
  ExpectNear(Vec(r.value()[0]), {-inv, inv}, 1e-6f);
}

TEST(NormOps, BatchNormalizationErrors) {
  OpCase c;
  c.op = "BatchNormalization";
  c.opset = 15;
  c.inputs = {F32({1, 2, 2}, {1, 2, 3, 4}), F32({2}, {1, 1}), F32({2}, {0, 0}),
              F32({2}, {0, 0}), F32({2}, {1, 1})};
  OpCase training = c;
  training.attrs["training_mode"] = AInt(1);
  training.num_outputs = 5;
  std::string e = Error(training);
  EXPECT_NE(e.find("n0"), std::string::npos) << e;
  EXPECT_NE(e.find("saved statistics"), std::string::npos) << e;

  OpCase outputs = c;
  outputs.num_outputs = 3;
  e = Error(outputs);
  EXPECT_NE(e.find("training_mode"), std::string::npos) << e;
  EXPECT_NE(e.find("n0"), std::string::npos) << e;
  EXPECT_NE(e.find("3 outputs"), std::string::npos) << e;

  OpCase spatial = c;
  spatial.opset = 7;
  spatial.attrs["spatial"] = AInt(0);
  e = Error(spatial);
  EXPECT_NE(e.find("spatial"), std::string::npos) << e;

  OpCase shape = c;
  shape.inputs[3] = F32({3}, {0, 0, 0});
  e = Error(shape);
  EXPECT_NE(e.find("n0"), std::string::npos) << e;
  EXPECT_NE(e.find("mean"), std::string::npos) << e;
}

// ---- InstanceNormalization ------------------------------------------------

TEST(NormOps, InstanceNormalizationHandComputed) {
  OpCase c;
  c.op = "InstanceNormalization";
  c.opset = 6;
  // One channel of [1, 3]: mean 2, variance 1.
  c.inputs = {F32({1, 2, 2}, {1, 3, 5, 5}), F32({2}, {2, 1}), F32({2}, {1, 7})};
  c.attrs["epsilon"] = AFloat(0.0f);
  auto out = RunOk(c);
  ASSERT_EQ(out.size(), 1u);
  // Channel 1 is constant: variance 0, eps 0 -> 0 / 0; use eps > 0 below.
  EXPECT_NEAR(Vec(out[0])[0], -1.0f, 1e-6f);
  EXPECT_NEAR(Vec(out[0])[1], 3.0f, 1e-6f);
  c.attrs["epsilon"] = AFloat(1e-5f);
  out = RunOk(c);
  EXPECT_NEAR(Vec(out[0])[2], 7.0f, 1e-6f);
  EXPECT_NEAR(Vec(out[0])[3], 7.0f, 1e-6f);
}

TEST(NormOps, InstanceNormalizationMatchesReference) {
  std::mt19937 rng(2);
  for (const Shape& s : std::vector<Shape>{
           {2, 3, 7}, {1, 4, 5, 6}, {3, 2, 2, 3, 4}, {2, 8, 40, 50}}) {
    const int64_t ch = s[1];
    Tensor x = Random(s, rng, -3, 5), scale = Random({ch}, rng),
           b = Random({ch}, rng);
    OpCase c;
    c.op = "InstanceNormalization";
    c.inputs = {x, scale, b};
    c.threads = 2;
    auto out = RunOk(c);
    ASSERT_EQ(out.size(), 1u);
    const int64_t inner = x.numel() / (s[0] * ch);
    std::vector<float> want(x.numel());
    for (int64_t row = 0; row < s[0] * ch; ++row) {
      const float* xr = x.data<float>() + row * inner;
      double m = 0, v = 0;
      for (int64_t i = 0; i < inner; ++i) m += xr[i];
      m /= inner;
      for (int64_t i = 0; i < inner; ++i) v += (xr[i] - m) * (xr[i] - m);
      v /= inner;
      for (int64_t i = 0; i < inner; ++i) {
        want[row * inner + i] = static_cast<float>(
            (xr[i] - m) / std::sqrt(v + 1e-5) * scale.data<float>()[row % ch] +
            b.data<float>()[row % ch]);
      }
    }
    ExpectNear(Vec(out[0]), want, 2e-5f);
  }
}

// ---- LayerNormalization ---------------------------------------------------

TEST(NormOps, LayerNormalizationHandComputed) {
  OpCase c;
  c.op = "LayerNormalization";
  c.opset = 17;
  // Rows [1, 2, 3] (mean 2, variance 2/3) and [4, 4, 4].
  c.inputs = {F32({2, 3}, {1, 2, 3, 4, 4, 4}), F32({3}, {1, 2, 3}),
              F32({3}, {0, 0, 1})};
  c.attrs["epsilon"] = AFloat(0.0f);
  c.num_outputs = 3;
  // The constant row needs eps > 0.
  c.attrs["epsilon"] = AFloat(1e-6f);
  auto out = RunOk(c);
  ASSERT_EQ(out.size(), 3u);
  const float inv = 1.0f / std::sqrt(2.0f / 3.0f + 1e-6f);
  ExpectNear(Vec(out[0]), {-inv, 0, 3 * inv + 1, 0, 0, 1}, 1e-5f);
  EXPECT_EQ(out[1].shape(), (Shape{2, 1}));
  EXPECT_EQ(out[2].shape(), (Shape{2, 1}));
  ExpectNear(Vec(out[1]), {2, 4}, 1e-6f);
  ExpectNear(Vec(out[2]), {inv, 1.0f / std::sqrt(1e-6f)}, 1e-5f);
}

TEST(NormOps, LayerNormalizationMatchesReferenceForEveryAxis) {
  std::mt19937 rng(3);
  const Shape s = {2, 3, 4, 5};
  for (int64_t axis : {-1, -2, 1, 0, 3}) {
    for (bool with_bias : {true, false}) {
      for (bool broadcast_scale : {false, true}) {
        const int a = static_cast<int>(axis < 0 ? axis + 4 : axis);
        const Shape norm(s.begin() + a, s.end());
        int64_t d = 1;
        for (int64_t v : norm) d *= v;
        // A broadcast Scale: [1, last] or [1] (for 1-D norm).
        Shape scale_shape = norm;
        if (broadcast_scale) {
          scale_shape.assign(norm.size(), 1);
          scale_shape.back() = norm.back();
          if (norm.size() > 1) scale_shape.erase(scale_shape.begin());
        }
        Tensor x = Random(s, rng, -1, 3), scale = Random(scale_shape, rng),
               b = Random(norm, rng);
        OpCase c;
        c.op = "LayerNormalization";
        c.opset = 17;
        c.inputs = {x, scale};
        if (with_bias) c.inputs.push_back(b);
        c.attrs["axis"] = AInt(axis);
        c.attrs["epsilon"] = AFloat(1e-4f);
        c.num_outputs = 3;
        c.threads = 2;
        auto out = RunOk(c);
        ASSERT_EQ(out.size(), 3u);
        const int64_t rows = x.numel() / d;
        std::vector<float> want(x.numel()), mean(rows), inv(rows);
        const int64_t last = norm.back();
        for (int64_t r = 0; r < rows; ++r) {
          const float* xr = x.data<float>() + r * d;
          double m = 0, v = 0;
          for (int64_t i = 0; i < d; ++i) m += xr[i];
          m /= d;
          for (int64_t i = 0; i < d; ++i) v += (xr[i] - m) * (xr[i] - m);
          v /= d;
          mean[r] = static_cast<float>(m);
          inv[r] = static_cast<float>(1.0 / std::sqrt(v + 1e-4));
          for (int64_t i = 0; i < d; ++i) {
            const float sc = broadcast_scale ? scale.data<float>()[i % last]
                                             : scale.data<float>()[i];
            want[r * d + i] =
                static_cast<float>((xr[i] - m) * inv[r] * sc +
                                   (with_bias ? b.data<float>()[i] : 0.0f));
          }
        }
        ExpectNear(Vec(out[0]), want, 2e-5f);
        ExpectNear(Vec(out[1]), mean, 1e-5f);
        ExpectNear(Vec(out[2]), inv, 1e-5f);
        Shape stat = s;
        for (int i = a; i < 4; ++i) stat[i] = 1;
        EXPECT_EQ(out[1].shape(), stat);
      }
    }
  }
}

TEST(NormOps, LayerNormalizationErrors) {
  OpCase c;
  c.op = "LayerNormalization";
  c.opset = 17;
  c.inputs = {F32({2, 3}, {1, 2, 3, 4, 5, 6}), F32({3}, {1, 1, 1})};
  OpCase stash = c;
  stash.attrs["stash_type"] = AInt(11);
  std::string e = Error(stash);
  EXPECT_NE(e.find("n0"), std::string::npos) << e;
  EXPECT_NE(e.find("stash_type"), std::string::npos) << e;
  OpCase axis = c;
  axis.attrs["axis"] = AInt(2);
  e = Error(axis);
  EXPECT_NE(e.find("axis 2"), std::string::npos) << e;
  OpCase scale = c;
  scale.inputs[1] = F32({2}, {1, 1});
  e = Error(scale);
  EXPECT_NE(e.find("Scale"), std::string::npos) << e;
}

// ---- LRN --------------------------------------------------------------------

TEST(NormOps, LrnMatchesReference) {
  std::mt19937 rng(4);
  for (int64_t size : {1, 2, 3, 5}) {
    const Shape s = {2, 6, 3, 4};
    Tensor x = Random(s, rng);
    OpCase c;
    c.op = "LRN";
    c.inputs = {x};
    c.attrs["size"] = AInt(size);
    c.attrs["alpha"] = AFloat(0.5f);
    c.attrs["beta"] = AFloat(0.6f);
    c.attrs["bias"] = AFloat(2.0f);
    auto out = RunOk(c);
    ASSERT_EQ(out.size(), 1u);
    std::vector<float> want(x.numel());
    const float* px = x.data<float>();
    for (int64_t n = 0; n < 2; ++n) {
      for (int64_t ch = 0; ch < 6; ++ch) {
        for (int64_t i = 0; i < 12; ++i) {
          double sq = 0;
          for (int64_t k = ch - (size - 1) / 2; k <= ch + size / 2; ++k) {
            if (k < 0 || k >= 6) continue;
            const double v = px[(n * 6 + k) * 12 + i];
            sq += v * v;
          }
          const int64_t at = (n * 6 + ch) * 12 + i;
          want[at] =
              static_cast<float>(px[at] / std::pow(2.0 + 0.5 / size * sq, 0.6));
        }
      }
    }
    ExpectNear(Vec(out[0]), want, 1e-5f);
  }
}

TEST(NormOps, LrnNeedsSize) {
  OpCase c;
  c.op = "LRN";
  c.inputs = {F32({1, 2, 1, 1}, {1, 2})};
  const std::string e = Error(c);
  EXPECT_NE(e.find("n0"), std::string::npos) << e;
  EXPECT_NE(e.find("size"), std::string::npos) << e;
}

// ---- Softmax, LogSoftmax ---------------------------------------------------

// Softmax over [outer, len, inner] along len.
std::vector<float> RefSoftmax(const std::vector<float>& x, int64_t outer,
                              int64_t len, int64_t inner, bool log) {
  std::vector<float> y(x.size());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      auto at = [&](int64_t k) { return (o * len + k) * inner + i; };
      double m = -INFINITY, s = 0;
      for (int64_t k = 0; k < len; ++k) m = std::max<double>(m, x[at(k)]);
      for (int64_t k = 0; k < len; ++k) s += std::exp(x[at(k)] - m);
      for (int64_t k = 0; k < len; ++k) {
        y[at(k)] = static_cast<float>(log ? x[at(k)] - m - std::log(s)
                                          : std::exp(x[at(k)] - m) / s);
      }
    }
  }
  return y;
}

TEST(SoftmaxOps, HandComputed) {
  OpCase c;
  c.op = "Softmax";
  c.inputs = {F32({2, 3}, {1, 2, 3, 1000, 1000, 1000})};
  auto out = RunOk(c);
  ASSERT_EQ(out.size(), 1u);
  const double s = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  ExpectNear(
      Vec(out[0]),
      {static_cast<float>(std::exp(1.0) / s),
       static_cast<float>(std::exp(2.0) / s),
       static_cast<float>(std::exp(3.0) / s), 1 / 3.0f, 1 / 3.0f, 1 / 3.0f},
      1e-6f);
  c.op = "LogSoftmax";
  out = RunOk(c);
  ExpectNear(
      Vec(out[0]),
      {static_cast<float>(1 - std::log(s)), static_cast<float>(2 - std::log(s)),
       static_cast<float>(3 - std::log(s)), -std::log(3.0f), -std::log(3.0f),
       -std::log(3.0f)},
      1e-6f);
}

// Opset 11 coerces [2, 3, 4] at axis 1 to [2, 12]; opset 13 uses axis 1 only.
TEST(SoftmaxOps, Opset11FlattensTrailingDimsOpset13UsesOneAxis) {
  std::mt19937 rng(5);
  Tensor x = Random({2, 3, 4}, rng, -3, 3);
  const std::vector<float> xv = Vec(x);
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    const bool log = std::string(op) == "LogSoftmax";
    OpCase c;
    c.op = op;
    c.inputs = {x};
    c.attrs["axis"] = AInt(1);
    c.opset = 11;
    ExpectNear(Vec(RunOk(c)[0]), RefSoftmax(xv, 2, 12, 1, log), 1e-5f);
    c.opset = 13;
    ExpectNear(Vec(RunOk(c)[0]), RefSoftmax(xv, 2, 3, 4, log), 1e-5f);
    // Defaults: axis 1 (flattened) before 13, -1 from 13.
    c.attrs.clear();
    c.opset = 11;
    ExpectNear(Vec(RunOk(c)[0]), RefSoftmax(xv, 2, 12, 1, log), 1e-5f);
    c.opset = 1;
    ExpectNear(Vec(RunOk(c)[0]), RefSoftmax(xv, 2, 12, 1, log), 1e-5f);
    c.opset = 13;
    ExpectNear(Vec(RunOk(c)[0]), RefSoftmax(xv, 6, 4, 1, log), 1e-5f);
    // Axis 0 before 13: the whole tensor is one row.
    c.attrs["axis"] = AInt(0);
    c.opset = 11;
    ExpectNear(Vec(RunOk(c)[0]), RefSoftmax(xv, 1, 24, 1, log), 1e-5f);
    c.opset = 13;
    ExpectNear(Vec(RunOk(c)[0]), RefSoftmax(xv, 1, 2, 12, log), 1e-5f);
    c.attrs["axis"] = AInt(-2);
    ExpectNear(Vec(RunOk(c)[0]), RefSoftmax(xv, 2, 3, 4, log), 1e-5f);
    c.opset = 11;
    ExpectNear(Vec(RunOk(c)[0]), RefSoftmax(xv, 2, 12, 1, log), 1e-5f);
  }
}

TEST(SoftmaxOps, MatchesReferenceOnRandomShapesAndThreads) {
  std::mt19937 rng(6);
  const std::vector<Shape> shapes = {{7},          {3, 5},     {4, 1, 9},
                                     {2, 3, 4, 5}, {8, 6, 97}, {64, 300}};
  for (const Shape& s : shapes) {
    const int r = static_cast<int>(s.size());
    for (int axis = -r; axis < r; ++axis) {
      for (int threads : {1, 3}) {
        Tensor x = Random(s, rng, -10, 10);
        const int a = axis < 0 ? axis + r : axis;
        int64_t outer = 1, len = s[a], inner = 1;
        for (int i = 0; i < a; ++i) outer *= s[i];
        for (int i = a + 1; i < r; ++i) inner *= s[i];
        OpCase c;
        c.op = "Softmax";
        c.opset = 13;
        c.threads = threads;
        c.inputs = {x};
        c.attrs["axis"] = AInt(axis);
        ExpectNear(Vec(RunOk(c)[0]),
                   RefSoftmax(Vec(x), outer, len, inner, false), 1e-5f);
        c.op = "LogSoftmax";
        ExpectNear(Vec(RunOk(c)[0]),
                   RefSoftmax(Vec(x), outer, len, inner, true), 1e-5f);
      }
    }
  }
}

TEST(SoftmaxOps, MaskedEntriesGetExactlyZero) {
  const float inf = std::numeric_limits<float>::infinity();
  OpCase c;
  c.op = "Softmax";
  c.inputs = {F32({2, 3}, {0, -inf, 1, -1e30f, 2, -200})};
  auto out = RunOk(c);
  const std::vector<float> y = Values(out[0]);
  const float e = std::exp(1.0f);
  EXPECT_NEAR(y[0], 1 / (1 + e), 1e-6f);
  EXPECT_EQ(y[1], 0.0f);
  EXPECT_NEAR(y[2], e / (1 + e), 1e-6f);
  EXPECT_EQ(y[3], 0.0f);
  EXPECT_EQ(y[4], 1.0f);
  EXPECT_EQ(y[5], 0.0f);
  c.op = "LogSoftmax";
  out = RunOk(c);
  EXPECT_EQ(Values(out[0])[1], -inf);
  EXPECT_NEAR(Values(out[0])[5], -202.0f, 1e-4f);
  // NaN poisons its row only.
  c.op = "Softmax";
  c.inputs = {F32({2, 2}, {std::nanf(""), 1, 3, 3})};
  out = RunOk(c);
  EXPECT_TRUE(std::isnan(Values(out[0])[1]));
  EXPECT_EQ(Values(out[0])[2], 0.5f);
}

TEST(SoftmaxOps, AxisOutOfRange) {
  OpCase c;
  c.op = "Softmax";
  c.inputs = {F32({2, 3}, {1, 2, 3, 4, 5, 6})};
  c.attrs["axis"] = AInt(2);
  const std::string e = Error(c);
  EXPECT_NE(e.find("node n0 (Softmax)"), std::string::npos) << e;
  EXPECT_NE(e.find("axis 2"), std::string::npos) << e;
}

TEST(SoftmaxOps, RefusesNonFloatInput) {
  OpCase c;
  c.op = "Softmax";
  c.inputs = {testing::I64({2}, {1, 2})};
  const std::string e = Error(c);
  EXPECT_NE(e.find("f32"), std::string::npos) << e;
}

}  // namespace
}  // namespace lowbit::graph
