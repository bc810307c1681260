// MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool (graph/ops/pool.cc):
// hand-computed cases, a direct reference on random shapes (strides,
// dilations, asymmetric pads, auto_pad, ceil_mode, count_include_pad, 1-D to
// 3-D) and attribute errors.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "tests/support/graph_test_util.h"

namespace lowbit::graph {
namespace {

using testing::AInt;
using testing::AInts;
using testing::AString;
using testing::F32;
using testing::OpCase;
using testing::RunOp;
using testing::Values;
using V = std::vector<int64_t>;
using A3 = std::array<int64_t, 3>;

A3 Pad3(const V& v, int64_t fill) {
  A3 a = {fill, fill, fill};
  for (size_t i = 0; i < v.size(); ++i) a[3 - v.size() + i] = v[i];
  return a;
}

struct Geo {
  V k, s, d, pb, pe, out;
};

// Direct pooling in double over every tap of every output: max over the taps
// inside the input; average over them, divided by their count or (include
// pad) by the count of taps inside the padded input.
std::vector<double> RefPool(const Tensor& x, bool is_max, bool include_pad,
                            const Geo& g) {
  const int64_t planes = x.dim(0) * x.dim(1);
  V in_sp(x.shape().begin() + 2, x.shape().end());
  const A3 in = Pad3(in_sp, 1), k = Pad3(g.k, 1), s = Pad3(g.s, 1);
  const A3 d = Pad3(g.d, 1), pb = Pad3(g.pb, 0), pe = Pad3(g.pe, 0);
  const A3 out = Pad3(g.out, 1);
  const float* xp = x.data<float>();
  std::vector<double> y;
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t od = 0; od < out[0]; ++od)
      for (int64_t oh = 0; oh < out[1]; ++oh)
        for (int64_t ow = 0; ow < out[2]; ++ow) {
          double acc = is_max ? -std::numeric_limits<double>::infinity() : 0;
          int64_t n = 0, npad = 0;
          for (int64_t kd = 0; kd < k[0]; ++kd)
            for (int64_t kh = 0; kh < k[1]; ++kh)
              for (int64_t kw = 0; kw < k[2]; ++kw) {
                const A3 pos = {od * s[0] - pb[0] + kd * d[0],
                                oh * s[1] - pb[1] + kh * d[1],
                                ow * s[2] - pb[2] + kw * d[2]};
                bool inside = true, padded = true;
                for (int j = 0; j < 3; ++j) {
                  inside = inside && pos[j] >= 0 && pos[j] < in[j];
                  padded = padded && pos[j] >= -pb[j] && pos[j] < in[j] + pe[j];
                }
                npad += padded;
                if (!inside) continue;
                ++n;
                const double v =
                    xp[((p * in[0] + pos[0]) * in[1] + pos[1]) * in[2] +
                       pos[2]];
                acc = is_max ? std::max(acc, v) : acc + v;
              }
          if (!is_max) {
            const int64_t div = include_pad ? npad : n;
            acc = div > 0 ? acc / static_cast<double>(div) : 0.0;
          }
          y.push_back(acc);
        }
  return y;
}

void ExpectClose(const Tensor& got, const Shape& shape,
                 const std::vector<double>& want, const std::string& what) {
  ASSERT_EQ(got.shape(), shape) << what;
  const float* g = got.data<float>();
  int bad = 0;
  for (size_t i = 0; i < want.size() && bad < 5; ++i) {
    if (std::fabs(g[i] - want[i]) > 1e-4 * (1.0 + std::fabs(want[i]))) {
      ADD_FAILURE() << what << ": element " << i << " is " << g[i] << ", want "
                    << want[i];
      ++bad;
    }
  }
}

// A one-operator case: opset 13, one thread unless changed.
OpCase Case(const std::string& op, std::vector<Tensor> in,
            std::map<std::string, Attribute> attrs = {}) {
  OpCase c;
  c.op = op;
  c.inputs = std::move(in);
  c.attrs = std::move(attrs);
  return c;
}

TEST(PoolOp, HandComputed) {
  const Tensor x = F32({1, 1, 4, 4},
                       {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16});
  OpCase c =
      Case("MaxPool", {x},
           {{"kernel_shape", AInts({2, 2})}, {"strides", AInts({2, 2})}});
  auto r = RunOp(c);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].shape(), Shape({1, 1, 2, 2}));
  EXPECT_EQ(Values((*r)[0]), std::vector<float>({6, 8, 14, 16}));
  c.op = "AveragePool";
  r = RunOp(c);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(Values((*r)[0]), std::vector<float>({3.5f, 5.5f, 11.5f, 13.5f}));
  // 3x3 windows with pads 1 on a 3x3 input: the corner sees 4 values.
  const Tensor x3 = F32({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  OpCase a =
      Case("AveragePool", {x3},
           {{"kernel_shape", AInts({3, 3})}, {"pads", AInts({1, 1, 1, 1})}});
  r = RunOp(a);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FLOAT_EQ(Values((*r)[0])[0], (1 + 2 + 4 + 5) / 4.0f);
  EXPECT_FLOAT_EQ(Values((*r)[0])[4], 5.0f);
  a.attrs["count_include_pad"] = AInt(1);
  r = RunOp(a);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FLOAT_EQ(Values((*r)[0])[0], (1 + 2 + 4 + 5) / 9.0f);
  // ceil_mode: a last, partial window.
  OpCase m = Case("MaxPool", {F32({1, 1, 5}, {3, 1, 4, 1, 5})},
                  {{"kernel_shape", AInts({2})}, {"strides", AInts({2})}});
  r = RunOp(m);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(Values((*r)[0]), std::vector<float>({3, 4}));
  m.attrs["ceil_mode"] = AInt(1);
  r = RunOp(m);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(Values((*r)[0]), std::vector<float>({3, 4, 5}));
}

TEST(PoolOp, GlobalPools) {
  std::vector<float> v(2 * 3 * 5 * 7);
  for (size_t i = 0; i < v.size(); ++i) {
    v[i] = static_cast<float>((i * 37) % 101) - 50.0f;
  }
  const Tensor x = F32({2, 3, 5, 7}, v);
  for (const char* op : {"GlobalAveragePool", "GlobalMaxPool"}) {
    auto r = RunOp(Case(op, {x}));
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ((*r)[0].shape(), Shape({2, 3, 1, 1}));
    for (int p = 0; p < 6; ++p) {
      double sum = 0, mx = -1e30;
      for (int i = 0; i < 35; ++i) {
        sum += v[p * 35 + i];
        mx = std::max<double>(mx, v[p * 35 + i]);
      }
      const double want = std::string(op) == "GlobalMaxPool" ? mx : sum / 35;
      EXPECT_NEAR((*r)[0].data<float>()[p], want, 1e-4) << op << " " << p;
    }
  }
  auto r = RunOp(Case("GlobalAveragePool",
                      {F32({1, 2, 2, 1, 2}, {1, 2, 3, 4, 5, 6, 7, 8})}));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].shape(), Shape({1, 2, 1, 1, 1}));
  EXPECT_EQ(Values((*r)[0]), std::vector<float>({2.5f, 6.5f}));
}

TEST(PoolOp, RandomShapesMatchReference) {
  std::mt19937 rng(9);
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  const char* kPads[] = {"NOTSET", "NOTSET", "SAME_UPPER", "SAME_LOWER",
                         "VALID"};
  for (int trial = 0; trial < 400; ++trial) {
    const int r = static_cast<int>(pick(1, 3));
    const bool is_max = pick(0, 1);
    const bool ceil_mode = pick(0, 1), include_pad = pick(0, 1);
    const std::string ap = kPads[pick(0, 4)];
    Geo g;
    V in_sp;
    for (int i = 0; i < r; ++i) {
      g.k.push_back(pick(1, r == 3 ? 3 : 4));
      g.s.push_back(pick(1, 3));
      g.d.push_back(pick(1, 2));
      const int64_t keff = g.d[i] * (g.k[i] - 1) + 1;
      const int64_t in = keff + pick(0, r == 3 ? 4 : 8);
      in_sp.push_back(in);
      int64_t pb = pick(0, g.k[i] - 1), pe = pick(0, g.k[i] - 1), out = 0;
      if (ap == "SAME_UPPER" || ap == "SAME_LOWER") {
        out = (in + g.s[i] - 1) / g.s[i];
        const int64_t total =
            std::max<int64_t>(0, (out - 1) * g.s[i] + keff - in);
        pb = ap == "SAME_UPPER" ? total / 2 : total - total / 2;
        pe = total - pb;
      } else {
        if (ap == "VALID") pb = pe = 0;
        const int64_t span = in + pb + pe - keff;
        out = (ceil_mode ? (span + g.s[i] - 1) / g.s[i] : span / g.s[i]) + 1;
        // The last window must start inside the input or its begin pad.
        if (ceil_mode && (out - 1) * g.s[i] >= in + pb) --out;
      }
      g.pb.push_back(pb);
      g.pe.push_back(pe);
      g.out.push_back(out);
    }
    Shape xs = {pick(1, 2), pick(1, 3)};
    xs.insert(xs.end(), in_sp.begin(), in_sp.end());
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> xv(static_cast<size_t>(NumElements(xs)));
    for (float& f : xv) f = u(rng);
    OpCase oc = Case(is_max ? "MaxPool" : "AveragePool", {F32(xs, xv)});
    oc.opset = 19;
    oc.threads = static_cast<int>(pick(1, 2));
    oc.attrs["kernel_shape"] = AInts(g.k);
    oc.attrs["strides"] = AInts(g.s);
    oc.attrs["dilations"] = AInts(g.d);
    oc.attrs["ceil_mode"] = AInt(ceil_mode);
    if (!is_max) oc.attrs["count_include_pad"] = AInt(include_pad);
    if (ap == "NOTSET") {
      V pads = g.pb;
      pads.insert(pads.end(), g.pe.begin(), g.pe.end());
      oc.attrs["pads"] = AInts(pads);
    } else {
      oc.attrs["auto_pad"] = AString(ap);
    }
    const std::string what = oc.op + " x" + ShapeString(xs) + " k" +
                             ShapeString(g.k) + " s" + ShapeString(g.s) + " d" +
                             ShapeString(g.d) + " pb" + ShapeString(g.pb) +
                             " pe" + ShapeString(g.pe) + " " + ap +
                             " ceil=" + std::to_string(ceil_mode) +
                             " include_pad=" + std::to_string(include_pad);
    auto res = RunOp(oc);
    ASSERT_TRUE(res.ok()) << what << ": " << res.status().message();
    Shape shape = {xs[0], xs[1]};
    shape.insert(shape.end(), g.out.begin(), g.out.end());
    ExpectClose((*res)[0], shape,
                RefPool(oc.inputs[0], is_max, include_pad && !is_max, g), what);
    if (HasFailure()) return;
  }
}

// The 2x2, stride-2 MaxPool of CNNs has a path of its own: exactly the
// reference's maxima, odd sizes (a row and column no window reads) and ties
// included, on one thread and two.
TEST(PoolOp, MaxPool2x2MatchesReference) {
  std::mt19937 rng(11);
  for (int64_t h = 2; h <= 7; ++h) {
    for (int64_t w = 2; w <= 9; w += 3) {
      const Shape xs = {2, 3, h, w};
      std::vector<float> xv(static_cast<size_t>(NumElements(xs)));
      for (float& f : xv) {  // few distinct values: many ties
        f = static_cast<float>(static_cast<int>(rng() % 7) - 3) * 0.5f;
      }
      OpCase oc = Case("MaxPool", {F32(xs, xv)});
      oc.threads = 1 + static_cast<int>(h % 2);
      oc.attrs["kernel_shape"] = AInts({2, 2});
      oc.attrs["strides"] = AInts({2, 2});
      Geo g{{2, 2}, {2, 2}, {1, 1}, {0, 0}, {0, 0}, {h / 2, w / 2}};
      auto res = RunOp(oc);
      ASSERT_TRUE(res.ok()) << res.status().message();
      const std::vector<double> want = RefPool(oc.inputs[0], true, false, g);
      const Tensor& got = (*res)[0];
      ASSERT_EQ(got.shape(), (Shape{2, 3, h / 2, w / 2}));
      for (size_t i = 0; i < want.size(); ++i) {
        ASSERT_EQ(got.data<float>()[i], want[i]) << h << "x" << w << " " << i;
      }
    }
  }
}

void ExpectError(const OpCase& c, const std::string& part) {
  auto r = RunOp(c);
  ASSERT_FALSE(r.ok()) << c.op;
  const std::string& m = r.status().message();
  EXPECT_NE(m.find("n0"), std::string::npos) << m;
  EXPECT_NE(m.find(part), std::string::npos) << m;
}

TEST(PoolOp, BadAttributesAndShapesAreRefused) {
  const Tensor x = F32({1, 2, 4, 4}, std::vector<float>(32, 1.0f));
  auto pool = [&](const char* op, std::map<std::string, Attribute> a) {
    if (a.count("kernel_shape") == 0) a["kernel_shape"] = AInts({2, 2});
    return Case(op, {x}, std::move(a));
  };
  ExpectError(Case("MaxPool", {x}), "kernel_shape");
  ExpectError(pool("MaxPool", {{"pads", AInts({0, 0, -1, 0})}}), "pads");
  ExpectError(pool("MaxPool", {{"strides", AInts({0, 1})}}), "strides");
  ExpectError(pool("MaxPool", {{"dilations", AInts({1, 0})}}), "dilations");
  ExpectError(pool("AveragePool", {{"kernel_shape", AInts({2, -2})}}),
              "kernel_shape");
  ExpectError(pool("AveragePool", {{"strides", AInts({1, 1, 1})}}), "strides");
  ExpectError(pool("AveragePool", {{"auto_pad", AString("SAME_LEFT")}}),
              "auto_pad");
  ExpectError(pool("AveragePool", {{"ceil_mode", AInt(2)}}), "ceil_mode");
  ExpectError(pool("AveragePool", {{"count_include_pad", AInt(-1)}}),
              "count_include_pad");
  ExpectError(pool("MaxPool", {{"storage_order", AInt(1)}}), "storage_order");
  OpCase two = pool("MaxPool", {});
  two.num_outputs = 2;
  ExpectError(two, "Indices");
  // Shapes, found when the plan is made.
  ExpectError(pool("MaxPool", {{"kernel_shape", AInts({2})}}), "kernel_shape");
  ExpectError(pool("MaxPool", {{"kernel_shape", AInts({5, 2})}}),
              "larger than the padded input");
  ExpectError(Case("GlobalAveragePool", {F32({2, 3}, std::vector<float>(6))}),
              "rank 3");
}

}  // namespace
}  // namespace lowbit::graph
