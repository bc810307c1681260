// Quantized weights kept as codes (graph/qweight.h): DequantizeLinear and
// MatMulNBits recognised; exact mode equals the same graph with the weights
// given as dequantized floats, bit for bit; fast mode stays close to it; a
// weight some other node reads is decoded to floats.
#include "graph/qweight.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "graph/session.h"
#include "tests/support/graph_test_util.h"

namespace lowbit::graph {
namespace {

using testing::AInt;
using testing::F32;

Tensor Bytes(DType t, Shape shape, uint32_t seed, int lo, int hi) {
  Tensor x = Tensor::Zeros(t, std::move(shape));
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(lo, hi);
  for (int64_t i = 0; i < x.nbytes(); ++i) {
    x.bytes()[i] = static_cast<uint8_t>(d(rng));
  }
  return x;
}

Tensor Random(Shape shape, uint32_t seed, float scale = 1.0f) {
  Tensor x = Tensor::Zeros(DType::kF32, std::move(shape));
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = d(rng);
  return x;
}

// (q - zero) * scale of int8/uint8 q along `axis` (scale.numel() == 1: per
// tensor), as ONNX's DequantizeLinear defines it.
Tensor Dequantized(const Tensor& q, const Tensor& scale, const Tensor& zero,
                   int axis) {
  Tensor out = Tensor::Zeros(DType::kF32, q.shape());
  int64_t inner = 1;
  for (int d = axis + 1; d < q.rank(); ++d) inner *= q.dim(d);
  for (int64_t i = 0; i < q.numel(); ++i) {
    const int64_t c = scale.numel() == 1 ? 0 : (i / inner) % q.dim(axis);
    const int v = q.dtype() == DType::kI8 ? static_cast<int8_t>(q.bytes()[i])
                                          : static_cast<int>(q.bytes()[i]);
    const int z = zero.dtype() == DType::kI8
                      ? static_cast<int8_t>(zero.bytes()[c])
                      : static_cast<int>(zero.bytes()[c]);
    out.data<float>()[i] = static_cast<float>(v - z) * scale.data<float>()[c];
  }
  return out;
}

struct Model {
  std::shared_ptr<Graph> g;
  std::map<std::string, Tensor> feeds;
};

// x [1, 8, 6, 6] -> Conv (DQ int8 per channel, asymmetric) -> y;
// z [5, 24] -> MatMul (DQ uint8 per tensor) -> mm; Gemm (DQ int8 per row of
// B^T, transB) -> gm. With `as_floats`, the same graph with the
// dequantized weights as float initializers.
Model Build(bool as_floats, bool weight_is_output = false) {
  Model m;
  m.g = std::make_shared<Graph>();
  Graph& g = *m.g;
  g.opsets[""] = 13;
  auto input = [&](const std::string& name, Tensor t) {
    const int id = g.ValueId(name);
    ValueInfo vi;
    vi.name = name;
    vi.dtype = DType::kF32;
    g.inputs.push_back(vi);
    g.input_ids.push_back(id);
    m.feeds[name] = std::move(t);
    return id;
  };
  auto output = [&](int id) {
    ValueInfo vi;
    vi.name = g.value_names[id];
    g.outputs.push_back(vi);
    g.output_ids.push_back(id);
  };
  auto weight = [&](const std::string& name, Tensor q, Tensor s, Tensor z,
                    int axis) {
    const int id = g.ValueId(name);
    if (as_floats) {
      g.constants[id] = Dequantized(q, s, z, axis);
      return id;
    }
    const int qi = g.ValueId(name + "_q"), si = g.ValueId(name + "_s"),
              zi = g.ValueId(name + "_z");
    g.constants[qi] = std::move(q);
    g.constants[si] = std::move(s);
    g.constants[zi] = std::move(z);
    Node n;
    n.op = "DequantizeLinear";
    n.name = name + "_dq";
    n.inputs = {qi, si, zi};
    n.outputs = {id};
    n.attrs["axis"] = AInt(axis);
    g.nodes.push_back(n);
    return id;
  };
  const int x = input("x", Random({1, 8, 6, 6}, 1));
  const int z = input("z", Random({5, 24}, 2));
  const int wc = weight("wc", Bytes(DType::kI8, {16, 8, 3, 3}, 3, -128, 127),
                        F32({16}, std::vector<float>(16, 0.01f)),
                        Bytes(DType::kI8, {16}, 4, -3, 3), 0);
  const int wm =
      weight("wm", Bytes(DType::kU8, {24, 10}, 5, 0, 255), F32({}, {0.02f}),
             Bytes(DType::kU8, {}, 6, 120, 130), 1);
  const int wg =
      weight("wg", Bytes(DType::kI8, {10, 24}, 7, -128, 127),
             Random({10}, 8, 0.01f), Tensor::Zeros(DType::kI8, {10}), 0);
  const int b = g.ValueId("b");
  g.constants[b] = Random({16}, 9);
  Node conv;
  conv.op = "Conv";
  conv.name = "conv";
  conv.inputs = {x, wc, b};
  conv.outputs = {g.ValueId("y")};
  conv.attrs["pads"] = testing::AInts({1, 1, 1, 1});
  g.nodes.push_back(conv);
  Node mm;
  mm.op = "MatMul";
  mm.name = "mm";
  mm.inputs = {z, wm};
  mm.outputs = {g.ValueId("mm")};
  g.nodes.push_back(mm);
  Node gm;
  gm.op = "Gemm";
  gm.name = "gm";
  gm.inputs = {z, wg};
  gm.outputs = {g.ValueId("gm")};
  gm.attrs["transB"] = AInt(1);
  gm.attrs["alpha"] = testing::AFloat(0.5f);
  g.nodes.push_back(gm);
  output(g.ValueId("y"));
  output(g.ValueId("mm"));
  output(g.ValueId("gm"));
  if (weight_is_output) output(wm);
  return m;
}

std::vector<Tensor> RunModel(const Model& m, bool fast, RunStats* stats) {
  SessionOptions o;
  o.threads = 2;
  o.fast = fast;
  auto s = Session::Create(m.g, o);
  EXPECT_TRUE(s.ok()) << s.status().message();
  auto out = (*s)->Run(m.feeds);
  EXPECT_TRUE(out.ok()) << out.status().message();
  *stats = (*s)->stats();
  return *out;
}

// Exact mode: the convolution bit for bit; the products within float
// rounding (the decoded MatMul weight is multiplied transposed, N x K).
TEST(QuantWeight, ExactModeEqualsTheDequantizedGraph) {
  RunStats qs, fs;
  const auto q = RunModel(Build(false), false, &qs);
  const auto f = RunModel(Build(true), false, &fs);
  EXPECT_EQ(qs.quantized_weights, 3);
  EXPECT_EQ(fs.quantized_weights, 0);
  EXPECT_GT(qs.quantized_weight_bytes, 0);
  ASSERT_EQ(q.size(), f.size());
  for (size_t k = 0; k < q.size(); ++k) {
    ASSERT_EQ(q[k].shape(), f[k].shape());
    double ref = 0;
    for (int64_t i = 0; i < f[k].numel(); ++i) {
      ref = std::max<double>(ref, std::fabs(f[k].data<float>()[i]));
    }
    for (int64_t i = 0; i < q[k].numel(); ++i) {
      if (k == 0) {
        ASSERT_EQ(q[k].data<float>()[i], f[k].data<float>()[i]) << i;
      } else {
        ASSERT_NEAR(q[k].data<float>()[i], f[k].data<float>()[i], 1e-6 * ref)
            << "output " << k << " at " << i;
      }
    }
  }
}

TEST(QuantWeight, FastModeRunsIntegerProductsCloseToExact) {
  RunStats qs, es;
  const auto fast = RunModel(Build(false), true, &qs);
  const auto exact = RunModel(Build(false), false, &es);
  EXPECT_EQ(qs.fast_weights, 3);
  for (size_t k = 0; k < fast.size(); ++k) {
    double err = 0, ref = 0;
    for (int64_t i = 0; i < exact[k].numel(); ++i) {
      err = std::max<double>(
          err, std::fabs(fast[k].data<float>()[i] - exact[k].data<float>()[i]));
      ref = std::max<double>(ref, std::fabs(exact[k].data<float>()[i]));
    }
    // int8 activations per block of inputs: about 1/254 of each input.
    EXPECT_LT(err, 0.02 * ref) << "output " << k;
    EXPECT_GT(err, 0.0) << "output " << k << ": not quantized?";
  }
}

TEST(QuantWeight, AWeightOtherNodesReadIsDecoded) {
  RunStats qs, fs;
  const auto q = RunModel(Build(false, true), false, &qs);
  const auto f = RunModel(Build(true, true), false, &fs);
  EXPECT_EQ(qs.quantized_weights, 2);  // wm is also a graph output
  ASSERT_EQ(q.size(), 4u);
  for (int64_t i = 0; i < q[3].numel(); ++i) {
    ASSERT_EQ(q[3].data<float>()[i], f[3].data<float>()[i]);
  }
}

TEST(QuantWeight, MatMulNBitsBecomesAQuantizedMatMul) {
  // K = 40 (a short last block of 32), N = 6, 4 bits, zero points.
  const int64_t K = 40, N = 6, bs = 32, blocks = 2;
  auto g = std::make_shared<Graph>();
  g->opsets[""] = 13;
  g->opsets["com.microsoft"] = 1;
  const int a = g->ValueId("a");
  ValueInfo vi;
  vi.name = "a";
  vi.dtype = DType::kF32;
  g->inputs.push_back(vi);
  g->input_ids.push_back(a);
  const int b = g->ValueId("B"), s = g->ValueId("scales"), z = g->ValueId("zp");
  g->constants[b] = Bytes(DType::kU8, {N, blocks, bs / 2}, 11, 0, 255);
  g->constants[s] = Random({N * blocks}, 12, 0.1f);
  g->constants[z] = Bytes(DType::kU8, {N, 1}, 13, 0, 255);
  Node n;
  n.op = "MatMulNBits";
  n.domain = "com.microsoft";
  n.name = "nbits";
  n.inputs = {a, b, s, z};
  n.outputs = {g->ValueId("y")};
  n.attrs["K"] = AInt(K);
  n.attrs["N"] = AInt(N);
  n.attrs["bits"] = AInt(4);
  n.attrs["block_size"] = AInt(bs);
  g->nodes.push_back(n);
  ValueInfo out;
  out.name = "y";
  g->outputs.push_back(out);
  g->output_ids.push_back(g->ValueId("y"));
  const Tensor x = Random({3, K}, 14);
  // The reference: the operator's definition, in double.
  std::vector<float> want(3 * N, 0.0f);
  const Tensor& B = g->constants[b];
  const Tensor& S = g->constants[s];
  const Tensor& Z = g->constants[z];
  for (int64_t m = 0; m < 3; ++m) {
    for (int64_t o = 0; o < N; ++o) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k) {
        const int64_t blk = k / bs, j = k % bs;
        const int code =
            (B.bytes()[(o * blocks + blk) * bs / 2 + j / 2] >> (4 * (j % 2))) &
            15;
        const int zp = (Z.bytes()[o] >> (4 * blk)) & 15;
        acc += static_cast<double>((code - zp) *
                                   S.data<float>()[o * blocks + blk]) *
               x.data<float>()[m * K + k];
      }
      want[m * N + o] = static_cast<float>(acc);
    }
  }
  SessionOptions o;
  o.threads = 1;
  auto sess = Session::Create(g, o);
  ASSERT_TRUE(sess.ok()) << sess.status().message();
  EXPECT_EQ((*sess)->stats().quantized_weights, 1);
  auto y = (*sess)->Run({{"a", x}});
  ASSERT_TRUE(y.ok()) << y.status().message();
  for (int64_t i = 0; i < 3 * N; ++i) {
    EXPECT_NEAR((*y)[0].data<float>()[i], want[i],
                1e-4 * (1 + std::fabs(want[i])));
  }
}

}  // namespace
}  // namespace lowbit::graph
