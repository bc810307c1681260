#include "core/dtype.h"

#include <array>

namespace lowbit {
namespace {

struct DTypeInfo {
  DType type;
  int bits;
  std::string_view name;
  std::string_view st_name;
};

constexpr std::array<DTypeInfo, 20> kTable = {{
    {DType::kF64, 64, "f64", "F64"},
    {DType::kF32, 32, "f32", "F32"},
    {DType::kF16, 16, "f16", "F16"},
    {DType::kBF16, 16, "bf16", "BF16"},
    {DType::kI64, 64, "i64", "I64"},
    {DType::kI32, 32, "i32", "I32"},
    {DType::kI16, 16, "i16", "I16"},
    {DType::kI8, 8, "i8", "I8"},
    {DType::kU64, 64, "u64", "U64"},
    {DType::kU32, 32, "u32", "U32"},
    {DType::kU16, 16, "u16", "U16"},
    {DType::kU8, 8, "u8", "U8"},
    {DType::kBool, 8, "bool", "BOOL"},
    {DType::kF8E4M3, 8, "f8_e4m3", "F8_E4M3"},
    {DType::kF8E5M2, 8, "f8_e5m2", "F8_E5M2"},
    {DType::kI4, 4, "i4", ""},
    {DType::kU4, 4, "u4", ""},
    {DType::kI2, 2, "i2", ""},
    {DType::kU2, 2, "u2", ""},
    {DType::kU1, 1, "u1", ""},
}};

const DTypeInfo& Info(DType t) { return kTable[static_cast<size_t>(t)]; }

}  // namespace

int DTypeBits(DType t) { return Info(t).bits; }
std::string_view DTypeName(DType t) { return Info(t).name; }
std::string_view SafetensorsDTypeName(DType t) { return Info(t).st_name; }

std::optional<DType> DTypeFromSafetensors(std::string_view s) {
  for (const auto& i : kTable) {
    if (!i.st_name.empty() && i.st_name == s) return i.type;
  }
  return std::nullopt;
}

std::optional<DType> DTypeFromName(std::string_view s) {
  for (const auto& i : kTable) {
    if (i.name == s) return i.type;
  }
  return std::nullopt;
}

bool IsFloatWeight(DType t) {
  return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16;
}

}  // namespace lowbit
