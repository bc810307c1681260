#include "graph/calib_stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "graph/session.h"
#include "tests/support/graph_test_util.h"

namespace lowbit::graph {
namespace {

using testing::AInt;
using testing::AInts;

Tensor Rand(Shape shape, std::mt19937& rng) {
  Tensor t = Tensor::Zeros(DType::kF32, std::move(shape));
  std::uniform_real_distribution<float> u(-1, 1);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
  return t;
}

// One node reading graph input "x" and constant "w" (and "b"), output "y".
std::shared_ptr<Graph> OneNode(const std::string& op, const Tensor& w,
                               std::map<std::string, Attribute> attrs) {
  auto g = std::make_shared<Graph>();
  g->opsets[""] = 13;
  const int x = g->ValueId("x"), wid = g->ValueId("w"), y = g->ValueId("y");
  ValueInfo vi;
  vi.name = "x";
  vi.dtype = DType::kF32;
  g->inputs.push_back(vi);
  g->input_ids.push_back(x);
  g->constants[wid] = w;
  Node n;
  n.op = op;
  n.name = "layer";
  n.attrs = std::move(attrs);
  n.inputs = {x, wid};
  n.outputs = {y};
  g->nodes.push_back(n);
  ValueInfo vo;
  vo.name = "y";
  g->outputs.push_back(vo);
  g->output_ids.push_back(y);
  return g;
}

// Runs the samples through the graph with a collector; returns the layer of
// weight "w" and the outputs.
LayerStats Collect(const std::shared_ptr<Graph>& g,
                   const std::vector<Tensor>& samples,
                   std::vector<Tensor>* outputs, int threads = 1) {
  CalibStatsCollector col;
  SessionOptions o;
  o.fuse = false;
  o.threads = threads;
  o.observer = &col;
  auto s = Session::Create(g, o);
  EXPECT_TRUE(s.ok()) << s.status().message();
  if (!s.ok()) return {};
  for (const Tensor& x : samples) {
    auto out = (*s)->Run({{"x", x}});
    EXPECT_TRUE(out.ok()) << out.status().message();
    if (out.ok()) outputs->push_back((*out)[0]);
  }
  col.Finish();
  EXPECT_EQ(col.layers().count("w"), 1u);
  return col.layers().count("w") ? col.layers().at("w") : LayerStats{};
}

void ExpectNear(const std::vector<double>& got, const std::vector<double>& want,
                const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double top = 0, diff = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    top = std::max(top, std::fabs(want[i]));
    diff = std::max(diff, std::fabs(got[i] - want[i]));
  }
  EXPECT_LE(diff, 1e-5 * std::max(1.0, top)) << what;
}

// A grouped, strided, padded Conv: H per group is the sum over every output
// position of the patch outer products, patches in the weight's column order
// (channel, kernel row, kernel column), zeros where the window leaves the
// image; the output sums are the outputs'.
TEST(CalibStats, ConvPatchesPerGroup) {
  std::mt19937 rng(1);
  const int64_t c = 4, m = 6, group = 2, kh = 3, kw = 2;
  const Tensor w = Rand({m, c / group, kh, kw}, rng);
  auto g = OneNode("Conv", w,
                   {{"group", AInt(group)},
                    {"strides", AInts({2, 1})},
                    {"pads", AInts({1, 0, 1, 1})}});
  std::vector<Tensor> samples = {Rand({1, c, 7, 5}, rng),
                                 Rand({2, c, 7, 5}, rng)};
  std::vector<Tensor> outs;
  const LayerStats s = Collect(g, samples, &outs);
  const int64_t cg = c / group, k = cg * kh * kw;
  ASSERT_EQ(s.groups, group);
  ASSERT_EQ(s.cols, k);
  std::vector<double> h(static_cast<size_t>(group * k * k), 0.0),
      sa(static_cast<size_t>(group * k), 0.0),
      sq(static_cast<size_t>(group * k), 0.0),
      osum(static_cast<size_t>(m), 0.0);
  int64_t rows = 0;
  std::vector<double> p(static_cast<size_t>(k));
  for (const Tensor& x : samples) {
    const int64_t n = x.dim(0), ih = 7, iw = 5;
    const int64_t oh = (ih + 2 - kh) / 2 + 1, ow = (iw + 1 - kw) + 1;
    rows += n * oh * ow;
    for (int64_t b = 0; b < n; ++b) {
      for (int64_t gi = 0; gi < group; ++gi) {
        for (int64_t y = 0; y < oh; ++y) {
          for (int64_t xx = 0; xx < ow; ++xx) {
            for (int64_t ch = 0; ch < cg; ++ch) {
              for (int64_t a = 0; a < kh; ++a) {
                for (int64_t e = 0; e < kw; ++e) {
                  const int64_t r = y * 2 - 1 + a, q = xx + e;
                  const bool in = r >= 0 && r < ih && q >= 0 && q < iw;
                  p[(ch * kh + a) * kw + e] =
                      in ? x.data<float>()[((b * c + gi * cg + ch) * ih + r) *
                                               iw +
                                           q]
                         : 0.0;
                }
              }
            }
            for (int64_t i = 0; i < k; ++i) {
              sa[gi * k + i] += std::fabs(p[i]);
              sq[gi * k + i] += p[i] * p[i];
              for (int64_t j = 0; j < k; ++j) {
                h[(gi * k + i) * k + j] += p[i] * p[j];
              }
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(s.rows, rows);
  ExpectNear(s.h, h, "H");
  ExpectNear(s.sum_abs, sa, "sum |x|");
  ExpectNear(s.sum_sq, sq, "sum x^2");
  for (const Tensor& y : outs) {
    const int64_t per = y.numel() / (y.dim(0) * m);
    for (int64_t i = 0; i < y.numel(); ++i) {
      osum[i / per % m] += y.data<float>()[i];
    }
  }
  ExpectNear(s.out_sum, osum, "output sums");
}

// MatMul [.., K] x [K, N] and Gemm with transposed operands: H = sum x x^T
// over the rows of the left operand (its columns when transA).
TEST(CalibStats, MatMulAndGemmRows) {
  std::mt19937 rng(2);
  const int64_t k = 5, n = 3;
  struct Case {
    const char* op;
    bool trans_a, trans_b;
  };
  for (const Case& cs :
       {Case{"MatMul", false, false}, Case{"Gemm", false, true},
        Case{"Gemm", true, false}}) {
    const Tensor w = Rand(cs.trans_b ? Shape{n, k} : Shape{k, n}, rng);
    std::map<std::string, Attribute> attrs;
    if (std::string(cs.op) == "Gemm") {
      attrs["transA"] = AInt(cs.trans_a);
      attrs["transB"] = AInt(cs.trans_b);
    }
    auto g = OneNode(cs.op, w, attrs);
    std::vector<Tensor> samples;
    if (std::string(cs.op) == "MatMul") {
      samples = {Rand({2, 3, k}, rng), Rand({4, k}, rng)};
    } else {
      samples = {Rand(cs.trans_a ? Shape{k, 4} : Shape{4, k}, rng),
                 Rand(cs.trans_a ? Shape{k, 2} : Shape{2, k}, rng)};
    }
    std::vector<Tensor> outs;
    const LayerStats s = Collect(g, samples, &outs, 2);
    ASSERT_EQ(s.cols, k) << cs.op;
    std::vector<double> h(static_cast<size_t>(k * k), 0.0);
    int64_t rows = 0;
    for (const Tensor& x : samples) {
      const int64_t r = x.numel() / k;
      rows += r;
      for (int64_t a = 0; a < r; ++a) {
        for (int64_t i = 0; i < k; ++i) {
          for (int64_t j = 0; j < k; ++j) {
            const float* p = x.data<float>();
            const double xi = cs.trans_a ? p[i * r + a] : p[a * k + i];
            const double xj = cs.trans_a ? p[j * r + a] : p[a * k + j];
            h[i * k + j] += xi * xj;
          }
        }
      }
    }
    EXPECT_EQ(s.rows, rows) << cs.op;
    ExpectNear(s.h, h, cs.op);
    EXPECT_EQ(s.outputs, n);
  }
}

}  // namespace
}  // namespace lowbit::graph
