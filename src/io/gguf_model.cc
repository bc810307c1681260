#include "io/gguf_model.h"

#include <algorithm>
#include <cstdio>

#include "formats/ggml/decode.h"
#include "formats/ggml/ggml_type.h"

namespace lowbit {
namespace {

DType PlainDType(uint32_t ggml_type) {
  switch (static_cast<GgmlType>(ggml_type)) {
    case GgmlType::kF32:
      return DType::kF32;
    case GgmlType::kF16:
      return DType::kF16;
    case GgmlType::kBF16:
      return DType::kBF16;
    case GgmlType::kI8:
      return DType::kI8;
    case GgmlType::kI16:
      return DType::kI16;
    case GgmlType::kI32:
      return DType::kI32;
    case GgmlType::kI64:
      return DType::kI64;
    case GgmlType::kF64:
      return DType::kF64;
    default:
      return DType::kF32;  // block formats: the logical type of the decoded
                           // values
  }
}

bool IsBlockType(uint32_t ggml_type) {
  const GgmlTypeInfo* info = FindGgmlTypeInfoById(ggml_type);
  return info != nullptr && info->block_elements > 1;
}

}  // namespace

std::string GgufValueText(const GgufValue& v) {
  switch (v.type) {
    case GgufType::kString:
      return v.s;
    case GgufType::kBool:
      return v.b ? "true" : "false";
    case GgufType::kF32: {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.9g", v.f32);
      return buf;
    }
    case GgufType::kF64: {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.17g", v.f64);
      return buf;
    }
    case GgufType::kU8:
    case GgufType::kU16:
    case GgufType::kU32:
    case GgufType::kU64:
      return std::to_string(v.u);
    case GgufType::kI8:
    case GgufType::kI16:
    case GgufType::kI32:
    case GgufType::kI64:
      return std::to_string(v.i);
    case GgufType::kArray: {
      std::string s = "[";
      for (size_t k = 0; k < v.array.size() && k < 8; ++k) {
        if (k) s += ", ";
        s += GgufValueText(v.array[k]);
      }
      if (v.array.size() > 8)
        s += ", ... (" + std::to_string(v.array.size()) + " items)";
      return s + "]";
    }
  }
  return "?";
}

int GgufFileType(uint32_t ggml_type) {
  switch (static_cast<GgmlType>(ggml_type)) {
    case GgmlType::kF32:
      return 0;
    case GgmlType::kF16:
      return 1;
    case GgmlType::kQ4_0:
      return 2;
    case GgmlType::kQ4_1:
      return 3;
    case GgmlType::kQ8_0:
      return 7;
    case GgmlType::kQ5_0:
      return 8;
    case GgmlType::kQ5_1:
      return 9;
    case GgmlType::kQ2_K:
      return 10;
    case GgmlType::kQ3_K:
      return 11;  // Q3_K_S
    case GgmlType::kQ4_K:
      return 14;  // Q4_K_S
    case GgmlType::kQ5_K:
      return 16;  // Q5_K_S
    case GgmlType::kQ6_K:
      return 18;
    case GgmlType::kIQ4_NL:
      return 25;
    case GgmlType::kIQ4_XS:
      return 30;
    case GgmlType::kBF16:
      return 32;
    case GgmlType::kTQ1_0:
      return 36;
    case GgmlType::kTQ2_0:
      return 37;
    default:
      return -1;
  }
}

Result<std::unique_ptr<GgufModel>> GgufModel::Open(const std::string& path) {
  std::unique_ptr<GgufModel> m(new GgufModel());
  LB_ASSIGN_OR_RETURN(m->file_, GgufFile::Open(path));
  for (const GgufKV& kv : m->file_->kvs())
    m->metadata_[kv.key] = GgufValueText(kv.value);
  for (const GgufTensorInfo& info : m->file_->tensors()) {
    ModelTensor t;
    t.name = info.name;
    t.shape.assign(info.ne.rbegin(), info.ne.rend());
    t.dtype = PlainDType(info.ggml_type);
    t.stored_bytes = info.nbytes;
    t.gguf = &info;
    t.ggml_block = IsBlockType(info.ggml_type);
    const GgmlTypeInfo* type = FindGgmlTypeInfoById(info.ggml_type);
    t.decodable = !t.ggml_block || (type != nullptr && type->codec);
    m->AddTensor(std::move(t));
  }
  return m;
}

Result<std::vector<float>> GgufModel::ReadFloat(const ModelTensor& t) const {
  const GgufTensorInfo& info = *t.gguf;
  const GgmlTypeInfo* type = FindGgmlTypeInfoById(info.ggml_type);
  if (!t.is_float() || type == nullptr || !type->codec) {
    return InvalidArgument(
        path() + ": tensor '" + t.name + "' has ggml type " +
        (type ? std::string(type->ggml_name) : std::to_string(info.ggml_type)) +
        ", which lowbit cannot read as floats");
  }
  const int64_t n = NumElements(t.shape);
  std::vector<float> out(static_cast<size_t>(n));
  if (n > 0) DequantizeGgmlRow(type->type, info.data, out.data(), n);
  return out;
}

}  // namespace lowbit
