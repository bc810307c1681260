// The engine's graph importer, checks, shape inference and kernels,
// structure-aware: the fuzz input builds a small ONNX model (opset, one input
// of fuzzed shape, a chain of nodes drawn from the operators the engine runs
// with fuzzed attributes, constants of fuzzed shapes and values, inputs
// wired to earlier values), which goes through ImportOnnx, Session::Create
// and Run on an input of the declared shape. Invariants: a refusal has a
// message naming something; an accepted run returns one tensor per output
// holding its shape's bytes. Memory is bounded by the session's limit on
// value sizes (16 MiB here).
#include <fuzzer/FuzzedDataProvider.h>
#include <onnx/onnx_pb.h>

#include <cstring>

#include "fuzz/fuzz_util.h"
#include "graph/session.h"
#include "io/onnx_import.h"

namespace {

using lowbit::fuzz::Check;

const char* const kOps[] = {"Add",
                            "Sub",
                            "Mul",
                            "Div",
                            "Pow",
                            "Max",
                            "Relu",
                            "Sigmoid",
                            "Clip",
                            "HardSigmoid",
                            "HardSwish",
                            "LeakyRelu",
                            "Softmax",
                            "LogSoftmax",
                            "MatMul",
                            "Gemm",
                            "Conv",
                            "ConvTranspose",
                            "MaxPool",
                            "AveragePool",
                            "GlobalAveragePool",
                            "BatchNormalization",
                            "InstanceNormalization",
                            "LayerNormalization",
                            "ReduceMean",
                            "ReduceSum",
                            "ReduceMax",
                            "ArgMax",
                            "Reshape",
                            "Transpose",
                            "Squeeze",
                            "Unsqueeze",
                            "Flatten",
                            "Concat",
                            "Split",
                            "Slice",
                            "Pad",
                            "Tile",
                            "Expand",
                            "Gather",
                            "Shape",
                            "Cast",
                            "ConstantOfShape",
                            "Range",
                            "Where",
                            "Equal",
                            "Resize",
                            "Identity",
                            "LRN",
                            "Sqrt",
                            "Exp",
                            "Erf",
                            "DequantizeLinear",
                            "QuantizeLinear"};
const char* const kIntsAttrs[] = {
    "kernel_shape", "pads",  "strides", "dilations", "perm",
    "axes",         "split", "starts",  "ends",      "output_padding"};
const char* const kIntAttrs[] = {
    "axis", "group",     "keepdims",          "transB", "transA", "ceil_mode",
    "to",   "allowzero", "count_include_pad", "size"};
const char* const kStrAttrs[] = {
    "auto_pad", "mode", "coordinate_transformation_mode", "nearest_mode"};
const char* const kStrValues[] = {
    "NOTSET",  "SAME_UPPER", "VALID",      "constant",   "reflect", "edge",
    "nearest", "linear",     "half_pixel", "asymmetric", "floor",   "bogus"};

int64_t SmallInt(FuzzedDataProvider& p) {
  switch (p.ConsumeIntegralInRange<int>(0, 9)) {
    case 0:
      return -p.ConsumeIntegralInRange<int64_t>(1, 5);
    case 1:
      return p.ConsumeIntegral<int64_t>();
    default:
      return p.ConsumeIntegralInRange<int64_t>(0, 6);
  }
}

onnx::TensorProto Constant(FuzzedDataProvider& p, const std::string& name) {
  onnx::TensorProto t;
  t.set_name(name);
  const bool ints = p.ConsumeBool();
  t.set_data_type(ints ? onnx::TensorProto::INT64 : onnx::TensorProto::FLOAT);
  const int rank = p.ConsumeIntegralInRange(0, 4);
  int64_t n = 1;
  for (int i = 0; i < rank; ++i) {
    const int64_t d = p.ConsumeIntegralInRange<int64_t>(1, 4);
    t.add_dims(d);
    n *= d;
  }
  for (int64_t i = 0; i < n; ++i) {
    if (ints) {
      t.add_int64_data(SmallInt(p));
    } else {
      t.add_float_data(p.ConsumeFloatingPointInRange<float>(-4.0f, 4.0f));
    }
  }
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lowbit;
  FuzzedDataProvider p(data, size);
  onnx::ModelProto m;
  m.set_ir_version(8);
  const int64_t opsets[] = {6, 9, 11, 13, 18};
  m.add_opset_import()->set_version(
      opsets[p.ConsumeIntegralInRange<int>(0, 4)]);
  onnx::GraphProto& g = *m.mutable_graph();
  // The input x: rank 1 to 4, small dimensions.
  std::vector<int64_t> xdims;
  auto* in = g.add_input();
  in->set_name("x");
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  const int rank = p.ConsumeIntegralInRange(1, 4);
  for (int i = 0; i < rank; ++i) {
    xdims.push_back(p.ConsumeIntegralInRange<int64_t>(1, 6));
    tt->mutable_shape()->add_dim()->set_dim_value(xdims.back());
  }
  std::vector<std::string> values = {"x"};
  const int nodes = p.ConsumeIntegralInRange(1, 6);
  for (int k = 0; k < nodes && p.remaining_bytes() > 0; ++k) {
    onnx::NodeProto& n = *g.add_node();
    n.set_op_type(
        kOps[p.ConsumeIntegralInRange<size_t>(0, std::size(kOps) - 1)]);
    n.set_name("n" + std::to_string(k));
    const int inputs = p.ConsumeIntegralInRange(0, 4);
    for (int i = 0; i < inputs; ++i) {
      if (p.ConsumeBool()) {
        const std::string c = "c" + std::to_string(k) + "_" + std::to_string(i);
        *g.add_initializer() = Constant(p, c);
        n.add_input(c);
      } else if (p.ConsumeIntegralInRange(0, 9) == 0) {
        n.add_input("");  // an omitted optional input
      } else {
        n.add_input(
            values[p.ConsumeIntegralInRange<size_t>(0, values.size() - 1)]);
      }
    }
    const int outputs = p.ConsumeIntegralInRange(1, 2);
    for (int o = 0; o < outputs; ++o) {
      n.add_output("v" + std::to_string(k) + "_" + std::to_string(o));
    }
    values.push_back(n.output(0));
    const int attrs = p.ConsumeIntegralInRange(0, 4);
    for (int a = 0; a < attrs; ++a) {
      auto* at = n.add_attribute();
      switch (p.ConsumeIntegralInRange(0, 3)) {
        case 0: {
          at->set_name(kIntsAttrs[p.ConsumeIntegralInRange<size_t>(
              0, std::size(kIntsAttrs) - 1)]);
          at->set_type(onnx::AttributeProto::INTS);
          const int len = p.ConsumeIntegralInRange(0, 6);
          for (int i = 0; i < len; ++i) at->add_ints(SmallInt(p));
          break;
        }
        case 1:
          at->set_name(kIntAttrs[p.ConsumeIntegralInRange<size_t>(
              0, std::size(kIntAttrs) - 1)]);
          at->set_type(onnx::AttributeProto::INT);
          at->set_i(SmallInt(p));
          break;
        case 2:
          at->set_name(kStrAttrs[p.ConsumeIntegralInRange<size_t>(
              0, std::size(kStrAttrs) - 1)]);
          at->set_type(onnx::AttributeProto::STRING);
          at->set_s(kStrValues[p.ConsumeIntegralInRange<size_t>(
              0, std::size(kStrValues) - 1)]);
          break;
        default:
          at->set_name(p.ConsumeBool() ? "alpha" : "epsilon");
          at->set_type(onnx::AttributeProto::FLOAT);
          at->set_f(p.ConsumeFloatingPointInRange<float>(-2.0f, 2.0f));
          break;
      }
    }
  }
  auto* out = g.add_output();
  out->set_name(values.back());
  out->mutable_type()->mutable_tensor_type()->set_elem_type(
      onnx::TensorProto::FLOAT);
  std::string bytes;
  Check(m.SerializeToString(&bytes), "the model serializes");
  const fuzz::fs::path dir = fuzz::Scratch();
  const std::string path = fuzz::WriteFile(
      dir / "m.onnx", reinterpret_cast<const uint8_t*>(bytes.data()),
      bytes.size());
  auto graph = ImportOnnx(path);
  if (!graph.ok()) {
    Check(!graph.status().message().empty(), "refusal without a message");
    return 0;
  }
  graph::SessionOptions o;
  o.threads = 1;
  o.max_value_bytes = int64_t{16} << 20;
  auto s = graph::Session::Create(*graph, o);
  if (!s.ok()) {
    Check(!s.status().message().empty(), "refusal without a message");
    return 0;
  }
  graph::Tensor x = graph::Tensor::Zeros(DType::kF32, xdims);
  for (int64_t i = 0; i < x.numel(); ++i) {
    x.data<float>()[i] = static_cast<float>(i % 7) - 3.0f;
  }
  auto r = (*s)->Run({{"x", x}});
  if (!r.ok()) {
    Check(!r.status().message().empty(), "refusal without a message");
    return 0;
  }
  Check(r->size() == 1, "one output");
  const graph::Tensor& y = (*r)[0];
  // Touch every byte: a short buffer is a sanitizer report.
  uint8_t sum = 0;
  for (int64_t i = 0; i < y.nbytes(); ++i) sum ^= y.bytes()[i];
  (void)sum;
  return 0;
}
