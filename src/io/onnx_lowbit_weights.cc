// Recognising lowbit's decode subgraphs (io/onnx_lowbit_weights.h).
#include "io/onnx_lowbit_weights.h"

#include <onnx/onnx_pb.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "core/half.h"
#include "formats/bitpack.h"
#include "io/onnx_model.h"
#include "io/onnx_quantized.h"

namespace lowbit {
namespace {

constexpr char kPrefix[] = "lowbit.q.";

const graph::Tensor* Init(const std::map<std::string, graph::Tensor>& inits,
                          const std::string& name, DType dtype, int64_t n) {
  auto it = inits.find(name);
  if (it == inits.end() || it->second.dtype() != dtype ||
      it->second.numel() != n) {
    return nullptr;
  }
  return &it->second;
}

// The QuantizedTensor whose decode form `record` and the initializers
// describe (the inverse of WriteDecode's packing); an error says why not.
Result<QuantizedTensor> Rebuild(const nlohmann::json& j,
                                const std::string& name,
                                const std::map<std::string, graph::Tensor>& in,
                                Shape* shape, int* axis) {
  QuantizedTensor q;
  const auto scheme = ParseScheme(j.at("scheme").get<std::string>());
  const auto gran = ParseGranularity(j.at("granularity").get<std::string>());
  const auto stype = ParseScaleType(j.at("scale_type").get<std::string>());
  if (!scheme || !gran || !stype) return BadInput("unknown scheme");
  q.scheme = *scheme;
  q.granularity = *gran;
  q.scale_type = *stype;
  q.group_size = j.at("group_size").get<int64_t>();
  q.symmetric = j.at("symmetric").get<bool>();
  const auto ztype = ParseZeroType(j.value("zero_type", "code"));
  if (!ztype) return BadInput("unknown zero type");
  q.zero_type = *ztype;
  *axis = j.at("axis").get<int>();
  *shape = j.at("shape").get<Shape>();
  const int rank = static_cast<int>(shape->size());
  if (*axis < 0 || *axis >= rank) return BadInput("axis out of range");
  for (int64_t d : *shape) {
    if (d <= 0 || d > QuantizedTensor::kMaxElements) {
      return BadInput("bad shape");
    }
  }
  const int64_t numel = NumElements(*shape);
  if (numel > QuantizedTensor::kMaxElements) return BadInput("too large");
  q.rows = (*shape)[*axis];
  q.cols = numel / q.rows;
  q.shape = {q.rows, q.cols};
  q.method = "lowbit decode";
  if (q.granularity != Granularity::kGroup) q.group_size = q.cols;
  if (q.group_size <= 0 || q.group_size > q.cols * 2 + 64) {
    return BadInput("bad group size");
  }
  const int64_t R = q.rows, C = q.cols, G = q.groups_per_row();
  const bool grouped = q.granularity == Granularity::kGroup && G > 1;
  const int64_t Cp = grouped ? G * q.group_size : C;
  const int bits = q.scheme.bits;
  const std::vector<int> widths = CodePlaneWidths(bits);
  const std::string p = name + "/lowbit_";
  // Codes: flat R x Cp, in bit planes, each packed in 8 / width segments.
  std::vector<uint8_t> flat(static_cast<size_t>(R * Cp), 0);
  const int64_t total = R * Cp;
  if (widths.size() == 1 && widths[0] == 8) {
    const graph::Tensor* t = Init(in, p + "codes", DType::kU8, total);
    if (t == nullptr) return BadInput("codes missing or mis-sized");
    std::memcpy(flat.data(), t->bytes(), static_cast<size_t>(total));
  } else {
    int offset = 0;
    for (size_t k = 0; k < widths.size(); ++k) {
      const int width = widths[k];
      const std::string tag =
          widths.size() == 1 ? "" : "plane" + std::to_string(k) + "_";
      const int per = 8 / width;
      const int64_t seg = (total + per - 1) / per;
      const graph::Tensor* t =
          Init(in, p + tag + "codes_packed", DType::kU8, seg);
      if (t == nullptr) return BadInput("codes_packed missing or mis-sized");
      const uint8_t* b = t->bytes();
      for (int64_t i = 0; i < total; ++i) {
        flat[i] |= static_cast<uint8_t>(
            ((b[i % seg] >> (width * (i / seg))) & ((1 << width) - 1))
            << offset);
      }
      offset += width;
    }
  }
  q.codes.assign(static_cast<size_t>(R * q.code_row_bytes()), 0);
  for (int64_t r = 0; r < R; ++r) {
    for (int64_t c = 0; c < C; ++c) {
      if (flat[r * Cp + c] >> bits) return BadInput("code out of range");
    }
    PackBits(flat.data() + r * Cp, C, bits,
             q.codes.data() + r * q.code_row_bytes());
  }
  const int64_t ns = q.scale_rows() * G;
  if (q.scheme.kind == SchemeKind::kKmeans) {
    const int64_t K = q.levels();
    const graph::Tensor* t =
        Init(in, p + "table", DType::kF32, q.scale_rows() * K);
    if (t == nullptr) return BadInput("table missing or mis-sized");
    q.codebook.assign(t->data<float>(), t->data<float>() + t->numel());
  } else if (q.scale_type == ScaleType::kF16) {
    const graph::Tensor* t = Init(in, p + "scale_f16", DType::kF16, ns);
    if (t == nullptr) return BadInput("scale_f16 missing or mis-sized");
    q.scales.resize(static_cast<size_t>(ns));
    for (int64_t i = 0; i < ns; ++i) {
      q.scales[i] = F16ToF32(t->data<uint16_t>()[i]);
    }
  } else {
    const graph::Tensor* t = Init(in, p + "scale", DType::kF32, ns);
    if (t == nullptr) return BadInput("scale missing or mis-sized");
    q.scales.assign(t->data<float>(), t->data<float>() + ns);
  }
  if (q.zero_type == ZeroType::kF16) {
    if (q.scheme.kind != SchemeKind::kInt || q.symmetric) {
      return BadInput("f16 zero points on a symmetric scheme");
    }
    const graph::Tensor* t = Init(in, p + "zero_f16", DType::kF16, ns);
    if (t == nullptr) return BadInput("zero_f16 missing or mis-sized");
    q.zeros.assign(t->bytes(), t->bytes() + 2 * ns);
  } else if (q.scheme.kind == SchemeKind::kInt && !q.symmetric) {
    const graph::Tensor* t = Init(in, p + "zero_u8", DType::kU8, ns);
    if (t == nullptr) return BadInput("zero_u8 missing or mis-sized");
    q.zeros.assign(static_cast<size_t>(q.scale_rows() * q.zero_row_bytes()), 0);
    for (int64_t r = 0; r < q.scale_rows(); ++r) {
      for (int64_t g = 0; g < G; ++g) {
        if (t->bytes()[r * G + g] >> bits) return BadInput("zero out of range");
      }
      PackBits(t->bytes() + r * G, G, bits,
               q.zeros.data() + r * q.zero_row_bytes());
    }
  }
  LB_RETURN_IF_ERROR(q.Validate());
  return q;
}

// Whether the initializer `t` written by WriteOnnxWeight equals the file's.
bool SameInit(const onnx::TensorProto& t,
              const std::map<std::string, graph::Tensor>& in) {
  auto it = in.find(t.name());
  const auto dt = DTypeOfOnnx(t.data_type());
  if (it == in.end() || !dt || it->second.dtype() != *dt) return false;
  const Shape dims(t.dims().begin(), t.dims().end());
  if (it->second.shape() != dims) return false;
  const std::string& raw = t.raw_data();
  return static_cast<int64_t>(raw.size()) == it->second.nbytes() &&
         (raw.empty() ||
          std::memcmp(raw.data(), it->second.bytes(), raw.size()) == 0);
}

}  // namespace

std::string LowbitWeightKey(const std::string& weight) {
  return kPrefix + weight;
}

std::string LowbitWeightRecord(const QuantizedTensor& q, const Shape& shape,
                               int axis) {
  nlohmann::json j;
  j["scheme"] = q.scheme.Name();
  j["granularity"] = GranularityName(q.granularity);
  j["group_size"] = q.group_size;
  j["symmetric"] = q.symmetric;
  j["scale_type"] = std::string(ScaleTypeName(q.scale_type));
  if (q.zero_type != ZeroType::kCode) {
    j["zero_type"] = std::string(ZeroTypeName(q.zero_type));
  }
  j["axis"] = axis;
  j["shape"] = shape;
  return j.dump();
}

LowbitDecoded RecognizeLowbitDecode(
    const onnx::ModelProto& m, int64_t opset,
    const std::map<std::string, graph::Tensor>& inits) {
  LowbitDecoded out;
  const onnx::GraphProto& g = m.graph();
  std::map<std::string, int> producer;  // output name -> node index
  for (int i = 0; i < g.node_size(); ++i) {
    for (const std::string& o : g.node(i).output()) producer[o] = i;
  }
  std::set<std::string> graph_outputs;
  for (const auto& v : g.output()) graph_outputs.insert(v.name());
  for (const auto& kv : m.metadata_props()) {
    if (kv.key().rfind(kPrefix, 0) != 0) continue;
    const std::string name = kv.key().substr(sizeof(kPrefix) - 1);
    auto reject = [&](const std::string& why) {
      out.rejected.push_back(name + ": " + why);
    };
    nlohmann::json j = nlohmann::json::parse(kv.value(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      reject("unreadable record");
      continue;
    }
    Shape shape;
    int axis = 0;
    Result<QuantizedTensor> q = BadInput("");
    try {
      q = Rebuild(j, name, inits, &shape, &axis);
    } catch (const nlohmann::json::exception&) {
      reject("incomplete record");
      continue;
    }
    if (!q.ok()) {
      reject(q.status().message());
      continue;
    }
    // The subgraph lowbit writes for this tensor, in a scratch model.
    onnx::ModelProto scratch;
    if (!WriteOnnxWeight(scratch, opset, name, shape, axis, *q,
                         OnnxEncoding::kDecode)
             .ok()) {
      reject("cannot be written again");
      continue;
    }
    bool same = true;
    std::set<int> nodes;
    std::set<std::string> made;
    for (const onnx::NodeProto& n : scratch.graph().node()) {
      if (n.output_size() != 1) same = false;
      auto it = same ? producer.find(n.output(0)) : producer.end();
      if (it == producer.end() ||
          g.node(it->second).SerializeAsString() != n.SerializeAsString()) {
        same = false;
        break;
      }
      nodes.insert(it->second);
      made.insert(n.output(0));
    }
    for (const onnx::TensorProto& t : scratch.graph().initializer()) {
      same = same && SameInit(t, inits);
    }
    if (!same) {
      reject("the subgraph differs from what lowbit writes");
      continue;
    }
    // No other node (and no graph output) may read an intermediate value.
    for (int i = 0; i < g.node_size() && same; ++i) {
      if (nodes.count(i)) continue;
      for (const std::string& in : g.node(i).input()) {
        same = same && !(made.count(in) && in != name);
      }
    }
    for (const std::string& o : made) {
      same = same && !(graph_outputs.count(o) && o != name);
    }
    if (!same || out.weights.count(name)) {
      reject("its intermediate values are read elsewhere");
      continue;
    }
    auto w = std::make_shared<graph::QuantWeight>();
    w->q = std::move(*q);
    w->shape = shape;
    w->axis = axis;
    w->source = "lowbit decode";
    out.weights[name] = std::move(w);
    out.node_outputs.insert(made.begin(), made.end());
  }
  return out;
}

}  // namespace lowbit
