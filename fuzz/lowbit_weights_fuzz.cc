// The recognition of lowbit's decode subgraphs at import
// (io/onnx_lowbit_weights.h), structure-aware: the fuzz input quantizes a
// small weight (scheme, granularity, group size, shape, values), writes it in
// the decode form into a model whose graph output is the weight itself, then
// edits the file: the "lowbit.q.<weight>" record (replaced by fuzzed text, or
// one field changed), an initializer's bytes or dims, a node's operator or
// attributes, a node dropped. The model is run twice on lowbit's engine:
// with its record (the weight may be recognised and decoded from its codes)
// and without (the file's own nodes compute it). Invariant: recognition
// never changes the result: both runs fail, or both give the same bits.
#include <fuzzer/FuzzedDataProvider.h>
#include <onnx/onnx_pb.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "core/thread_pool.h"
#include "fuzz/fuzz_util.h"
#include "graph/session.h"
#include "io/onnx_import.h"
#include "io/onnx_quantized.h"
#include "quant/quantize.h"

namespace {

using lowbit::fuzz::Check;

const char* const kSchemes[] = {
    "int2",    "int3",    "int4",   "int5",     "int8",  "nf4",     "kmeans2",
    "kmeans3", "ternary", "binary", "fp4_e2m1", "mxfp4", "fp8_e4m3"};
const char* const kFields[] = {"scheme",    "granularity", "group_size",
                               "symmetric", "scale_type",  "axis",
                               "shape"};

struct Outcome {
  bool ok = false;
  size_t recognised = 0;
  std::vector<float> values;
};

Outcome RunModel(const onnx::ModelProto& m, const std::string& path) {
  Outcome o;
  std::string bytes;
  if (!m.SerializeToString(&bytes)) return o;
  lowbit::fuzz::WriteFile(path, reinterpret_cast<const uint8_t*>(bytes.data()),
                          bytes.size());
  auto g = lowbit::ImportOnnx(path);
  if (!g.ok()) return o;
  o.recognised = (*g)->qweights.size();
  lowbit::graph::SessionOptions so;
  so.threads = 1;
  so.max_value_bytes = int64_t{16} << 20;
  auto s = lowbit::graph::Session::Create(*g, so);
  if (!s.ok()) return o;
  auto out = (*s)->Run({});
  if (!out.ok() || out->size() != 1) return o;
  const lowbit::graph::Tensor& t = (*out)[0];
  if (t.dtype() != lowbit::DType::kF32) return o;
  o.values.assign(t.data<float>(), t.data<float>() + t.numel());
  o.ok = true;
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const std::string scheme_name = in.PickValueInArray(kSchemes);
  const auto scheme = lowbit::ParseScheme(scheme_name);
  if (!scheme) return 0;
  // The weight: a MatMul-like [K, N] (axis 1) or a Conv-like [O, C, kh, kw]
  // (axis 0).
  lowbit::Shape shape;
  int axis = 0;
  if (in.ConsumeBool()) {
    shape = {in.ConsumeIntegralInRange<int64_t>(1, 70),
             in.ConsumeIntegralInRange<int64_t>(1, 6)};
    axis = 1;
  } else {
    shape = {in.ConsumeIntegralInRange<int64_t>(1, 6),
             in.ConsumeIntegralInRange<int64_t>(1, 8),
             in.ConsumeIntegralInRange<int64_t>(1, 3),
             in.ConsumeIntegralInRange<int64_t>(1, 3)};
  }
  const int64_t rows = shape[axis], n = lowbit::NumElements(shape);
  std::vector<float> w(static_cast<size_t>(n));
  for (float& v : w) v = in.ConsumeFloatingPointInRange<float>(-4.0f, 4.0f);
  lowbit::QuantConfig cfg;
  cfg.scheme = *scheme;
  const int gran = in.ConsumeIntegralInRange(0, 2);
  cfg.granularity = gran;
  if (gran == static_cast<int>(lowbit::Granularity::kGroup)) {
    cfg.group_size = int64_t{16} << in.ConsumeIntegralInRange(0, 2);
  }
  cfg.symmetric = in.ConsumeBool() ? 1 : 0;
  lowbit::ThreadPool pool(1);
  const std::vector<float> front = lowbit::AxisToFront(w.data(), shape, axis);
  auto q = lowbit::Quantize(front.data(), {rows, n / rows}, cfg, pool);
  if (!q.ok()) return 0;

  onnx::ModelProto m;
  m.set_ir_version(8);
  const int64_t opset = in.ConsumeBool() ? 9 : 13;
  m.add_opset_import()->set_version(opset);
  onnx::GraphProto& g = *m.mutable_graph();
  g.set_name("w");
  onnx::TensorProto* init = g.add_initializer();
  init->set_name("w");
  init->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : shape) init->add_dims(d);
  init->set_raw_data(w.data(), w.size() * sizeof(float));
  onnx::ValueInfoProto* out = g.add_output();
  out->set_name("w");
  out->mutable_type()->mutable_tensor_type()->set_elem_type(
      onnx::TensorProto::FLOAT);
  if (!lowbit::WriteOnnxWeight(m, opset, "w", shape, axis, *q,
                               lowbit::OnnxEncoding::kDecode)
           .ok()) {
    return 0;
  }

  // Edits.
  const int edits = in.ConsumeIntegralInRange(0, 3);
  for (int e = 0; e < edits && in.remaining_bytes() > 0; ++e) {
    switch (in.ConsumeIntegralInRange(0, 5)) {
      case 0: {  // the record replaced by fuzzed text
        for (auto& kv : *m.mutable_metadata_props()) {
          if (kv.key() == "lowbit.q.w") {
            kv.set_value(in.ConsumeRandomLengthString(200));
          }
        }
        break;
      }
      case 1: {  // one field of the record changed
        for (auto& kv : *m.mutable_metadata_props()) {
          if (kv.key() != "lowbit.q.w") continue;
          auto j = nlohmann::json::parse(kv.value(), nullptr, false);
          if (j.is_discarded()) break;
          const std::string f = in.PickValueInArray(kFields);
          switch (in.ConsumeIntegralInRange(0, 3)) {
            case 0:
              j[f] = in.ConsumeIntegral<int64_t>();
              break;
            case 1:
              j[f] = in.ConsumeRandomLengthString(12);
              break;
            case 2:
              j[f] = in.ConsumeBool();
              break;
            default:
              j[f] = nlohmann::json::array(
                  {in.ConsumeIntegralInRange<int64_t>(-2, 80),
                   in.ConsumeIntegralInRange<int64_t>(-2, 80)});
          }
          kv.set_value(
              j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        }
        break;
      }
      case 2: {  // an initializer's bytes
        if (g.initializer_size() == 0) break;
        auto* t = g.mutable_initializer(
            in.ConsumeIntegralInRange(0, g.initializer_size() - 1));
        std::string raw = t->raw_data();
        if (raw.empty()) break;
        const size_t at = in.ConsumeIntegralInRange<size_t>(0, raw.size() - 1);
        raw[at] = static_cast<char>(in.ConsumeIntegral<uint8_t>());
        if (in.ConsumeBool()) raw.resize(at);
        t->set_raw_data(raw);
        break;
      }
      case 3: {  // an initializer's dims
        if (g.initializer_size() == 0) break;
        auto* t = g.mutable_initializer(
            in.ConsumeIntegralInRange(0, g.initializer_size() - 1));
        if (t->dims_size() == 0) break;
        t->set_dims(in.ConsumeIntegralInRange(0, t->dims_size() - 1),
                    in.ConsumeIntegralInRange<int64_t>(0, 80));
        break;
      }
      case 4: {  // a node's operator
        if (g.node_size() == 0) break;
        auto* node =
            g.mutable_node(in.ConsumeIntegralInRange(0, g.node_size() - 1));
        const char* const ops[] = {"Add", "Sub", "Mul", "Div", "Identity"};
        node->set_op_type(in.PickValueInArray(ops));
        break;
      }
      default: {  // a node dropped
        if (g.node_size() == 0) break;
        const int k = in.ConsumeIntegralInRange(0, g.node_size() - 1);
        g.mutable_node()->DeleteSubrange(k, 1);
      }
    }
  }

  const lowbit::fuzz::fs::path dir = lowbit::fuzz::Scratch();
  const Outcome with = RunModel(m, (dir / "with.onnx").string());
  onnx::ModelProto bare = m;
  bare.clear_metadata_props();
  const Outcome without = RunModel(bare, (dir / "without.onnx").string());
  Check(without.recognised == 0,
        "a model without records had a quantized weight");
  if (with.ok && without.ok) {
    Check(with.values.size() == without.values.size(),
          "recognition changed the weight's size");
    Check(std::memcmp(with.values.data(), without.values.data(),
                      with.values.size() * sizeof(float)) == 0,
          "recognition changed the weight's values");
  }
  // A recognised weight is one whose subgraph runs: refusing it only after
  // recognition would mean the check let a broken subgraph through.
  if (with.recognised > 0) {
    Check(with.ok && without.ok, "a recognised weight's model does not run");
  }
  return 0;
}
