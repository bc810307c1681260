// Conv and ConvTranspose (graph/ops/conv.cc): hand-computed cases, a direct
// reference on random shapes (groups, depthwise, dilations, strides, pads,
// every auto_pad, 1-D to 3-D, 1 and 2 threads) and attribute errors.
#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "tests/support/graph_test_util.h"
#include "tests/support/scoped_target.h"

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

Tensor Random(Shape s, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(NumElements(s)));
  for (float& f : v) f = u(rng);
  return F32(std::move(s), v);
}

// Spatial values padded to three (leading `fill`).
A3 Pad3(const V& v, int64_t fill) {
  A3 a = {fill, fill, fill};
  for (size_t i = 0; i < v.size(); ++i) a[3 - v.size() + i] = v[i];
  return a;
}

// Resolved spatial parameters of one case (r values each).
struct Geo {
  V k, s, d, pb, pe;
};

// Direct convolution in double: every output, every input channel of its
// group, every tap.
std::vector<double> RefConv(const Tensor& x, const Tensor& w, const Tensor* b,
                            int64_t group, const Geo& g, const V& out_sp) {
  const int64_t n = x.dim(0), c = x.dim(1), m = w.dim(0);
  const int64_t cg = c / group, mg = m / group;
  V in_sp(x.shape().begin() + 2, x.shape().end());
  const A3 in = Pad3(in_sp, 1), k = Pad3(g.k, 1), s = Pad3(g.s, 1);
  const A3 d = Pad3(g.d, 1), pb = Pad3(g.pb, 0), out = Pad3(out_sp, 1);
  const float* xp = x.data<float>();
  const float* wp = w.data<float>();
  std::vector<double> y;
  for (int64_t nn = 0; nn < n; ++nn)
    for (int64_t mm = 0; mm < m; ++mm)
      for (int64_t od = 0; od < out[0]; ++od)
        for (int64_t oh = 0; oh < out[1]; ++oh)
          for (int64_t ow = 0; ow < out[2]; ++ow) {
            double acc = b != nullptr ? b->data<float>()[mm] : 0.0;
            const int64_t grp = mm / mg;
            for (int64_t cc = 0; cc < cg; ++cc)
              for (int64_t kd = 0; kd < k[0]; ++kd)
                for (int64_t kh = 0; kh < k[1]; ++kh)
                  for (int64_t kw = 0; kw < k[2]; ++kw) {
                    const int64_t id = od * s[0] - pb[0] + kd * d[0];
                    const int64_t ih = oh * s[1] - pb[1] + kh * d[1];
                    const int64_t iw = ow * s[2] - pb[2] + kw * d[2];
                    if (id < 0 || id >= in[0] || ih < 0 || ih >= in[1] ||
                        iw < 0 || iw >= in[2])
                      continue;
                    const int64_t ch = grp * cg + cc;
                    acc +=
                        static_cast<double>(
                            xp[(((nn * c + ch) * in[0] + id) * in[1] + ih) *
                                   in[2] +
                               iw]) *
                        wp[(((mm * cg + cc) * k[0] + kd) * k[1] + kh) * k[2] +
                           kw];
                  }
            y.push_back(acc);
          }
  return y;
}

// Direct transposed convolution in double: every input scattered through
// every tap.
std::vector<double> RefConvTranspose(const Tensor& x, const Tensor& w,
                                     const Tensor* b, int64_t group,
                                     const Geo& g, const V& out_sp) {
  const int64_t n = x.dim(0), c = x.dim(1), cg = c / group, mg = w.dim(1);
  const int64_t m = mg * group;
  V in_sp(x.shape().begin() + 2, x.shape().end());
  const A3 in = Pad3(in_sp, 1), k = Pad3(g.k, 1), s = Pad3(g.s, 1);
  const A3 d = Pad3(g.d, 1), pb = Pad3(g.pb, 0), out = Pad3(out_sp, 1);
  const int64_t plane = out[0] * out[1] * out[2];
  std::vector<double> y(static_cast<size_t>(n * m * plane));
  for (int64_t nn = 0; nn < n; ++nn)
    for (int64_t mm = 0; mm < m; ++mm)
      for (int64_t q = 0; q < plane; ++q)
        y[(nn * m + mm) * plane + q] =
            b != nullptr ? b->data<float>()[mm] : 0.0;
  const float* xp = x.data<float>();
  const float* wp = w.data<float>();
  for (int64_t nn = 0; nn < n; ++nn)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t id = 0; id < in[0]; ++id)
        for (int64_t ih = 0; ih < in[1]; ++ih)
          for (int64_t iw = 0; iw < in[2]; ++iw) {
            const double xv =
                xp[(((nn * c + ch) * in[0] + id) * in[1] + ih) * in[2] + iw];
            for (int64_t j = 0; j < mg; ++j)
              for (int64_t kd = 0; kd < k[0]; ++kd)
                for (int64_t kh = 0; kh < k[1]; ++kh)
                  for (int64_t kw = 0; kw < k[2]; ++kw) {
                    const int64_t od = id * s[0] - pb[0] + kd * d[0];
                    const int64_t oh = ih * s[1] - pb[1] + kh * d[1];
                    const int64_t ow = iw * s[2] - pb[2] + kw * d[2];
                    if (od < 0 || od >= out[0] || oh < 0 || oh >= out[1] ||
                        ow < 0 || ow >= out[2])
                      continue;
                    const int64_t mm = ch / cg * mg + j;
                    y[(nn * m + mm) * plane + (od * out[1] + oh) * out[2] +
                      ow] +=
                        xv *
                        wp[(((ch * mg + j) * k[0] + kd) * k[1] + kh) * k[2] +
                           kw];
                  }
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

std::string Describe(const OpCase& c) {
  std::string s = c.op + " x" + ShapeString(c.inputs[0].shape()) + " w" +
                  ShapeString(c.inputs[1].shape()) +
                  " threads=" + std::to_string(c.threads);
  for (const auto& [name, a] : c.attrs) {
    s += " " + name + "=" +
         (a.kind == Attribute::Kind::kInts     ? ShapeString(a.ints)
          : a.kind == Attribute::Kind::kString ? a.s
                                               : std::to_string(a.i));
  }
  return s;
}

// Runs a Conv case and compares with the reference (pads resolved by the
// caller, as the test reads the specification).
void CheckConv(const OpCase& c, int64_t group, const Geo& g) {
  const Tensor& x = c.inputs[0];
  const Tensor& w = c.inputs[1];
  const Tensor* b = c.inputs.size() > 2 ? &c.inputs[2] : nullptr;
  V out_sp;
  for (size_t i = 0; i < g.k.size(); ++i) {
    const int64_t keff = g.d[i] * (g.k[i] - 1) + 1;
    out_sp.push_back((x.dim(2 + i) + g.pb[i] + g.pe[i] - keff) / g.s[i] + 1);
  }
  Shape shape = {x.dim(0), w.dim(0)};
  shape.insert(shape.end(), out_sp.begin(), out_sp.end());
  auto r = RunOp(c);
  ASSERT_TRUE(r.ok()) << Describe(c) << ": " << r.status().message();
  ExpectClose((*r)[0], shape, RefConv(x, w, b, group, g, out_sp), Describe(c));
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

TEST(ConvOp, HandComputed) {
  const Tensor x = F32({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  const Tensor w = F32({1, 1, 2, 2}, {1, 1, 1, 1});
  OpCase c = Case("Conv", {x, w});
  auto r = RunOp(c);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].shape(), Shape({1, 1, 2, 2}));
  EXPECT_EQ(Values((*r)[0]), std::vector<float>({12, 16, 24, 28}));
  // Pads 1 and stride 2, with a bias.
  c.inputs.push_back(F32({1}, {0.5f}));
  c.attrs = {{"pads", AInts({1, 1, 1, 1})}, {"strides", AInts({2, 2})}};
  r = RunOp(c);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(Values((*r)[0]), std::vector<float>({1.5f, 5.5f, 11.5f, 28.5f}));
  // Two groups of 1x1: each output channel scales its own input channel.
  r = RunOp(Case("Conv",
                 {F32({1, 2, 1, 2}, {1, 2, 3, 4}), F32({2, 1, 1, 1}, {10, -1})},
                 {{"group", AInt(2)}}));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(Values((*r)[0]), std::vector<float>({10, 20, -3, -4}));
}

TEST(ConvOp, RandomShapesMatchReference) {
  std::mt19937 rng(7);
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  const char* kPads[] = {"NOTSET", "NOTSET", "SAME_UPPER", "SAME_LOWER",
                         "VALID"};
  for (int trial = 0; trial < 400; ++trial) {
    const int r = static_cast<int>(pick(1, 3));
    const int kind = static_cast<int>(pick(0, 3));  // plain, groups, dw, 1x1
    int64_t group = kind == 1 ? pick(2, 3) : 1, cg = pick(1, 4),
            mg = pick(1, 4);
    if (kind == 2) {
      group = pick(2, 6);
      cg = 1;
      mg = pick(1, 2);
    }
    Geo g;
    const std::string ap = kPads[pick(0, 4)];
    V in_sp;
    for (int i = 0; i < r; ++i) {
      g.k.push_back(kind == 3 ? 1 : pick(1, r == 3 ? 3 : 5));
      g.s.push_back(kind == 3 && trial % 2 ? 1 : pick(1, 3));
      g.d.push_back(pick(1, 2));
      const int64_t keff = g.d[i] * (g.k[i] - 1) + 1;
      in_sp.push_back(keff + pick(0, r == 3 ? 4 : 9));
    }
    for (int i = 0; i < r; ++i) {
      const int64_t keff = g.d[i] * (g.k[i] - 1) + 1;
      int64_t pb = pick(0, 2), pe = pick(0, 2);
      if (ap == "VALID") pb = pe = 0;
      if (ap == "SAME_UPPER" || ap == "SAME_LOWER") {
        const int64_t out = (in_sp[i] + g.s[i] - 1) / g.s[i];
        const int64_t total =
            std::max<int64_t>(0, (out - 1) * g.s[i] + keff - in_sp[i]);
        pb = ap == "SAME_UPPER" ? total / 2 : total - total / 2;
        pe = total - pb;
      }
      g.pb.push_back(pb);
      g.pe.push_back(pe);
    }
    const int64_t n = pick(1, 2), c = cg * group, m = mg * group;
    Shape xs = {n, c}, ws = {m, cg};
    xs.insert(xs.end(), in_sp.begin(), in_sp.end());
    ws.insert(ws.end(), g.k.begin(), g.k.end());
    OpCase oc = Case("Conv", {Random(xs, rng), Random(ws, rng)});
    oc.opset = static_cast<int>(pick(6, 21));
    if (pick(0, 1)) oc.inputs.push_back(Random({m}, rng));
    oc.threads = static_cast<int>(pick(1, 2));
    if (group > 1 || pick(0, 1)) oc.attrs["group"] = AInt(group);
    if (pick(0, 1)) oc.attrs["kernel_shape"] = AInts(g.k);
    oc.attrs["strides"] = AInts(g.s);
    oc.attrs["dilations"] = AInts(g.d);
    if (ap == "NOTSET") {
      V pads = g.pb;
      pads.insert(pads.end(), g.pe.begin(), g.pe.end());
      oc.attrs["pads"] = AInts(pads);
    } else {
      oc.attrs["auto_pad"] = AString(ap);
    }
    CheckConv(oc, group, g);
    if (HasFatalFailure() || HasFailure()) return;
  }
}

// Sizes that reach the tiles, chunks and vector tails of each path.
TEST(ConvOp, LargerCasesMatchReference) {
  std::mt19937 rng(11);
  struct Big {
    Shape x, w;
    int64_t group;
    V s, d, pads;
  };
  const Big cases[] = {
      {{1, 64, 40, 40}, {16, 64, 3, 3}, 1, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      {{1, 24, 33, 21}, {40, 24, 1, 1}, 1, {1, 1}, {1, 1}, {0, 0, 0, 0}},
      {{2, 32, 1, 1}, {8, 32, 1, 1}, 1, {1, 1}, {1, 1}, {0, 0, 0, 0}},
      {{1, 16, 9, 7}, {16, 8, 1, 1}, 2, {1, 1}, {1, 1}, {0, 0, 0, 0}},
      {{1, 12, 37, 45}, {12, 1, 3, 3}, 12, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      {{1, 8, 37, 45}, {8, 1, 3, 3}, 8, {2, 2}, {1, 1}, {1, 1, 1, 1}},
      {{2, 6, 30, 70}, {12, 1, 5, 5}, 6, {2, 1}, {1, 2}, {2, 0, 4, 3}},
      {{1, 4, 20, 19}, {4, 1, 3, 3}, 4, {1, 2}, {2, 3}, {0, 2, 1, 0}},
      {{1, 6, 40, 40}, {12, 3, 3, 3}, 2, {2, 2}, {1, 1}, {1, 0, 1, 0}},
      {{1, 3, 64, 64}, {8, 3, 3, 3}, 1, {2, 2}, {1, 1}, {1, 1, 1, 1}},
  };
  for (const Big& k : cases) {
    for (int threads : {1, 2}) {
      OpCase oc = Case("Conv", {Random(k.x, rng), Random(k.w, rng)});
      oc.inputs.push_back(Random({k.w[0]}, rng));
      oc.threads = threads;
      V pads = k.pads;
      oc.attrs = {{"group", AInt(k.group)},
                  {"strides", AInts(k.s)},
                  {"dilations", AInts(k.d)},
                  {"pads", AInts(pads)}};
      Geo g{{k.w[2], k.w[3]}, k.s, k.d, {pads[0], pads[1]}, {pads[2], pads[3]}};
      CheckConv(oc, k.group, g);
    }
  }
}

// The depthwise kernel is Highway code: every target this machine runs.
TEST(ConvOp, DepthwiseMatchesReferenceOnEveryTarget) {
  struct Dw {
    Shape x, w;
    V s, d, pads;
  };
  const Dw cases[] = {
      {{1, 3, 13, 37}, {3, 1, 3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      {{1, 2, 17, 50}, {4, 1, 3, 3}, {2, 2}, {1, 1}, {0, 1, 1, 0}},
      {{1, 2, 9, 71}, {2, 1, 5, 5}, {1, 3}, {1, 1}, {2, 2, 2, 2}},
      {{1, 2, 6, 5, 23},
       {2, 1, 3, 2, 3},
       {1, 1, 2},
       {2, 1, 1},
       {1, 0, 1, 1, 1, 1}},
  };
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    const test_support::ScopedTarget scoped(target);
    std::mt19937 rng(17);
    for (const Dw& k : cases) {
      const int64_t r = static_cast<int64_t>(k.x.size()) - 2;
      OpCase oc = Case("Conv", {Random(k.x, rng), Random(k.w, rng)},
                       {{"group", AInt(k.x[1])},
                        {"strides", AInts(k.s)},
                        {"dilations", AInts(k.d)},
                        {"pads", AInts(k.pads)}});
      Geo g{V(k.w.begin() + 2, k.w.end()), k.s, k.d,
            V(k.pads.begin(), k.pads.begin() + r),
            V(k.pads.begin() + r, k.pads.end())};
      SCOPED_TRACE(hwy::TargetName(target));
      CheckConv(oc, k.x[1], g);
    }
  }
}

TEST(ConvTransposeOp, HandComputed) {
  const Tensor x = F32({1, 1, 2, 2}, {1, 2, 3, 4});
  const Tensor w = F32({1, 1, 2, 2}, {1, 1, 1, 1});
  OpCase c = Case("ConvTranspose", {x, w});
  auto r = RunOp(c);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].shape(), Shape({1, 1, 3, 3}));
  EXPECT_EQ(Values((*r)[0]), std::vector<float>({1, 3, 2, 4, 10, 6, 3, 7, 4}));
  c.attrs = {{"strides", AInts({2, 2})}};
  r = RunOp(c);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(Values((*r)[0]), std::vector<float>({1, 1, 2, 2, 1, 1, 2, 2, 3, 3,
                                                 4, 4, 3, 3, 4, 4}));
}

// Runs a ConvTranspose case and compares it with the reference.
void CheckTranspose(const OpCase& oc, int64_t n, int64_t m, int64_t group,
                    bool bias, const Geo& g, const V& out_sp) {
  Shape shape = {n, m};
  shape.insert(shape.end(), out_sp.begin(), out_sp.end());
  auto res = RunOp(oc);
  ASSERT_TRUE(res.ok()) << Describe(oc) << ": " << res.status().message();
  ExpectClose(
      (*res)[0], shape,
      RefConvTranspose(oc.inputs[0], oc.inputs[1],
                       bias ? &oc.inputs[2] : nullptr, group, g, out_sp),
      Describe(oc));
}

TEST(ConvTransposeOp, RandomShapesMatchReference) {
  std::mt19937 rng(5);
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  for (int trial = 0; trial < 300; ++trial) {
    const int r = static_cast<int>(pick(1, 3));
    const int64_t group = pick(1, 3), cg = pick(1, 3), mg = pick(1, 3);
    // 0: pads, 1: output_shape, 2: SAME_UPPER, 3: SAME_LOWER, 4: VALID.
    const int mode = static_cast<int>(pick(0, 4));
    Geo g;
    V in_sp, opad, out_sp;
    for (int i = 0; i < r; ++i) {
      g.k.push_back(pick(1, r == 3 ? 3 : 4));
      g.s.push_back(pick(1, 3));
      g.d.push_back(pick(1, 2));
      in_sp.push_back(pick(1, r == 3 ? 4 : 7));
      opad.push_back(pick(0, g.s[i] - 1));
      const int64_t full =
          g.s[i] * (in_sp[i] - 1) + opad[i] + g.d[i] * (g.k[i] - 1) + 1;
      int64_t pb = 0, pe = 0, out = full;
      if (mode == 0) {
        pb = pick(0, std::min<int64_t>(2, (full - 1) / 2));
        pe = pick(0, std::min<int64_t>(2, (full - 1) / 2));
      } else if (mode == 1 || mode == 2 || mode == 3) {
        out = mode == 1 ? full - pick(0, std::min<int64_t>(3, full - 1))
                        : in_sp[i] * g.s[i];
        const int64_t total = std::max<int64_t>(0, full - out);
        pb = mode == 2 ? total / 2 : total - total / 2;
        pe = total - pb;
      }
      g.pb.push_back(pb);
      g.pe.push_back(pe);
      out_sp.push_back(full - pb - pe);
    }
    const int64_t n = pick(1, 2), c = cg * group, m = mg * group;
    Shape xs = {n, c}, ws = {c, mg};
    xs.insert(xs.end(), in_sp.begin(), in_sp.end());
    ws.insert(ws.end(), g.k.begin(), g.k.end());
    OpCase oc = Case("ConvTranspose", {Random(xs, rng), Random(ws, rng)});
    oc.opset = static_cast<int>(pick(11, 21));
    const bool bias = pick(0, 1);
    if (bias) oc.inputs.push_back(Random({m}, rng));
    oc.threads = static_cast<int>(pick(1, 2));
    oc.attrs["group"] = AInt(group);
    oc.attrs["strides"] = AInts(g.s);
    oc.attrs["dilations"] = AInts(g.d);
    oc.attrs["output_padding"] = AInts(opad);
    if (mode == 0) {
      V pads = g.pb;
      pads.insert(pads.end(), g.pe.begin(), g.pe.end());
      oc.attrs["pads"] = AInts(pads);
    } else if (mode == 1) {
      oc.attrs["output_shape"] = AInts(out_sp);
    } else {
      oc.attrs["auto_pad"] = AString(mode == 2   ? "SAME_UPPER"
                                     : mode == 3 ? "SAME_LOWER"
                                                 : "VALID");
    }
    CheckTranspose(oc, n, m, group, bias, g, out_sp);
    if (HasFailure()) return;
  }
}

// Kernel equal to stride (each output from exactly one tap: the path that
// writes outputs directly), with pads that crop, groups, 1-D to 3-D, one and
// two threads.
TEST(ConvTransposeOp, KernelEqualToStrideMatchesReference) {
  std::mt19937 rng(11);
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  for (int trial = 0; trial < 200; ++trial) {
    const int r = static_cast<int>(pick(1, 3));
    const int64_t group = pick(1, 3), cg = pick(1, 4), mg = pick(1, 3);
    Geo g;
    V in_sp, out_sp, pads(2 * r);
    for (int i = 0; i < r; ++i) {
      g.k.push_back(pick(1, 3));
      g.s.push_back(g.k[i]);
      g.d.push_back(g.k[i] == 1 ? pick(1, 2) : 1);
      in_sp.push_back(pick(1, r == 3 ? 5 : 9));
      const int64_t full = g.s[i] * in_sp[i];
      const int64_t pb = pick(0, std::min<int64_t>(2, (full - 1) / 2));
      const int64_t pe = pick(0, std::min<int64_t>(2, (full - 1) / 2));
      g.pb.push_back(pb);
      g.pe.push_back(pe);
      pads[i] = pb;
      pads[r + i] = pe;
      out_sp.push_back(full - pb - pe);
    }
    const int64_t n = pick(1, 2), c = cg * group, m = mg * group;
    Shape xs = {n, c}, ws = {c, mg};
    xs.insert(xs.end(), in_sp.begin(), in_sp.end());
    ws.insert(ws.end(), g.k.begin(), g.k.end());
    OpCase oc = Case("ConvTranspose", {Random(xs, rng), Random(ws, rng)});
    const bool bias = pick(0, 1);
    if (bias) oc.inputs.push_back(Random({m}, rng));
    oc.threads = static_cast<int>(pick(1, 2));
    oc.attrs["group"] = AInt(group);
    oc.attrs["strides"] = AInts(g.s);
    oc.attrs["dilations"] = AInts(g.d);
    oc.attrs["pads"] = AInts(pads);
    CheckTranspose(oc, n, m, group, bias, g, out_sp);
    if (HasFailure()) return;
  }
}

TEST(ConvTransposeOp, LargerCaseMatchesReference) {
  std::mt19937 rng(3);
  for (int threads : {1, 2}) {
    OpCase oc = Case("ConvTranspose",
                     {Random({1, 24, 40, 40}, rng), Random({24, 12, 2, 2}, rng),
                      Random({12}, rng)},
                     {{"strides", AInts({2, 2})}});
    oc.threads = threads;
    Geo g{{2, 2}, {2, 2}, {1, 1}, {0, 0}, {0, 0}};
    auto res = RunOp(oc);
    ASSERT_TRUE(res.ok()) << res.status().message();
    ExpectClose((*res)[0], {1, 12, 80, 80},
                RefConvTranspose(oc.inputs[0], oc.inputs[1], &oc.inputs[2], 1,
                                 g, {80, 80}),
                "ConvTranspose 24->12 2x2 stride 2");
  }
  // Two groups of one output channel each (tiles split between threads).
  for (int threads : {1, 2}) {
    OpCase oc = Case("ConvTranspose",
                     {Random({1, 8, 30, 20}, rng), Random({8, 1, 2, 2}, rng),
                      Random({2}, rng)},
                     {{"strides", AInts({2, 2})}, {"group", AInt(2)}});
    oc.threads = threads;
    Geo g{{2, 2}, {2, 2}, {1, 1}, {0, 0}, {0, 0}};
    auto res = RunOp(oc);
    ASSERT_TRUE(res.ok()) << res.status().message();
    ExpectClose((*res)[0], {1, 2, 60, 40},
                RefConvTranspose(oc.inputs[0], oc.inputs[1], &oc.inputs[2], 2,
                                 g, {60, 40}),
                "ConvTranspose 8->2 in two groups, 2x2 stride 2");
  }
}

void ExpectError(const OpCase& c, const std::string& part) {
  auto r = RunOp(c);
  ASSERT_FALSE(r.ok()) << Describe(c);
  const std::string& m = r.status().message();
  EXPECT_NE(m.find("n0"), std::string::npos) << m;
  EXPECT_NE(m.find(part), std::string::npos) << m;
}

TEST(ConvOp, BadAttributesAndShapesAreRefused) {
  const Tensor x = F32({1, 4, 5, 5}, std::vector<float>(100, 1.0f));
  const Tensor w = F32({2, 4, 3, 3}, std::vector<float>(72, 1.0f));
  auto conv = [&](std::map<std::string, Attribute> a) {
    return Case("Conv", {x, w}, std::move(a));
  };
  ExpectError(conv({{"pads", AInts({0, -1, 0, 0})}}), "pads");
  ExpectError(conv({{"pads", AInts({1, 1, 1})}}), "pads");
  ExpectError(conv({{"strides", AInts({1, 0})}}), "strides");
  ExpectError(conv({{"dilations", AInts({-1, 1})}}), "dilations");
  ExpectError(conv({{"kernel_shape", AInts({3, 0})}}), "kernel_shape");
  ExpectError(conv({{"group", AInt(0)}}), "group");
  ExpectError(conv({{"auto_pad", AString("SAME")}}), "auto_pad");
  ExpectError(
      conv({{"strides", AInts({1, 1, 1})}, {"kernel_shape", AInts({3, 3})}}),
      "strides");
  // Shapes, found when the plan is made.
  ExpectError(conv({{"strides", AInts({1, 1, 1})}}), "strides");
  ExpectError(conv({{"kernel_shape", AInts({2, 2})}}), "kernel_shape");
  ExpectError(conv({{"group", AInt(3)}}), "group");
  ExpectError(conv({{"group", AInt(2)}}), "input channels");
  ExpectError(
      conv({{"pads", AInts({0, 0, 0, 0})}, {"dilations", AInts({3, 3})}}),
      "larger than the padded input");
  ExpectError(Case("Conv", {F32({4, 5}, std::vector<float>(20)), w}), "rank");
  ExpectError(Case("Conv", {x, w, F32({3}, {1, 2, 3})}), "B has");
  ExpectError(Case("ConvTranspose", {x, w}), "channels");
  const Tensor wt = F32({4, 2, 3, 3}, std::vector<float>(72, 1.0f));
  ExpectError(
      Case("ConvTranspose", {x, wt}, {{"output_shape", AInts({20, 20})}}),
      "output_shape");
  ExpectError(
      Case("ConvTranspose", {x, wt}, {{"output_padding", AInts({-1, 0})}}),
      "output_padding");
}

// Not run by default (--gtest_also_run_disabled_tests): GFLOP/s of typical
// PaddleOCR mobile convolutions on one thread (set OPENBLAS_NUM_THREADS=1;
// LOWBIT_CONV_BENCH=<part of a case name> runs only the matching cases).
TEST(ConvBench, DISABLED_Speed) {
  std::mt19937 rng(1);
  struct Bench {
    const char* what;
    Shape x, w;
    int64_t group, stride, pad;
  };
  const Bench cases[] = {
      {"1x1 64->128 80x80", {1, 64, 80, 80}, {128, 64, 1, 1}, 1, 1, 0},
      {"dw 3x3 128 80x80 s1", {1, 128, 80, 80}, {128, 1, 3, 3}, 128, 1, 1},
      {"dw 3x3 128 80x80 s2", {1, 128, 80, 80}, {128, 1, 3, 3}, 128, 2, 1},
      {"dw 5x5 128 40x40 s1", {1, 128, 40, 40}, {128, 1, 5, 5}, 128, 1, 2},
      {"3x3 32->64 80x80", {1, 32, 80, 80}, {64, 32, 3, 3}, 1, 1, 1},
  };
  const char* only = std::getenv("LOWBIT_CONV_BENCH");  // a case name part
  for (const Bench& k : cases) {
    if (only != nullptr && std::string(k.what).find(only) == std::string::npos)
      continue;
    auto g = std::make_shared<Graph>();
    g->opsets[""] = 13;
    Node n;
    n.op = "Conv";
    n.name = "n0";
    n.inputs = {g->ValueId("x"), g->ValueId("w")};
    n.outputs = {g->ValueId("y")};
    n.attrs = {{"group", AInt(k.group)},
               {"strides", AInts({k.stride, k.stride})},
               {"pads", AInts({k.pad, k.pad, k.pad, k.pad})}};
    g->constants[n.inputs[1]] = Random(k.w, rng);
    ValueInfo xi, yi;
    xi.name = "x";
    yi.name = "y";
    g->inputs.push_back(xi);
    g->input_ids.push_back(n.inputs[0]);
    g->outputs.push_back(yi);
    g->output_ids.push_back(n.outputs[0]);
    g->nodes.push_back(n);
    SessionOptions o;
    o.threads = 1;
    auto s = Session::Create(g, o);
    ASSERT_TRUE(s.ok()) << s.status().message();
    const std::map<std::string, Tensor> feeds = {{"x", Random(k.x, rng)}};
    double best = 1e30;
    int64_t flops = 0;
    for (int it = 0; it < 300; ++it) {
      const auto t0 = std::chrono::steady_clock::now();
      auto out = (*s)->Run(feeds);
      const auto t1 = std::chrono::steady_clock::now();
      ASSERT_TRUE(out.ok()) << out.status().message();
      best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
      flops = 2 * (*out)[0].numel() * NumElements(k.w) / k.w[0];
    }
    std::printf("%-24s %8.3f ms %7.2f GFLOP/s\n", k.what, best * 1e3,
                static_cast<double>(flops) / best * 1e-9);
  }
}

}  // namespace
}  // namespace lowbit::graph
