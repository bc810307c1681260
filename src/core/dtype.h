// DType: the storage types of tensor elements, with their safetensors
// spellings. Packed sub-byte integer types (i4/u4 and narrower) are counted in
// bits.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lowbit {

enum class DType : uint8_t {
  kF64,
  kF32,
  kF16,
  kBF16,
  kI64,
  kI32,
  kI16,
  kI8,
  kU64,
  kU32,
  kU16,
  kU8,
  kBool,
  kF8E4M3,
  kF8E5M2,
  kI4,  // packed, two per byte, low nibble first
  kU4,
  kI2,  // packed, four per byte
  kU2,
  kU1,  // packed, eight per byte
};

// Bits one element occupies in storage.
int DTypeBits(DType t);
// Lower-case name for messages and JSON ("f32", "bf16", "u4").
std::string_view DTypeName(DType t);
// The safetensors header spelling ("F32"); empty for the packed types, which
// safetensors has no name for.
std::string_view SafetensorsDTypeName(DType t);
std::optional<DType> DTypeFromSafetensors(std::string_view s);
// Parses a lower-case name as accepted on the command line ("f32", "f16",
// "bf16").
std::optional<DType> DTypeFromName(std::string_view s);
// True for f32, f16, bf16: the float types lowbit reads as weights.
bool IsFloatWeight(DType t);

}  // namespace lowbit
