// Every operator gradient against central finite differences, through the
// Tape on one-node graphs and on a small CNN; refusals.
//
// Tolerances: the engine's kernels are f32, so a central difference
// (L(x + e) - L(x - e)) / 2e of the loss L = sum(y r) (summed in double, r
// fixed random weights) carries a rounding error of about 1e-7 |y| |r|
// sqrt(numel) / e and a truncation error of O(e^2 f'''). With e = 1e-2 and
// values of order 1, both stay below about 1e-3 of the gradient's scale:
// |numeric - analytic| <= 1e-2 (|numeric| + |analytic|) + 2e-3 G, G the
// largest analytic gradient of that input. Inputs of non-smooth operators
// (Relu, MaxPool, Clip, ...) are drawn at least 0.1 from their kinks, so the
// difference never straddles one; the whole CNN, where one weight moves many
// pre-activations, takes e = 1e-3 (rounding then about 1e-4 of the loss).
#include "graph/autodiff.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "graph/grad/grad.h"

namespace lowbit::graph {
namespace {

Attribute Ints(std::vector<int64_t> v) {
  Attribute a;
  a.kind = Attribute::Kind::kInts;
  a.ints = std::move(v);
  return a;
}
Attribute Int(int64_t v) {
  Attribute a;
  a.kind = Attribute::Kind::kInt;
  a.i = v;
  return a;
}
Attribute Float(float v) {
  Attribute a;
  a.kind = Attribute::Kind::kFloat;
  a.f = v;
  return a;
}
Attribute Str(std::string v) {
  Attribute a;
  a.kind = Attribute::Kind::kString;
  a.s = std::move(v);
  return a;
}

// Values uniform in [lo, hi] with |v| >= away (0: anything).
// Node `op` reading values `in` (by name) and writing `out`.
void AddNode(Graph& g, const std::string& op,
             const std::vector<std::string>& in, const std::string& out) {
  Node n;
  n.op = op;
  n.name = out;
  for (const auto& v : in) n.inputs.push_back(g.ValueId(v));
  n.outputs.push_back(g.ValueId(out));
  g.nodes.push_back(n);
}

Tensor Random(Shape s, std::mt19937& rng, float lo = -1.0f, float hi = 1.0f,
              float away = 0.0f) {
  Tensor t = Tensor::Zeros(DType::kF32, s);
  std::uniform_real_distribution<float> u(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) {
    float v;
    do {
      v = u(rng);
    } while (std::fabs(v) < away);
    t.data<float>()[i] = v;
  }
  return t;
}

// Distinct values 0.05 apart, shuffled (MaxPool: one maximum per window).
Tensor Distinct(Shape s, std::mt19937& rng) {
  Tensor t = Tensor::Zeros(DType::kF32, s);
  std::vector<float> v(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = 0.05f * i - 1.0f;
  std::shuffle(v.begin(), v.end(), rng);
  std::copy(v.begin(), v.end(), t.data<float>());
  return t;
}

struct Case {
  std::string op;
  std::vector<Tensor> in = {};  // constants; f32 ones are differentiated
  std::map<std::string, Attribute> attrs = {};
  int opset = 17;
  std::vector<int> skip = {};  // f32 inputs not checked
  int outputs = 1;
};

std::shared_ptr<Graph> OneNode(const Case& c,
                               std::vector<std::string>* params) {
  auto g = std::make_shared<Graph>();
  g->opsets[""] = c.opset;
  Node n;
  n.op = c.op;
  n.name = c.op;
  n.attrs = c.attrs;
  for (size_t k = 0; k < c.in.size(); ++k) {
    const std::string name = "in" + std::to_string(k);
    const int id = g->ValueId(name);
    g->constants[id] = c.in[k];
    n.inputs.push_back(id);
    if (c.in[k].dtype() == DType::kF32 &&
        !std::count(c.skip.begin(), c.skip.end(), static_cast<int>(k))) {
      params->push_back(name);
    }
  }
  for (int k = 0; k < c.outputs; ++k) {
    const std::string name = k == 0 ? "y" : "y" + std::to_string(k);
    const int y = g->ValueId(name);
    n.outputs.push_back(y);
    ValueInfo vi;
    vi.name = name;
    g->outputs.push_back(vi);
    g->output_ids.push_back(y);
  }
  g->nodes.push_back(n);
  return g;
}

// Checks every parameter's gradient of L = sum over the outputs of sum(y r)
// by central differences on up to 16 elements each.
void CheckGradients(std::shared_ptr<Graph> g,
                    const std::vector<std::string>& params,
                    const std::string& what, std::mt19937& rng,
                    float eps = 1e-2f, bool bn_training = false) {
  ThreadPool pool(2);
  auto tape = Tape::Create(g, params, pool);
  ASSERT_TRUE(tape.ok()) << what << ": " << tape.status().message();
  if (bn_training) {
    ASSERT_GT((*tape)->SetBatchNormTraining(true), 0) << what;
  }
  auto out = (*tape)->Forward({});
  ASSERT_TRUE(out.ok()) << what << ": " << out.status().message();
  ASSERT_GE(out->size(), 1u);
  std::vector<Tensor> r;
  for (const Tensor& y : *out) r.push_back(Random(y.shape(), rng));
  auto loss = [&]() {
    auto o = (*tape)->Forward({});
    EXPECT_TRUE(o.ok()) << what;
    double s = 0.0;
    for (size_t k = 0; k < r.size(); ++k) {
      for (int64_t i = 0; i < r[k].numel(); ++i) {
        s += static_cast<double>((*o)[k].data<float>()[i]) *
             r[k].data<float>()[i];
      }
    }
    return s;
  };
  (void)loss();
  auto grads = (*tape)->Backward(r);
  ASSERT_TRUE(grads.ok()) << what << ": " << grads.status().message();
  const float kEps = eps;
  for (const std::string& p : params) {
    const Tensor& ga = grads->at(p);
    Tensor& x = (*tape)->param(p);
    ASSERT_EQ(ga.shape(), x.shape()) << what << " " << p;
    double scale = 0.0;
    for (int64_t i = 0; i < ga.numel(); ++i) {
      scale = std::max(scale, std::fabs(double{ga.data<float>()[i]}));
    }
    std::uniform_int_distribution<int64_t> pick(0, x.numel() - 1);
    const int64_t tries = std::min<int64_t>(16, x.numel());
    for (int64_t t = 0; t < tries; ++t) {
      const int64_t e = x.numel() <= 16 ? t : pick(rng);
      float* v = x.data<float>() + e;
      const float keep = *v;
      *v = keep + kEps;
      const double lp = loss();
      *v = keep - kEps;
      const double lm = loss();
      *v = keep;
      const double num = (lp - lm) / (2.0 * kEps);
      const double ana = ga.data<float>()[e];
      EXPECT_LE(std::fabs(num - ana),
                1e-2 * (std::fabs(num) + std::fabs(ana)) + 2e-3 * scale)
          << what << ": d/d " << p << "[" << e << "] numeric " << num
          << " analytic " << ana;
    }
  }
}

void Check(const Case& c, const std::string& what, std::mt19937& rng) {
  std::vector<std::string> params;
  auto g = OneNode(c, &params);
  CheckGradients(g, params, what, rng);
}

TEST(Autodiff, ConvGradients) {
  std::mt19937 rng(1);
  // 2-D, two groups, strides, asymmetric pads, dilation, bias.
  Check(
      {"Conv",
       {Random({2, 4, 7, 6}, rng), Random({6, 2, 3, 3}, rng), Random({6}, rng)},
       {{"group", Int(2)},
        {"strides", Ints({2, 1})},
        {"pads", Ints({1, 0, 2, 1})},
        {"dilations", Ints({1, 2})}}},
      "conv2d grouped", rng);
  Check({"Conv",
         {Random({1, 3, 9}, rng), Random({4, 3, 3}, rng)},
         {{"pads", Ints({1, 1})}, {"strides", Ints({2})}}},
        "conv1d", rng);
  Check({"Conv",
         {Random({2, 4, 5, 5}, rng), Random({4, 1, 3, 3}, rng)},
         {{"group", Int(4)}, {"pads", Ints({1, 1, 1, 1})}}},
        "depthwise", rng);
  Check({"Conv",
         {Random({1, 2, 4, 4, 3}, rng), Random({3, 2, 2, 3, 2}, rng)},
         {{"auto_pad", Str("SAME_UPPER")}}},
        "conv3d same", rng);
}

TEST(Autodiff, ConvTransposeGradients) {
  std::mt19937 rng(13);
  Check({"ConvTranspose",
         {Random({2, 3, 4, 5}, rng), Random({3, 2, 3, 3}, rng),
          Random({2}, rng)}},
        "convtranspose 3x3", rng);
  Check(
      {"ConvTranspose",
       {Random({1, 4, 3, 3}, rng), Random({4, 1, 3, 2}, rng), Random({2}, rng)},
       {{"strides", Ints({2, 2})},
        {"pads", Ints({1, 0, 0, 1})},
        {"output_padding", Ints({1, 0})},
        {"group", Int(2)}}},
      "convtranspose strided, padded, grouped", rng);
  Check({"ConvTranspose",
         {Random({1, 2, 3, 4}, rng), Random({2, 3, 2, 2}, rng)},
         {{"strides", Ints({2, 2})}}},
        "convtranspose 2x2 stride 2", rng);
  Check({"ConvTranspose",
         {Random({2, 2, 5}, rng), Random({2, 2, 3}, rng)},
         {{"dilations", Ints({2})}}},
        "convtranspose 1-D dilated", rng);
}

TEST(Autodiff, GemmAndMatMulGradients) {
  std::mt19937 rng(2);
  for (int ta : {0, 1}) {
    for (int tb : {0, 1}) {
      Check({"Gemm",
             {Random(ta ? Shape{4, 3} : Shape{3, 4}, rng),
              Random(tb ? Shape{5, 4} : Shape{4, 5}, rng), Random({5}, rng)},
             {{"transA", Int(ta)},
              {"transB", Int(tb)},
              {"alpha", Float(0.7f)},
              {"beta", Float(1.3f)}}},
            "gemm " + std::to_string(ta) + std::to_string(tb), rng);
    }
  }
  Check({"MatMul", {Random({3, 4}, rng), Random({4, 5}, rng)}}, "matmul", rng);
  Check({"MatMul", {Random({2, 1, 3, 4}, rng), Random({3, 4, 5}, rng)}},
        "matmul broadcast", rng);
  Check({"MatMul", {Random({2, 3, 4}, rng), Random({4}, rng)}}, "matmul 1-D B",
        rng);
  Check({"MatMul", {Random({4}, rng), Random({2, 4, 3}, rng)}}, "matmul 1-D A",
        rng);
}

TEST(Autodiff, ElementwiseGradients) {
  std::mt19937 rng(3);
  for (const char* op : {"Add", "Sub", "Mul", "Div"}) {
    Check({op, {Random({2, 3, 4}, rng), Random({3, 1}, rng, 0.5f, 1.5f)}}, op,
          rng);
  }
  Check({"Pow", {Random({3, 4}, rng, 0.5f, 2.0f), Random({4}, rng)}}, "Pow",
        rng);
  Check({"PRelu",
         {Random({2, 3, 4, 4}, rng, -1, 1, 0.1f), Random({3, 1, 1}, rng)}},
        "PRelu", rng);
  for (const char* op :
       {"Relu", "LeakyRelu", "Abs", "HardSigmoid", "HardSwish"}) {
    Check({op, {Random({3, 5}, rng, -2, 2, 0.1f)}}, op, rng);
  }
  for (const char* op : {"Sigmoid", "Tanh", "Exp", "Neg", "Identity", "Erf",
                         "Softplus", "Gelu"}) {
    Check({op, {Random({3, 5}, rng, -2, 2)}}, op, rng);
  }
  Check({"Gelu", {Random({3, 5}, rng, -2, 2)}, {{"approximate", Str("tanh")}}},
        "Gelu tanh", rng);
  for (const char* op : {"Log", "Sqrt", "Reciprocal"}) {
    Check({op, {Random({3, 5}, rng, 0.5f, 2.0f)}}, op, rng);
  }
  // Clip: bounds as inputs (opset 13), values away from them.
  Tensor x = Random({4, 5}, rng, -1, 1, 0.0f);
  for (int64_t i = 0; i < x.numel(); ++i) {
    float& v = x.data<float>()[i];
    if (std::fabs(std::fabs(v) - 0.5f) < 0.1f) v *= 0.6f;
  }
  Check({"Clip",
         {x, Tensor::Scalar(-0.5f), Tensor::Scalar(0.5f)},
         {},
         13,
         {1, 2}},
        "Clip", rng);
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    Check({op, {Random({2, 3, 4}, rng, -2, 2)}, {{"axis", Int(1)}}}, op, rng);
    Check({op, {Random({2, 3, 4}, rng, -2, 2)}, {{"axis", Int(1)}}, 11},
          std::string(op) + " opset 11", rng);
  }
}

TEST(Autodiff, PoolGradients) {
  std::mt19937 rng(4);
  Check({"MaxPool",
         {Distinct({2, 3, 6, 7}, rng)},
         {{"kernel_shape", Ints({2, 2})}, {"strides", Ints({2, 2})}}},
        "maxpool", rng);
  Check({"MaxPool",
         {Distinct({1, 2, 5, 5}, rng)},
         {{"kernel_shape", Ints({3, 3})},
          {"strides", Ints({2, 2})},
          {"pads", Ints({1, 1, 1, 1})},
          {"ceil_mode", Int(1)}}},
        "maxpool pads ceil", rng);
  // Disjoint windows (strides = kernel) cut short by ceil_mode, and leaving
  // rows and columns no window covers (their gradient written as 0).
  Check({"MaxPool",
         {Distinct({1, 2, 5, 7}, rng)},
         {{"kernel_shape", Ints({2, 2})},
          {"strides", Ints({2, 2})},
          {"ceil_mode", Int(1)}}},
        "maxpool disjoint ceil", rng);
  Check({"MaxPool",
         {Distinct({2, 2, 8, 7}, rng)},
         {{"kernel_shape", Ints({3, 2})}, {"strides", Ints({3, 2})}}},
        "maxpool disjoint 3x2", rng);
  for (int include : {0, 1}) {
    Check({"AveragePool",
           {Random({2, 2, 5, 6}, rng)},
           {{"kernel_shape", Ints({3, 2})},
            {"strides", Ints({2, 1})},
            {"pads", Ints({1, 0, 1, 1})},
            {"count_include_pad", Int(include)}}},
          "avgpool " + std::to_string(include), rng);
  }
  Check({"GlobalAveragePool", {Random({2, 3, 4, 5}, rng)}}, "gap", rng);
  Check({"GlobalMaxPool", {Distinct({2, 3, 4, 5}, rng)}}, "gmp", rng);
}

TEST(Autodiff, ShapeAndReduceGradients) {
  std::mt19937 rng(5);
  Check({"Flatten", {Random({2, 3, 4}, rng)}, {{"axis", Int(1)}}}, "flatten",
        rng);
  Check({"Reshape", {Random({2, 3, 4}, rng), Tensor::Ints({4, -1})}}, "reshape",
        rng);
  Check({"Transpose", {Random({2, 3, 4}, rng)}, {{"perm", Ints({2, 0, 1})}}},
        "transpose", rng);
  Check(
      {"Concat",
       {Random({2, 1, 3}, rng), Random({2, 4, 3}, rng), Random({2, 2, 3}, rng)},
       {{"axis", Int(1)}}},
      "concat", rng);
  Check({"Squeeze", {Random({2, 1, 3}, rng), Tensor::Ints({1})}}, "squeeze",
        rng);
  Check({"Unsqueeze", {Random({2, 3}, rng), Tensor::Ints({0})}}, "unsqueeze",
        rng);
  Check({"ReduceMean",
         {Random({2, 3, 4}, rng)},
         {{"axes", Ints({0, 2})}, {"keepdims", Int(0)}},
         13},
        "reducemean", rng);
  Check({"ReduceSum", {Random({2, 3, 4}, rng), Tensor::Ints({-1})}, {}, 13},
        "reducesum", rng);
}

// A small CNN end to end: Conv -> Relu -> MaxPool -> Flatten -> Gemm ->
// LogSoftmax, the weights and biases differentiated through every node, and
// a weight read by two nodes (the gradients add).
TEST(Autodiff, NormalizationGradients) {
  std::mt19937 rng(11);
  // Frozen statistics: mean and var take no gradient.
  Check({"BatchNormalization",
         {Random({2, 3, 4, 2}, rng), Random({3}, rng, 0.5f, 1.5f),
          Random({3}, rng), Random({3}, rng), Random({3}, rng, 0.5f, 1.5f)},
         {{"epsilon", Float(1e-3f)}},
         15,
         {3, 4}},
        "batchnorm", rng);
  // Training mode: the batch's statistics depend on X (values spread so the
  // variance is far from eps).
  Check({"BatchNormalization",
         {Random({3, 2, 3, 2}, rng, -2, 2), Random({2}, rng, 0.5f, 1.5f),
          Random({2}, rng), Random({2}, rng), Random({2}, rng, 0.5f, 1.5f)},
         {{"epsilon", Float(1e-3f)}, {"training_mode", Int(1)}},
         15,
         {3, 4}},
        "batchnorm training mode", rng);
  Check({"LayerNormalization",
         {Random({3, 2, 5}, rng, -2, 2), Random({5}, rng, 0.5f, 1.5f),
          Random({5}, rng)}},
        "layernorm last axis", rng);
  Check({"LayerNormalization",
         {Random({3, 2, 5}, rng, -2, 2), Random({2, 1}, rng, 0.5f, 1.5f),
          Random({5}, rng)},
         {{"axis", Int(1)}, {"epsilon", Float(1e-2f)}}},
        "layernorm two axes, broadcast scale", rng);
}

TEST(Autodiff, SliceSplitCastGradients) {
  std::mt19937 rng(12);
  Check({"Slice",
         {Random({4, 6, 3}, rng), Tensor::Ints({1, -1}), Tensor::Ints({4, 0}),
          Tensor::Ints({0, 1}), Tensor::Ints({2, -2})}},
        "slice steps 2 and -2", rng);
  Check({"Slice",
         {Random({4, 6}, rng)},
         {{"starts", Ints({1})}, {"ends", Ints({5})}, {"axes", Ints({1})}},
         9},
        "slice opset 9", rng);
  Check({"Split",
         {Random({2, 7, 3}, rng), Tensor::Ints({3, 4})},
         {{"axis", Int(1)}},
         13,
         {},
         2},
        "split", rng);
  Attribute to = Int(1);  // FLOAT
  Check({"Cast", {Random({3, 4}, rng)}, {{"to", to}}}, "cast", rng);
}

// Resize is linear in X: nearest, linear and cubic, enlarging and shrinking
// (the sizes' and scales' inputs take no gradient).
TEST(Autodiff, ResizeGradients) {
  std::mt19937 rng(14);
  const Tensor roi = Tensor::Zeros(DType::kF32, {0});
  Tensor scales = Tensor::Zeros(DType::kF32, {4});
  const float sc[] = {1.0f, 1.0f, 2.0f, 1.5f};
  std::copy(sc, sc + 4, scales.data<float>());
  for (const char* mode : {"nearest", "linear", "cubic"}) {
    Check({"Resize",
           {Random({1, 2, 3, 4}, rng), roi, scales},
           {{"mode", Str(mode)}},
           13,
           {1, 2}},
          std::string("resize up ") + mode, rng);
    Check({"Resize",
           {Random({1, 2, 6, 5}, rng), roi, Tensor::Zeros(DType::kF32, {0}),
            Tensor::Ints({1, 2, 4, 3})},
           {{"mode", Str(mode)},
            {"coordinate_transformation_mode", Str("align_corners")}},
           13,
           {1, 2}},
          std::string("resize down ") + mode, rng);
  }
}

TEST(Autodiff, SmallCnnGradients) {
  std::mt19937 rng(6);
  auto g = std::make_shared<Graph>();
  g->opsets[""] = 17;
  auto constant = [&](const std::string& name, Tensor t) {
    g->constants[g->ValueId(name)] = std::move(t);
  };
  constant("x", Random({2, 1, 6, 6}, rng));
  constant("w1", Random({4, 1, 3, 3}, rng));
  constant("b1", Random({4}, rng));
  constant("w2", Random({5, 16}, rng));
  constant("b2", Random({5}, rng));
  auto node = [&](const std::string& op, std::vector<std::string> in,
                  const std::string& out,
                  std::map<std::string, Attribute> attrs = {}) {
    Node n;
    n.op = op;
    n.name = out;
    n.attrs = std::move(attrs);
    for (const auto& s : in) n.inputs.push_back(g->ValueId(s));
    n.outputs.push_back(g->ValueId(out));
    g->nodes.push_back(n);
  };
  node("Conv", {"x", "w1", "b1"}, "c");
  node("Relu", {"c"}, "r");
  node("MaxPool", {"r"}, "p",
       {{"kernel_shape", Ints({2, 2})}, {"strides", Ints({2, 2})}});
  node("Flatten", {"p"}, "f");
  node("Gemm", {"f", "w2", "b2"}, "h", {{"transB", Int(1)}});
  node("Add", {"h", "b2"}, "h2");  // b2 read twice
  node("LogSoftmax", {"h2"}, "y", {{"axis", Int(1)}});
  ValueInfo vi;
  vi.name = "y";
  g->outputs.push_back(vi);
  g->output_ids.push_back(g->ValueId("y"));
  // A step of 1e-3: a weight moves many pre-activations at once, and a
  // larger step would carry some of them across Relu's or MaxPool's kinks.
  CheckGradients(g, {"w1", "b1", "w2", "b2"}, "cnn", rng, 1e-3f);
}

// The Tape's BatchNormalization training mode on an inference-mode model:
// the batch's statistics normalize (each channel of Y has mean B and
// standard deviation |scale|), the running statistics move by 1 - momentum
// towards the batch's, the gradient goes through the batch's statistics
// (finite differences), and off again the updated statistics are used.
TEST(Autodiff, BatchNormTrainingModeOnTheTape) {
  std::mt19937 rng(13);
  auto g = std::make_shared<Graph>();
  g->opsets[""] = 15;
  auto constant = [&](const std::string& name, Tensor t) {
    g->constants[g->ValueId(name)] = std::move(t);
  };
  constant("x", Random({3, 2, 4, 4}, rng));
  constant("w", Random({3, 2, 3, 3}, rng));
  constant("b", Random({3}, rng));
  constant("scale", Random({3}, rng, 0.5f, 1.5f));
  constant("B", Random({3}, rng));
  constant("mean", Random({3}, rng));
  constant("var", Random({3}, rng, 0.5f, 1.5f));
  auto node = [&](const std::string& op, std::vector<std::string> in,
                  const std::string& out) { AddNode(*g, op, in, out); };
  node("Conv", {"x", "w", "b"}, "c");
  node("BatchNormalization", {"c", "scale", "B", "mean", "var"}, "y");
  for (const char* o : {"y", "c"}) {
    ValueInfo vi;
    vi.name = o;
    g->outputs.push_back(vi);
    g->output_ids.push_back(g->ValueId(o));
  }
  const auto copy = [&](const char* n) {
    const Tensor& t = g->constants.at(g->Find(n));
    return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
  };
  const std::vector<float> mean0 = copy("mean"), var0 = copy("var");
  ThreadPool pool(2);
  auto tape = Tape::Create(g, {"w", "b", "scale", "B"}, pool);
  ASSERT_TRUE(tape.ok()) << tape.status().message();
  EXPECT_EQ((*tape)->SetBatchNormTraining(true), 1);
  auto out = (*tape)->Forward({});
  ASSERT_TRUE(out.ok()) << out.status().message();
  const Tensor &y = (*out)[0], &c = (*out)[1];
  const int64_t per = 3 * 2 * 2;  // N x H x W of each channel (2 x 2 out)
  ASSERT_EQ(c.numel(), 3 * per);
  for (int64_t ch = 0; ch < 3; ++ch) {
    double cm = 0, cv = 0, ym = 0, yv = 0;
    for (int64_t n = 0; n < 3; ++n) {
      for (int64_t i = 0; i < 4; ++i) {
        const int64_t at = (n * 3 + ch) * 4 + i;
        cm += c.data<float>()[at] / per;
        ym += y.data<float>()[at] / per;
      }
    }
    for (int64_t n = 0; n < 3; ++n) {
      for (int64_t i = 0; i < 4; ++i) {
        const int64_t at = (n * 3 + ch) * 4 + i;
        cv += std::pow(c.data<float>()[at] - cm, 2) / per;
        yv += std::pow(y.data<float>()[at] - ym, 2) / per;
      }
    }
    const float sc = g->constants.at(g->Find("scale")).data<float>()[ch];
    EXPECT_NEAR(ym, g->constants.at(g->Find("B")).data<float>()[ch], 1e-5);
    EXPECT_NEAR(yv, sc * sc * cv / (cv + 1e-5), 1e-4);
    EXPECT_NEAR(g->constants.at(g->Find("mean")).data<float>()[ch],
                0.9 * mean0[ch] + 0.1 * cm, 1e-5);
    EXPECT_NEAR(g->constants.at(g->Find("var")).data<float>()[ch],
                0.9 * var0[ch] + 0.1 * cv, 1e-5);
  }
  // Off: inference with the updated statistics.
  EXPECT_EQ((*tape)->SetBatchNormTraining(false), 0);
  auto inf = (*tape)->Forward({});
  ASSERT_TRUE(inf.ok());
  for (int64_t ch = 0; ch < 3; ++ch) {
    const auto k = [&](const char* n) {
      return g->constants.at(g->Find(n)).data<float>()[ch];
    };
    const float a = k("scale") / std::sqrt(k("var") + 1e-5f);
    const int64_t at = ch * 4;  // image 0, first position
    EXPECT_NEAR((*inf)[0].data<float>()[at],
                (c.data<float>()[at] - k("mean")) * a + k("B"), 1e-5);
  }
  // The gradient through the batch's statistics.
  CheckGradients(g, {"w", "b", "scale", "B"}, "conv + batchnorm training", rng,
                 1e-2f, true);
}

TEST(Autodiff, RefusesWhatItCannotDifferentiate) {
  std::mt19937 rng(7);
  {
    Case c{"Floor", {Random({3}, rng)}};
    std::vector<std::string> params;
    auto g = OneNode(c, &params);
    ThreadPool pool(1);
    auto t = Tape::Create(g, params, pool);
    ASSERT_FALSE(t.ok());
    EXPECT_NE(t.status().message().find("Floor"), std::string::npos)
        << t.status().message();
    EXPECT_NE(t.status().message().find("no gradient"), std::string::npos);
  }
  {  // A parameter reaching only Reshape's shape input needs no gradient.
    Case c{"Reshape", {Random({2, 3}, rng), Tensor::Ints({3, 2})}};
    std::vector<std::string> params;
    auto g = OneNode(c, &params);
    ThreadPool pool(1);
    auto t = Tape::Create(g, {"in9"}, pool);
    EXPECT_FALSE(t.ok());
    EXPECT_NE(t.status().message().find("in9"), std::string::npos);
    EXPECT_TRUE(Tape::Create(g, params, pool).ok());
  }
  EXPECT_GE(OpsWithGradients().size(), 40u);
}

// Backward() also gives the gradients of intermediate values asked for (as
// block reconstruction weighs block outputs by them): y = Relu(x W) * k.
TEST(Autodiff, GradientsOfIntermediateValues) {
  std::mt19937 rng(7);
  auto g = std::make_shared<Graph>();
  g->opsets[""] = 13;
  g->constants[g->ValueId("W")] = Random({3, 4}, rng);
  g->constants[g->ValueId("x")] = Random({2, 3}, rng);
  g->constants[g->ValueId("k")] = Random({4}, rng);
  auto node = [&](const std::string& op, std::vector<std::string> in,
                  const std::string& out) { AddNode(*g, op, in, out); };
  node("MatMul", {"x", "W"}, "h");
  node("Relu", {"h"}, "r");
  node("Mul", {"r", "k"}, "y");
  ValueInfo vi;
  vi.name = "y";
  g->outputs.push_back(vi);
  g->output_ids.push_back(g->ValueId("y"));
  ThreadPool pool(1);
  auto tape = Tape::Create(g, {"W"}, pool);
  ASSERT_TRUE(tape.ok()) << tape.status().message();
  auto out = (*tape)->Forward({});
  ASSERT_TRUE(out.ok());
  Tensor dy = Tensor::Zeros(DType::kF32, {2, 4});
  for (int64_t i = 0; i < 8; ++i) dy.data<float>()[i] = 0.5f + i;
  std::map<int, Tensor> kept;
  const int h = g->Find("h"), r = g->Find("r"), x = g->Find("x");
  auto grads = (*tape)->Backward({dy}, {h, r, x}, &kept);
  ASSERT_TRUE(grads.ok()) << grads.status().message();
  ASSERT_TRUE(kept.count(h) && kept.count(r));
  EXPECT_FALSE(kept.count(x));  // no parameter influences it
  // The forward values of h, recomputed: x W.
  const float* xv = g->constants.at(x).data<float>();
  const float* wv = g->constants.at(g->Find("W")).data<float>();
  const float* kv = g->constants.at(g->Find("k")).data<float>();
  for (int64_t i = 0; i < 2; ++i) {
    for (int64_t j = 0; j < 4; ++j) {
      float hij = 0.0f;
      for (int64_t c = 0; c < 3; ++c) hij += xv[i * 3 + c] * wv[c * 4 + j];
      const float dr = dy.data<float>()[i * 4 + j] * kv[j];
      EXPECT_FLOAT_EQ(kept.at(r).data<float>()[i * 4 + j], dr);
      EXPECT_FLOAT_EQ(kept.at(h).data<float>()[i * 4 + j],
                      hij > 0.0f ? dr : 0.0f);
    }
  }
  // The parameters' gradients are as without: d W = x^T dh.
  auto plain = (*tape)->Backward({dy});
  ASSERT_TRUE(plain.ok());
  const Tensor &gw = grads->at("W"), &pw = plain->at("W");
  for (int64_t i = 0; i < gw.numel(); ++i) {
    EXPECT_EQ(gw.data<float>()[i], pw.data<float>()[i]);
  }
}

// MaxPool's gradient on ties: each window's first maximum (its taps row by
// row) takes the output's gradient, every other position 0, on each of the
// gradient's paths: 2x2 windows (odd sizes: a last row and column no window
// reads), other disjoint windows, and overlapping ones (which add). Run
// twice: the second step's buffers are the first's (the tape reuses them).
TEST(Autodiff, MaxPoolTiesGoToTheFirstMaximum) {
  struct Pool {
    int64_t kh, kw, sh, sw;
  };
  std::mt19937 rng(12);
  for (const Pool p : {Pool{2, 2, 2, 2}, Pool{3, 2, 3, 2}, Pool{3, 3, 2, 2}}) {
    const int64_t h = 7, w = 9;
    auto g = std::make_shared<Graph>();
    g->opsets[""] = 13;
    Tensor x = Tensor::Zeros(DType::kF32, {1, 2, h, w});
    for (int64_t i = 0; i < x.numel(); ++i) {  // few values: many ties
      x.data<float>()[i] = static_cast<float>(rng() % 3);
    }
    g->constants[g->ValueId("x")] = x;
    AddNode(*g, "MaxPool", {"x"}, "y");
    g->nodes.back().attrs["kernel_shape"] = Ints({p.kh, p.kw});
    g->nodes.back().attrs["strides"] = Ints({p.sh, p.sw});
    ValueInfo vi;
    vi.name = "y";
    g->outputs.push_back(vi);
    g->output_ids.push_back(g->ValueId("y"));
    ThreadPool pool(2);
    auto tape = Tape::Create(g, {"x"}, pool);
    ASSERT_TRUE(tape.ok()) << tape.status().message();
    const int64_t oh = (h - p.kh) / p.sh + 1, ow = (w - p.kw) / p.sw + 1;
    std::vector<float> want(static_cast<size_t>(x.numel()), 0.0f);
    Tensor dy = Tensor::Zeros(DType::kF32, {1, 2, oh, ow});
    for (int64_t c = 0; c < 2; ++c) {
      for (int64_t i = 0; i < oh; ++i) {
        for (int64_t j = 0; j < ow; ++j) {
          const float gi = 1.0f + static_cast<float>((c * oh + i) * ow + j);
          dy.data<float>()[(c * oh + i) * ow + j] = gi;
          int64_t best = -1;
          float bv = -1.0f;
          for (int64_t a = 0; a < p.kh; ++a) {
            for (int64_t b = 0; b < p.kw; ++b) {
              const int64_t at = (c * h + i * p.sh + a) * w + j * p.sw + b;
              if (x.data<float>()[at] > bv) {
                bv = x.data<float>()[at];
                best = at;
              }
            }
          }
          want[static_cast<size_t>(best)] += gi;
        }
      }
    }
    for (int step = 0; step < 2; ++step) {
      ASSERT_TRUE((*tape)->Forward({}).ok());
      auto grads = (*tape)->Backward({dy});
      ASSERT_TRUE(grads.ok()) << grads.status().message();
      const Tensor& dx = grads->at("x");
      for (int64_t i = 0; i < dx.numel(); ++i) {
        ASSERT_EQ(dx.data<float>()[i], want[static_cast<size_t>(i)])
            << p.kh << "x" << p.kw << " step " << step << " at " << i;
      }
    }
  }
}

}  // namespace
}  // namespace lowbit::graph
