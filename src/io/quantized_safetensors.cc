#include "io/quantized_safetensors.h"

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/half.h"
#include "core/tensor.h"
#include "formats/bitpack.h"
#include "kernels/dequant.h"

namespace lowbit {
namespace {

using nlohmann::json;

DType ScaleDType(ScaleType t) {
  switch (t) {
    case ScaleType::kF16:
      return DType::kF16;
    case ScaleType::kE8M0:
      return DType::kU8;
    default:
      return DType::kF32;
  }
}

std::vector<uint8_t> EncodeScales(const std::vector<float>& v, ScaleType t) {
  std::vector<uint8_t> out;
  if (t == ScaleType::kE8M0) {
    out.resize(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      out[i] = static_cast<uint8_t>(v[i] == 0.0f ? 0 : std::ilogb(v[i]) + 127);
    }
    return out;
  }
  const DType d = ScaleDType(t);
  out.resize(
      static_cast<size_t>(StorageBytes(d, static_cast<int64_t>(v.size()))));
  FromFloat(d, v.data(), static_cast<int64_t>(v.size()), out.data());
  return out;
}

std::string Describe(const QuantizedTensor& q) {
  json j;
  j["scheme"] = q.scheme.Name();
  j["shape"] = q.shape;
  j["dtype"] = std::string(DTypeName(q.source_dtype));
  j["granularity"] = GranularityName(q.granularity);
  j["group_size"] = q.group_size;
  j["symmetric"] = q.symmetric;
  j["method"] = q.method;
  j["scale_type"] = std::string(ScaleTypeName(q.scale_type));
  if (q.zero_type != ZeroType::kCode) {  // absent: code zero points
    j["zero_type"] = std::string(ZeroTypeName(q.zero_type));
  }
  return j.dump();
}

struct Component {
  std::string suffix;
  DType dtype;
  Shape shape;
  std::vector<uint8_t> bytes;
};

std::vector<Component> Components(const QuantizedTensor& q) {
  std::vector<Component> c;
  const DType sd = ScaleDType(q.scale_type);
  c.push_back({".qcodes", DType::kU8, {q.rows, q.code_row_bytes()}, q.codes});
  if (!q.scales.empty()) {
    c.push_back({".qscale",
                 sd,
                 {q.scale_rows(), q.groups_per_row()},
                 EncodeScales(q.scales, q.scale_type)});
  }
  if (!q.zeros.empty() && q.zero_type == ZeroType::kF16) {
    c.push_back(
        {".qzero", DType::kF16, {q.scale_rows(), q.groups_per_row()}, q.zeros});
  } else if (!q.zeros.empty()) {
    c.push_back(
        {".qzero", DType::kU8, {q.scale_rows(), q.zero_row_bytes()}, q.zeros});
  }
  if (!q.codebook.empty()) {
    c.push_back({".qcodebook",
                 sd,
                 {q.scale_rows(), q.levels()},
                 EncodeScales(q.codebook, q.scale_type)});
  }
  return c;
}

}  // namespace

Result<std::unique_ptr<SafetensorsModel>> SafetensorsModel::Open(
    const std::string& path) {
  std::unique_ptr<SafetensorsModel> m(new SafetensorsModel());
  LB_ASSIGN_OR_RETURN(m->file_, SafetensorsFile::Open(path));
  const SafetensorsFile& f = *m->file_;
  std::map<std::string, std::shared_ptr<QuantizedTensor>> quantized;
  std::map<std::string, std::string>
      component_of;  // component tensor -> base name
  for (const auto& [key, value] : f.metadata()) {
    if (key.rfind(kMetaPrefix, 0) != 0) {
      m->metadata_[key] = value;
      continue;
    }
    const std::string name = key.substr(std::strlen(kMetaPrefix));
    auto fail = [&](const std::string& what) {
      return BadInput(path + ": quantized tensor '" + name + "': " + what);
    };
    const json j = json::parse(value, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) return fail("description is not a JSON object");
    auto q = std::make_shared<QuantizedTensor>();
    try {
      const auto scheme = ParseScheme(j.at("scheme").get<std::string>());
      if (!scheme) return fail("unknown scheme " + j.at("scheme").dump());
      q->scheme = *scheme;
      q->shape = j.at("shape").get<Shape>();
      const auto dt = DTypeFromName(j.at("dtype").get<std::string>());
      if (!dt || !IsFloatWeight(*dt)) return fail("bad source dtype");
      q->source_dtype = *dt;
      const auto g = ParseGranularity(j.at("granularity").get<std::string>());
      if (!g) return fail("bad granularity");
      q->granularity = *g;
      q->group_size = j.at("group_size").get<int64_t>();
      q->symmetric = j.at("symmetric").get<bool>();
      q->method = j.value("method", "");
      const std::string st = j.at("scale_type").get<std::string>();
      const auto stype = ParseScaleType(st);
      if (!stype) return fail("bad scale_type " + st);
      q->scale_type = *stype;
      const std::string zt = j.value("zero_type", "code");
      const auto ztype = ParseZeroType(zt);
      if (!ztype || zt != ZeroTypeName(*ztype)) {
        return fail("bad zero_type " + zt);
      }
      q->zero_type = *ztype;
    } catch (const json::exception& e) {
      return fail(std::string("bad description: ") + e.what());
    }
    if (q->shape.size() > 8) return fail("more than 8 dimensions");
    // The product of the non-zero dimensions is bounded too: a zero must not
    // hide huge dimensions whose products (rows, columns) would overflow.
    int64_t span = 1;
    for (int64_t d : q->shape) {
      if (d < 0 || __builtin_mul_overflow(span, d == 0 ? 1 : d, &span) ||
          span > QuantizedTensor::kMaxElements) {
        return fail("shape " + ShapeString(q->shape) +
                    " is negative or over 2^40 elements");
      }
    }
    RowsCols(q->shape, &q->rows, &q->cols);
    // Components: present exactly when the scheme needs them, with the layout's
    // shape.
    const bool kmeans = q->scheme.kind == SchemeKind::kKmeans;
    const bool asym = q->scheme.kind == SchemeKind::kInt && !q->symmetric;
    const int64_t srows = q->granularity == Granularity::kTensor ? 1 : q->rows;
    // Ranges before arithmetic: cols + group_size - 1 must not overflow.
    if (q->group_size <= 0 || q->group_size > QuantizedTensor::kMaxElements) {
      return fail("group size " + std::to_string(q->group_size) +
                  " is not in 1..2^40");
    }
    const int64_t groups =
        q->cols / q->group_size + (q->cols % q->group_size != 0 ? 1 : 0);
    auto get = [&](const std::string& suffix, bool needed,
                   const Shape& shape) -> Result<const SafetensorsEntry*> {
      const SafetensorsEntry* e = f.Find(name + suffix);
      if (e == nullptr && needed)
        return fail("component '" + name + suffix + "' is missing");
      if (e != nullptr && !needed) {
        return fail("component '" + name + suffix +
                    "' does not belong to scheme " + q->scheme.Name());
      }
      if (e != nullptr && e->shape != shape) {
        return fail("component '" + e->name + "' has shape " +
                    ShapeString(e->shape) + ", the layout needs " +
                    ShapeString(shape));
      }
      if (e != nullptr) component_of[e->name] = name;
      return e;
    };
    LB_ASSIGN_OR_RETURN(
        const SafetensorsEntry* codes,
        get(".qcodes", true,
            {q->rows, PackedRowBytes(q->cols, q->scheme.bits)}));
    LB_ASSIGN_OR_RETURN(const SafetensorsEntry* scale,
                        get(".qscale", !kmeans, {srows, groups}));
    LB_ASSIGN_OR_RETURN(
        const SafetensorsEntry* zero,
        get(".qzero", asym,
            {srows, q->zero_type == ZeroType::kF16
                        ? groups
                        : PackedRowBytes(groups, q->scheme.bits)}));
    LB_ASSIGN_OR_RETURN(const SafetensorsEntry* book,
                        get(".qcodebook", kmeans, {srows, q->levels()}));
    const DType sd = ScaleDType(q->scale_type);
    if (codes->dtype != DType::kU8) return fail("codes must be U8");
    q->codes.assign(codes->data, codes->data + codes->nbytes);
    auto decode_floats = [&](const SafetensorsEntry* e,
                             std::vector<float>& out) {
      if (e->dtype != sd) {
        return fail("'" + e->name + "' has dtype " +
                    std::string(DTypeName(e->dtype)) + ", scale_type needs " +
                    std::string(DTypeName(sd)));
      }
      const int64_t n = NumElements(e->shape);
      out.resize(static_cast<size_t>(n));
      if (q->scale_type == ScaleType::kE8M0) {
        for (int64_t i = 0; i < n; ++i) out[i] = DecodeE8M0(e->data[i]);
      } else {
        ToFloat(sd, e->data, n, out.data());
      }
      return Status::Ok();
    };
    if (scale != nullptr && !kmeans)
      LB_RETURN_IF_ERROR(decode_floats(scale, q->scales));
    if (book != nullptr && kmeans)
      LB_RETURN_IF_ERROR(decode_floats(book, q->codebook));
    if (zero != nullptr && asym) {
      const DType zd =
          q->zero_type == ZeroType::kF16 ? DType::kF16 : DType::kU8;
      if (zero->dtype != zd) {
        return fail(zd == DType::kF16 ? "zero points must be F16"
                                      : "zero points must be U8");
      }
      q->zeros.assign(zero->data, zero->data + zero->nbytes);
    }
    const Status valid = q->Validate();
    if (!valid.ok()) return fail(valid.message());
    quantized[name] = q;
  }
  // Logical tensors in file order: plain entries, and each quantized tensor at
  // the position of its codes.
  for (const SafetensorsEntry& e : f.tensors()) {
    auto comp = component_of.find(e.name);
    if (comp != component_of.end()) {
      const std::string& base = comp->second;
      if (e.name != base + ".qcodes") continue;
      const auto& q = quantized.at(base);
      ModelTensor t;
      t.name = base;
      t.dtype = q->source_dtype;
      t.shape = q->shape;
      t.q = q;
      for (const char* s : {".qcodes", ".qscale", ".qzero", ".qcodebook"}) {
        if (const SafetensorsEntry* c = f.Find(base + s))
          t.stored_bytes += c->nbytes;
      }
      m->AddTensor(std::move(t));
      continue;
    }
    if (quantized.count(e.name)) {
      return BadInput(path + ": tensor '" + e.name +
                      "' is stored both plain and quantized");
    }
    ModelTensor t;
    t.name = e.name;
    t.dtype = e.dtype;
    t.shape = e.shape;
    t.plain = &e;
    t.stored_bytes = e.nbytes;
    m->AddTensor(std::move(t));
  }
  return m;
}

Result<std::vector<float>> SafetensorsModel::ReadFloat(
    const ModelTensor& t) const {
  if (t.quantized()) return DequantizeFast(*t.q);
  if (!IsFloatWeight(t.dtype)) {
    return InvalidArgument(path() + ": tensor '" + t.name + "' has dtype " +
                           std::string(DTypeName(t.dtype)) +
                           ", not a float type");
  }
  std::vector<float> out(static_cast<size_t>(NumElements(t.shape)));
  ToFloat(t.dtype, t.plain->data, static_cast<int64_t>(out.size()), out.data());
  return out;
}

Status WriteSafetensorsModel(const std::string& path,
                             const std::vector<OutputTensor>& tensors,
                             std::map<std::string, std::string> metadata) {
  std::vector<TensorDesc> descs;
  std::vector<std::pair<const uint8_t*, size_t>> data;
  std::vector<std::vector<Component>>
      keep;  // owns component bytes until written
  for (const auto& [key, value] : metadata) {
    if (key.rfind(kMetaPrefix, 0) == 0) {
      return InvalidArgument(path + ": metadata key '" + key +
                             "' is reserved (prefix " + kMetaPrefix + ")");
    }
  }
  for (const OutputTensor& t : tensors) {
    if (t.q) {
      const Status valid = t.q->Validate();
      if (!valid.ok()) {
        return InvalidArgument(path + ": tensor '" + t.name +
                               "': " + valid.message());
      }
      metadata[kMetaPrefix + t.name] = Describe(*t.q);
      keep.push_back(Components(*t.q));
      for (const Component& c : keep.back()) {
        descs.push_back({t.name + c.suffix, c.dtype, c.shape});
        data.emplace_back(c.bytes.data(), c.bytes.size());
      }
    } else {
      descs.push_back({t.name, t.dtype, t.shape});
      const uint8_t* b = t.bytes ? t.bytes : t.owned.data();
      data.emplace_back(
          b, static_cast<size_t>(StorageBytes(t.dtype, NumElements(t.shape))));
    }
  }
  LB_ASSIGN_OR_RETURN(auto w, SafetensorsWriter::Create(path, descs, metadata));
  for (size_t i = 0; i < descs.size(); ++i) {
    LB_RETURN_IF_ERROR(w->Write(descs[i].name, data[i].first, data[i].second));
  }
  return w->Commit();
}

}  // namespace lowbit
