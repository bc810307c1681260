// Load-time fusion (graph/fuse.h): each rewrite happens where it should
// (FuseStats, nodes left) and the fused graph gives the unfused graph's
// outputs up to the rounding of the rescaled weights.
#include "graph/fuse.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "graph/session.h"
#include "tests/support/graph_test_util.h"

namespace lowbit::graph {
namespace {

using testing::AFloat;
using testing::AInt;
using testing::AInts;
using testing::AString;

Tensor Rand(Shape shape, std::mt19937& rng, float lo = -1, float hi = 1) {
  Tensor t = Tensor::Zeros(DType::kF32, std::move(shape));
  std::uniform_real_distribution<float> u(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
  return t;
}

// A chain of nodes from graph input "x" to graph output "y": each node reads
// the previous value (input 0) and constants, named "<node>/<k>".
struct Chain {
  std::shared_ptr<Graph> g = std::make_shared<Graph>();
  int last = -1;
  int count = 0;
  explicit Chain(int opset = 13) {
    g->opsets[""] = opset;
    last = g->ValueId("x");
    ValueInfo vi;
    vi.name = "x";
    vi.dtype = DType::kF32;
    g->inputs.push_back(vi);
    g->input_ids.push_back(last);
  }
  Chain& Add(const std::string& op, std::vector<Tensor> consts,
             std::map<std::string, Attribute> attrs = {}) {
    Node n;
    n.op = op;
    n.name = op + std::to_string(count++);
    n.attrs = std::move(attrs);
    n.inputs.push_back(last);
    for (size_t k = 0; k < consts.size(); ++k) {
      const int id = g->ValueId(n.name + "/" + std::to_string(k));
      g->constants[id] = consts[k];
      n.inputs.push_back(id);
    }
    last = g->ValueId(n.name + "/out");
    n.outputs.push_back(last);
    g->nodes.push_back(n);
    return *this;
  }
  std::shared_ptr<Graph> Done() {
    g->value_names[last] = "y";
    ValueInfo vi;
    vi.name = "y";
    g->outputs.push_back(vi);
    g->output_ids.push_back(last);
    return g;
  }
};

struct Ran {
  Tensor y;
  FuseStats stats;
  int64_t nodes = 0;
};

Ran Run(const std::shared_ptr<Graph>& g, const Tensor& x, bool fuse,
        int threads) {
  SessionOptions o;
  o.fuse = fuse;
  o.threads = threads;
  auto s = Session::Create(std::make_shared<Graph>(*g), o);
  EXPECT_TRUE(s.ok()) << s.status().message();
  if (!s.ok()) return {};
  auto out = (*s)->Run({{"x", x}});
  EXPECT_TRUE(out.ok()) << out.status().message();
  if (!out.ok()) return {};
  Ran r;
  r.y = (*out)[0];
  r.stats = (*s)->fuse_stats();
  r.nodes = (*s)->stats().nodes_run;
  return r;
}

// Runs fused and unfused; the outputs agree to 1e-5 of their largest value.
Ran ExpectSameAsUnfused(const std::shared_ptr<Graph>& g, const Tensor& x,
                        int threads = 1) {
  const Ran plain = Run(g, x, false, threads);
  const Ran fused = Run(g, x, true, threads);
  if (!plain.y.defined() || !fused.y.defined()) return fused;
  EXPECT_EQ(plain.y.shape(), fused.y.shape());
  if (plain.y.shape() != fused.y.shape()) return fused;
  double top = 0, diff = 0;
  for (int64_t i = 0; i < plain.y.numel(); ++i) {
    const double a = plain.y.data<float>()[i], b = fused.y.data<float>()[i];
    top = std::max(top, std::fabs(a));
    diff = std::max(diff, std::fabs(a - b));
  }
  EXPECT_LE(diff, 1e-5 * std::max(top, 1.0)) << "largest |y| " << top;
  EXPECT_LT(fused.nodes, plain.nodes);
  return fused;
}

std::vector<Tensor> BatchNorm(int64_t c, std::mt19937& rng) {
  return {Rand({c}, rng, 0.5, 2), Rand({c}, rng), Rand({c}, rng),
          Rand({c}, rng, 0.1, 2)};
}

TEST(Fuse, ConvBatchNormReluIsOneNode) {
  std::mt19937 rng(1);
  for (int threads : {1, 2}) {
    Chain ch;
    ch.Add("Conv", {Rand({8, 6, 3, 3}, rng), Rand({8}, rng)},
           {{"pads", AInts({1, 1, 1, 1})}})
        .Add("BatchNormalization", BatchNorm(8, rng),
             {{"epsilon", AFloat(1e-3f)}})
        .Add("Relu", {});
    const Ran r =
        ExpectSameAsUnfused(ch.Done(), Rand({1, 6, 9, 11}, rng), threads);
    EXPECT_EQ(r.stats.folded_affine, 1);
    EXPECT_EQ(r.stats.activations, 1);
    EXPECT_EQ(r.nodes, 1);
  }
}

TEST(Fuse, ConvPerChannelMulAddFold) {
  std::mt19937 rng(2);
  Chain ch;
  ch.Add("Conv", {Rand({5, 4, 1, 1}, rng)})
      .Add("Mul", {Rand({5, 1, 1}, rng)})
      .Add("Add", {Rand({1, 5, 1, 1}, rng)});
  const Ran r = ExpectSameAsUnfused(ch.Done(), Rand({2, 4, 7, 7}, rng));
  EXPECT_EQ(r.stats.folded_affine, 2);
  EXPECT_EQ(r.nodes, 1);
}

// ConvTranspose's weight is [C, M/group, k...]: the fold scales columns of
// each group's rows. Both execution paths: kernel equal to stride (outputs
// written directly) and overlapping taps (accumulated).
TEST(Fuse, ConvTransposeBatchNormActivationFolds) {
  std::mt19937 rng(3);
  struct Geometry {
    int64_t k, s, group;
    const char* act;
  };
  for (const Geometry& ge :
       {Geometry{2, 2, 1, "Relu"}, Geometry{2, 2, 2, "Sigmoid"},
        Geometry{3, 2, 2, "Relu"}, Geometry{3, 1, 1, "Sigmoid"}}) {
    for (int threads : {1, 2}) {
      const int64_t c = 4, m = 6;
      Chain ch;
      ch.Add("ConvTranspose",
             {Rand({c, m / ge.group, ge.k, ge.k}, rng), Rand({m}, rng)},
             {{"strides", AInts({ge.s, ge.s})}, {"group", AInt(ge.group)}})
          .Add("BatchNormalization", BatchNorm(m, rng))
          .Add(ge.act, {});
      const Ran r =
          ExpectSameAsUnfused(ch.Done(), Rand({1, c, 10, 12}, rng), threads);
      EXPECT_EQ(r.stats.folded_affine, 1);
      EXPECT_EQ(r.stats.activations, 1);
      EXPECT_EQ(r.nodes, 1) << "k " << ge.k << " s " << ge.s;
    }
  }
}

// Nothing folds into a weight that is not a constant, and a value read twice
// keeps its node.
TEST(Fuse, LeavesSharedValuesAndNonConstantWeightsAlone) {
  std::mt19937 rng(4);
  auto g = std::make_shared<Graph>();
  g->opsets[""] = 13;
  auto val = [&](const std::string& n) { return g->ValueId(n); };
  for (const char* name : {"x", "w"}) {
    ValueInfo vi;
    vi.name = name;
    vi.dtype = DType::kF32;
    g->inputs.push_back(vi);
    g->input_ids.push_back(val(name));
  }
  const std::vector<Tensor> bn = BatchNorm(3, rng);
  Node conv;
  conv.op = "Conv";
  conv.name = "conv";
  conv.inputs = {val("x"), val("w")};
  conv.outputs = {val("c")};
  Node norm;
  norm.op = "BatchNormalization";
  norm.name = "bn";
  norm.inputs = {val("c")};
  for (int k = 0; k < 4; ++k) {
    const int id = val("bn/" + std::to_string(k));
    g->constants[id] = bn[static_cast<size_t>(k)];
    norm.inputs.push_back(id);
  }
  norm.outputs = {val("y")};
  Node relu;
  relu.op = "Relu";
  relu.name = "relu";
  relu.inputs = {val("y")};
  relu.outputs = {val("z")};
  g->nodes = {conv, norm, relu};
  for (const char* name : {"y", "z"}) {
    ValueInfo vi;
    vi.name = name;
    g->outputs.push_back(vi);
    g->output_ids.push_back(val(name));
  }
  auto s = Session::Create(g, SessionOptions{});
  ASSERT_TRUE(s.ok()) << s.status().message();
  auto out = (*s)->Run(
      {{"x", Rand({1, 2, 5, 5}, rng)}, {"w", Rand({3, 2, 3, 3}, rng)}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ((*s)->fuse_stats().folded_affine, 0);
  EXPECT_EQ((*s)->fuse_stats().activations, 0);
  EXPECT_EQ((*s)->stats().nodes_run, 3);
}

}  // namespace
}  // namespace lowbit::graph
