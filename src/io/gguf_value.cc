// GgufValue construction, exact comparison and rendering, and the value-type
// helpers shared by the GGUF reader and writer.
#include <algorithm>
#include <bit>
#include <cstdio>
#include <utility>

#include "io/gguf.h"
#include "io/gguf_internal.h"

namespace lowbit {

bool IsValidGgufType(uint32_t id) { return id <= 12; }

std::string GgufTypeName(uint32_t id) {
  static constexpr const char* kNames[] = {
      "UINT8", "INT8",   "UINT16", "INT16",  "UINT32", "INT32",  "FLOAT32",
      "BOOL",  "STRING", "ARRAY",  "UINT64", "INT64",  "FLOAT64"};
  if (IsValidGgufType(id)) return kNames[id];
  return "type " + std::to_string(id);
}

GgufValue GgufValue::Unsigned(GgufType t, uint64_t v) {
  GgufValue out;
  out.type = t;
  out.u = v;
  return out;
}

GgufValue GgufValue::Signed(GgufType t, int64_t v) {
  GgufValue out;
  out.type = t;
  out.i = v;
  return out;
}

GgufValue GgufValue::F32(float v) {
  GgufValue out;
  out.type = GgufType::kF32;
  out.f32 = v;
  return out;
}

GgufValue GgufValue::F64(double v) {
  GgufValue out;
  out.type = GgufType::kF64;
  out.f64 = v;
  return out;
}

GgufValue GgufValue::Bool(bool v) {
  GgufValue out;
  out.type = GgufType::kBool;
  out.b = v;
  return out;
}

GgufValue GgufValue::String(std::string v) {
  GgufValue out;
  out.type = GgufType::kString;
  out.s = std::move(v);
  return out;
}

GgufValue GgufValue::Array(GgufType elem_type, std::vector<GgufValue> elems) {
  GgufValue out;
  out.type = GgufType::kArray;
  out.elem_type = elem_type;
  out.array = std::move(elems);
  return out;
}

bool GgufValue::operator==(const GgufValue& o) const {
  if (type != o.type) return false;
  switch (type) {
    case GgufType::kU8:
    case GgufType::kU16:
    case GgufType::kU32:
    case GgufType::kU64:
      return u == o.u;
    case GgufType::kI8:
    case GgufType::kI16:
    case GgufType::kI32:
    case GgufType::kI64:
      return i == o.i;
    case GgufType::kF32:
      return std::bit_cast<uint32_t>(f32) == std::bit_cast<uint32_t>(o.f32);
    case GgufType::kF64:
      return std::bit_cast<uint64_t>(f64) == std::bit_cast<uint64_t>(o.f64);
    case GgufType::kBool:
      return b == o.b;
    case GgufType::kString:
      return s == o.s;
    case GgufType::kArray:
      return elem_type == o.elem_type && array == o.array;
  }
  return false;  // an invalid type id: compare by type only
}

std::string GgufValue::DebugString() const {
  constexpr size_t kMaxElems = 8;
  char buf[64];
  switch (type) {
    case GgufType::kU8:
    case GgufType::kU16:
    case GgufType::kU32:
    case GgufType::kU64:
      return std::to_string(u);
    case GgufType::kI8:
    case GgufType::kI16:
    case GgufType::kI32:
    case GgufType::kI64:
      return std::to_string(i);
    case GgufType::kF32:
      std::snprintf(buf, sizeof(buf), "%.9g", static_cast<double>(f32));
      return buf;
    case GgufType::kF64:
      std::snprintf(buf, sizeof(buf), "%.17g", f64);
      return buf;
    case GgufType::kBool:
      return b ? "true" : "false";
    case GgufType::kString:
      return gguf_internal::Quote(s);
    case GgufType::kArray: {
      std::string out = "[";
      const size_t n = std::min(array.size(), kMaxElems);
      for (size_t k = 0; k < n; ++k) {
        if (k) out += ", ";
        out += array[k].DebugString();
      }
      if (array.size() > n) {
        out += ", ... (" + std::to_string(array.size()) + " elements)";
      }
      return out + "]";
    }
  }
  std::string out = "<";  // an invalid type id
  out += GgufTypeName(static_cast<uint32_t>(type));
  return out + ">";
}

namespace gguf_internal {

uint64_t ScalarBytes(uint32_t id) {
  switch (static_cast<GgufType>(id)) {
    case GgufType::kU8:
    case GgufType::kI8:
    case GgufType::kBool:
      return 1;
    case GgufType::kU16:
    case GgufType::kI16:
      return 2;
    case GgufType::kU32:
    case GgufType::kI32:
    case GgufType::kF32:
      return 4;
    case GgufType::kU64:
    case GgufType::kI64:
    case GgufType::kF64:
      return 8;
    default:
      return 0;
  }
}

uint64_t MinValueBytes(uint32_t id) {
  if (id == static_cast<uint32_t>(GgufType::kString)) return 8;
  if (id == static_cast<uint32_t>(GgufType::kArray)) return 12;
  return ScalarBytes(id);
}

}  // namespace gguf_internal
}  // namespace lowbit
