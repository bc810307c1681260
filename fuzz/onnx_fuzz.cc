// The ONNX reader, structure-aware: byte mutation of a protobuf rarely yields
// one that parses, so the fuzz input drives the construction of a ModelProto
// (opset, nodes and their inputs, Constant nodes and attributes, initializers
// with any element type, dims including negative and huge ones, which data
// field holds the values and how many, external data with hostile locations,
// offsets and lengths, and an external file of fuzzed bytes). The serialized
// model goes through OnnxModel::Open, every tensor is read, and every weight
// it finds is quantized and written back in each ONNX encoding.
// Invariants: accepted tensors read as their shape's number of values; the
// rewritten model still serializes.
#include <fuzzer/FuzzedDataProvider.h>
#include <onnx/onnx_pb.h>

#include <cstdlib>
#include <functional>

#include "core/thread_pool.h"
#include "fuzz/fuzz_util.h"
#include "io/onnx_model.h"
#include "io/onnx_quantized.h"
#include "quant/quantize.h"

namespace {

using lowbit::fuzz::Check;

const int kTypes[] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12,
                      13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 99};
const char* const kOps[] = {"MatMul",        "Conv",     "Gemm", "Gather",
                            "ConvTranspose", "Identity", "Add",  "Constant"};
const char* const kLocations[] = {
    "w.bin", "sub/../w.bin", "../w.bin", "/etc/passwd",
    "",      "missing.bin",  "w.bin/",   "."};
const char* const kNumbers[] = {"0",
                                "16",
                                "-1",
                                "12abc",
                                "",
                                "9223372036854775807",
                                "18446744073709551616",
                                "64",
                                " 8",
                                "1e3"};

void FillTensor(FuzzedDataProvider& in, onnx::TensorProto& t,
                const std::string& name) {
  t.set_name(name);
  t.set_data_type(in.PickValueInArray(kTypes));
  const int rank = in.ConsumeIntegralInRange(0, 4);
  int64_t n = 1;
  for (int i = 0; i < rank; ++i) {
    const int64_t d = in.ConsumeBool()
                          ? in.ConsumeIntegralInRange<int64_t>(0, 40)
                          : in.ConsumeIntegral<int64_t>();
    t.add_dims(d);
    if (d >= 0 && d < 1000 && n < 100000) n *= d;
  }
  if (n > 4096) n = 4096;
  const int where = in.ConsumeIntegralInRange(0, 4);
  const int delta = in.ConsumeIntegralInRange(-2, 2);
  const int64_t count =
      std::max<int64_t>(0, n + (in.ConsumeBool() ? delta : 0));
  switch (where) {
    case 0: {  // raw_data of (nearly) the right size
      const size_t bytes =
          static_cast<size_t>(count) * in.ConsumeIntegralInRange<size_t>(0, 8);
      t.set_raw_data(in.ConsumeBytesAsString(bytes));
      break;
    }
    case 1:  // the typed field of its type, or another one
      for (int64_t i = 0; i < count && in.remaining_bytes() > 0; ++i) {
        switch (in.ConsumeIntegralInRange(0, 4)) {
          case 0:
            t.add_float_data(in.ConsumeFloatingPoint<float>());
            break;
          case 1:
            t.add_int32_data(in.ConsumeIntegral<int32_t>());
            break;
          case 2:
            t.add_int64_data(in.ConsumeIntegral<int64_t>());
            break;
          case 3:
            t.add_double_data(in.ConsumeFloatingPoint<double>());
            break;
          default:
            t.add_uint64_data(in.ConsumeIntegral<uint64_t>());
        }
      }
      break;
    case 2: {  // external data
      t.set_data_location(onnx::TensorProto::EXTERNAL);
      const int keys = in.ConsumeIntegralInRange(0, 4);
      for (int k = 0; k < keys; ++k) {
        auto* e = t.add_external_data();
        switch (in.ConsumeIntegralInRange(0, 3)) {
          case 0:
            e->set_key("location");
            e->set_value(in.ConsumeBool()
                             ? std::string(in.PickValueInArray(kLocations))
                             : in.ConsumeRandomLengthString(16));
            break;
          case 1:
            e->set_key("offset");
            e->set_value(in.PickValueInArray(kNumbers));
            break;
          case 2:
            e->set_key("length");
            e->set_value(in.ConsumeBool()
                             ? std::string(in.PickValueInArray(kNumbers))
                             : std::to_string(in.ConsumeIntegral<int16_t>()));
            break;
          default:
            e->set_key(in.ConsumeRandomLengthString(8));
            e->set_value(in.ConsumeRandomLengthString(8));
        }
      }
      break;
    }
    default:  // no data at all
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lowbit;
  FuzzedDataProvider in(data, size);
  const fuzz::fs::path dir = fuzz::Scratch();
  onnx::ModelProto m;
  m.set_ir_version(in.ConsumeIntegralInRange(3, 10));
  if (in.ConsumeBool()) {
    auto* op = m.add_opset_import();
    op->set_version(in.ConsumeIntegralInRange<int64_t>(-1, 25));
    if (in.ConsumeBool()) op->set_domain(in.ConsumeBool() ? "ai.onnx" : "x");
  }
  onnx::GraphProto& g = *m.mutable_graph();
  std::vector<std::string> names = {"x"};
  g.add_input()->set_name("x");
  const int inits = in.ConsumeIntegralInRange(0, 4);
  for (int i = 0; i < inits; ++i) {
    const std::string name =
        in.ConsumeBool() ? "w" + std::to_string(i) : "w0";  // duplicates too
    FillTensor(in, *g.add_initializer(), name);
    names.push_back(name);
  }
  const int nodes = in.ConsumeIntegralInRange(0, 5);
  for (int i = 0; i < nodes; ++i) {
    onnx::NodeProto& n = *g.add_node();
    n.set_op_type(in.PickValueInArray(kOps));
    if (in.ConsumeBool()) n.set_domain(in.ConsumeBool() ? "ai.onnx" : "x.y");
    const int ins = in.ConsumeIntegralInRange(0, 3);
    for (int k = 0; k < ins; ++k) {
      n.add_input(
          in.ConsumeBool()
              ? names[in.ConsumeIntegralInRange<size_t>(0, names.size() - 1)]
              : in.ConsumeRandomLengthString(4));
    }
    const std::string out = "n" + std::to_string(i);
    n.add_output(out);
    names.push_back(out);
    const int attrs = in.ConsumeIntegralInRange(0, 2);
    for (int k = 0; k < attrs; ++k) {
      auto* a = n.add_attribute();
      switch (in.ConsumeIntegralInRange(0, 3)) {
        case 0:  // a Constant's tensor
          a->set_name("value");
          a->set_type(onnx::AttributeProto::TENSOR);
          FillTensor(in, *a->mutable_t(), in.ConsumeRandomLengthString(4));
          break;
        case 1:
          a->set_name("transB");
          a->set_i(in.ConsumeIntegral<int64_t>());
          break;
        case 2:
          a->set_name("group");
          a->set_i(in.ConsumeIntegral<int64_t>());
          break;
        default:
          a->set_name(in.ConsumeRandomLengthString(6));
          a->add_ints(in.ConsumeIntegral<int64_t>());
      }
    }
  }
  // The external file: the fuzz input's remaining bytes, or none.
  const bool ext = in.ConsumeBool();
  const std::string rest = in.ConsumeRemainingBytesAsString();
  if (ext) {
    fuzz::WriteFile(dir / "w.bin",
                    reinterpret_cast<const uint8_t*>(rest.data()), rest.size());
  }
  std::string bytes;
  if (!m.SerializeToString(&bytes)) return 0;
  const std::string path = fuzz::WriteFile(
      dir / "m.onnx", reinterpret_cast<const uint8_t*>(bytes.data()),
      bytes.size());
  // scripts/reader_memory.sh measures the command on the models this target
  // builds: with LOWBIT_FUZZ_KEEP set, each is also kept in that folder.
  if (const char* keep = std::getenv("LOWBIT_FUZZ_KEEP")) {
    // One folder per model: m.onnx and the external file it may point at.
    const fuzz::fs::path to =
        fuzz::fs::path(keep) /
        ("m" + std::to_string(std::hash<std::string>{}(bytes + rest)));
    fuzz::fs::create_directories(to);
    fuzz::WriteFile(to / "m.onnx",
                    reinterpret_cast<const uint8_t*>(bytes.data()),
                    bytes.size());
    if (ext) {
      fuzz::WriteFile(to / "w.bin",
                      reinterpret_cast<const uint8_t*>(rest.data()),
                      rest.size());
    }
  }
  auto model = OnnxModel::Open(path);
  if (!model.ok()) return 0;
  fuzz::CheckModel(**model);
  // Every weight found, quantized and written back in every encoding.
  const auto weights = (*model)->Weights(true);
  if ((*model)->Materialize().ok()) {
    ThreadPool pool(1);
    for (const auto& [name, use] : weights) {
      const ModelTensor* t = (*model)->Find(name);
      Check(t != nullptr, "weight " + name + " is not a tensor");
      auto x = (*model)->ReadFloat(*t);
      if (!x.ok()) continue;
      const std::vector<float> front =
          AxisToFront(x->data(), t->shape, use.channel_axis);
      Check(front.size() == x->size(), name + ": AxisToFront size");
      const int64_t rows = t->shape[use.channel_axis];
      if (rows <= 0 || front.empty()) continue;
      QuantConfig c;
      c.scheme = *ParseScheme("int4");
      auto q = Quantize(front.data(),
                        Shape{rows, static_cast<int64_t>(front.size()) / rows},
                        c, pool);
      if (!q.ok()) continue;  // NaN or Inf weights are refused
      for (OnnxEncoding e :
           {OnnxEncoding::kQdq, OnnxEncoding::kDecode, OnnxEncoding::kFloat,
            OnnxEncoding::kMatMulNBits}) {
        onnx::ModelProto copy = (*model)->proto();
        (void)WriteOnnxWeight(copy, (*model)->opset(), name, t->shape,
                              use.channel_axis, *q, e);
        std::string out;
        Check(copy.SerializeToString(&out), name + ": rewritten model");
      }
    }
  }
  return 0;
}
