// GgmlType: every ggml tensor type a GGUF file may hold ("what the bytes
// mean"), with ggml's numeric ids (as stored in GGUF files), names, block
// geometry, and whether lowbit's codecs can decode and encode it.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/status.h"

namespace lowbit {

// Values are ggml's `enum ggml_type` ids; they are stored on disk. Ids 4, 5,
// 31-33 and 36-38 were removed from ggml and are not listed.
enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kIQ2_XXS = 16,
  kIQ2_XS = 17,
  kIQ3_XXS = 18,
  kIQ1_S = 19,
  kIQ4_NL = 20,
  kIQ3_S = 21,
  kIQ2_S = 22,
  kIQ4_XS = 23,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kIQ1_M = 29,
  kBF16 = 30,
  kTQ1_0 = 34,
  kTQ2_0 = 35,
  kMXFP4 = 39,
};

struct GgmlTypeInfo {
  GgmlType type;
  std::string_view ggml_name;    // as ggml_type_name() spells it: "q4_K"
  std::string_view scheme_name;  // lowbit's spelling, all lower case: "q4_k"
  int64_t block_elements;        // elements per block (1 for f32/f16/bf16)
  int64_t block_bytes;           // bytes per block
  // True if lowbit can decode (DequantizeGgmlRow) and encode (QuantizeGgmlRow)
  // this type; false for types a GGUF file may hold but lowbit only copies.
  bool codec;

  // Bytes of a row of n elements. Requires n % block_elements == 0.
  int64_t RowBytes(int64_t n) const { return n / block_elements * block_bytes; }
};

// All known types, in ascending id order (codec and non-codec types).
std::span<const GgmlTypeInfo> AllGgmlTypeInfos();

// The entry of a type (every enumerator has one).
const GgmlTypeInfo& GetGgmlTypeInfo(GgmlType type);

// The entry for a raw id read from a file, or nullptr when ggml has no such
// (current) type. Check `codec` before decoding.
const GgmlTypeInfo* FindGgmlTypeInfoById(uint32_t id);

// The entry whose ggml or lowbit name equals `name` ignoring ASCII case
// ("q4_K", "q4_k", "Q4_K" all match), or nullptr. Matches every known type;
// callers that need a codec check `codec`.
const GgmlTypeInfo* FindGgmlTypeInfoByName(std::string_view name);

// "f32, f16, q4_0, ...": the lowbit names of the codec types, for messages.
std::string AllGgmlTypeNames();

// Bytes of one row of `ne0` elements of type `id`: ne0 / block_elements *
// block_bytes. InvalidArgument (message without a path) if the type is
// unknown, `ne0` is not a multiple of the block size, or the size overflows 63
// bits.
Result<uint64_t> GgmlRowBytes(uint32_t id, uint64_t ne0);
inline Result<uint64_t> GgmlRowBytes(GgmlType t, uint64_t ne0) {
  return GgmlRowBytes(static_cast<uint32_t>(t), ne0);
}

// Bytes of a dense tensor of type `id` with dimensions `ne` (ne[0] fastest;
// an empty `ne` is one element). InvalidArgument (message without a path) if
// the type is unknown, ne[0] is not a multiple of the block size, or the
// element count or byte size overflows 63 bits. A zero dimension gives 0.
Result<uint64_t> GgmlTensorBytes(uint32_t id, std::span<const uint64_t> ne);
inline Result<uint64_t> GgmlTensorBytes(GgmlType t,
                                        std::span<const uint64_t> ne) {
  return GgmlTensorBytes(static_cast<uint32_t>(t), ne);
}

}  // namespace lowbit
