#include "train/fmnist_cnn.h"

#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace lowbit {
namespace {

void Uniform(onnx::GraphProto& g, const std::string& name,
             std::vector<int64_t> dims, int64_t fan_in, std::mt19937_64& rng) {
  onnx::TensorProto* t = g.add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  int64_t n = 1;
  for (int64_t d : dims) {
    t->add_dims(d);
    n *= d;
  }
  const float bound = 1.0f / std::sqrt(static_cast<float>(fan_in));
  std::uniform_real_distribution<float> u(-bound, bound);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = u(rng);
  t->set_raw_data(v.data(), v.size() * 4);
}

onnx::NodeProto* Add(onnx::GraphProto& g, const std::string& op,
                     std::vector<std::string> in, const std::string& out) {
  onnx::NodeProto* n = g.add_node();
  n->set_op_type(op);
  n->set_name(out);
  for (const auto& s : in) n->add_input(s);
  n->add_output(out);
  return n;
}

void Ints(onnx::NodeProto* n, const std::string& name, std::vector<int64_t> v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

void Int(onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

void Io(onnx::ValueInfoProto* v, const std::string& name, int64_t features) {
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  auto* s = tt->mutable_shape();
  s->add_dim()->set_dim_param("N");
  if (features > 0) {
    s->add_dim()->set_dim_value(features);
    return;
  }
  for (int64_t d : {1, 28, 28}) s->add_dim()->set_dim_value(d);
}

}  // namespace

// A constant [n] of value v.
void Filled(onnx::GraphProto& g, const std::string& name, int64_t n, float v) {
  onnx::TensorProto* t = g.add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  t->add_dims(n);
  const std::vector<float> d(static_cast<size_t>(n), v);
  t->set_raw_data(d.data(), d.size() * sizeof(float));
}

onnx::ModelProto FashionMnistCnn(uint64_t seed, bool batchnorm) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.set_producer_name("lowbit");
  m.add_opset_import()->set_version(13);
  onnx::GraphProto& g = *m.mutable_graph();
  g.set_name("fmnist_cnn");
  Io(g.add_input(), "x", 0);
  Io(g.add_output(), "logits", 10);
  std::mt19937_64 rng(seed);
  Uniform(g, "conv1.weight", {32, 1, 3, 3}, 9, rng);
  Uniform(g, "conv1.bias", {32}, 9, rng);
  Uniform(g, "conv2.weight", {64, 32, 3, 3}, 288, rng);
  Uniform(g, "conv2.bias", {64}, 288, rng);
  Uniform(g, "fc1.weight", {128, 1600}, 1600, rng);
  Uniform(g, "fc1.bias", {128}, 1600, rng);
  Uniform(g, "fc2.weight", {10, 128}, 128, rng);
  Uniform(g, "fc2.bias", {10}, 128, rng);
  // The input normalised inside the graph: (x - mean) / std of the training
  // images (Fashion-MNIST: 0.2860, 0.3530).
  {
    onnx::TensorProto* mean = g.add_initializer();
    mean->set_name("input.mean");
    mean->set_data_type(onnx::TensorProto::FLOAT);
    const float mv = 0.2860f, sv = 1.0f / 0.3530f;
    mean->set_raw_data(&mv, 4);
    onnx::TensorProto* scale = g.add_initializer();
    scale->set_name("input.inv_std");
    scale->set_data_type(onnx::TensorProto::FLOAT);
    scale->set_raw_data(&sv, 4);
  }
  Add(g, "Sub", {"x", "input.mean"}, "xc");
  Add(g, "Mul", {"xc", "input.inv_std"}, "xn");
  // Conv, then (with batchnorm) its BatchNormalization: the tensor to Relu.
  auto conv = [&](const std::string& in, const std::string& k, int64_t ch) {
    const std::string c = "c" + k.substr(4);
    Add(g, "Conv", {in, k + ".weight", k + ".bias"}, c);
    if (!batchnorm) return c;
    const std::string bn = "bn" + k.substr(4);
    Filled(g, bn + ".weight", ch, 1.0f);
    Filled(g, bn + ".bias", ch, 0.0f);
    Filled(g, bn + ".running_mean", ch, 0.0f);
    Filled(g, bn + ".running_var", ch, 1.0f);
    auto* n = Add(g, "BatchNormalization",
                  {c, bn + ".weight", bn + ".bias", bn + ".running_mean",
                   bn + ".running_var"},
                  c + "n");
    auto* m = n->add_attribute();
    m->set_name("momentum");
    m->set_type(onnx::AttributeProto::FLOAT);
    m->set_f(0.9f);
    return c + "n";
  };
  Add(g, "Relu", {conv("xn", "conv1", 32)}, "r1");
  auto* p1 = Add(g, "MaxPool", {"r1"}, "p1");
  Ints(p1, "kernel_shape", {2, 2});
  Ints(p1, "strides", {2, 2});
  Add(g, "Relu", {conv("p1", "conv2", 64)}, "r2");
  auto* p2 = Add(g, "MaxPool", {"r2"}, "p2");
  Ints(p2, "kernel_shape", {2, 2});
  Ints(p2, "strides", {2, 2});
  Int(Add(g, "Flatten", {"p2"}, "f"), "axis", 1);
  Int(Add(g, "Gemm", {"f", "fc1.weight", "fc1.bias"}, "h"), "transB", 1);
  Add(g, "Relu", {"h"}, "r3");
  Int(Add(g, "Gemm", {"r3", "fc2.weight", "fc2.bias"}, "logits"), "transB", 1);
  return m;
}

}  // namespace lowbit
