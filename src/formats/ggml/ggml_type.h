// GgmlType: the ggml tensor types lowbit reads and writes, with ggml's numeric
// ids (as stored in GGUF files), names and block geometry.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace lowbit {

// Values are ggml's `enum ggml_type` ids; they are stored on disk.
enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kIQ4_NL = 20,
  kIQ4_XS = 23,
  kBF16 = 30,
  kTQ1_0 = 34,
  kTQ2_0 = 35,
};

struct GgmlTypeInfo {
  GgmlType type;
  std::string_view ggml_name;    // as ggml_type_name() spells it: "q4_K"
  std::string_view scheme_name;  // lowbit's spelling, all lower case: "q4_k"
  int64_t block_elements;        // elements per block (1 for f32/f16/bf16)
  int64_t block_bytes;           // bytes per block

  // Bytes of a row of n elements. Requires n % block_elements == 0.
  int64_t RowBytes(int64_t n) const { return n / block_elements * block_bytes; }
};

// All supported types, in ascending id order.
std::span<const GgmlTypeInfo> AllGgmlTypeInfos();

// The entry for a supported type (every enumerator is supported).
const GgmlTypeInfo& GetGgmlTypeInfo(GgmlType type);

// The entry for a raw id read from a file, or nullptr when lowbit does not
// support that id.
const GgmlTypeInfo* FindGgmlTypeInfoById(uint32_t id);

// The entry whose ggml or lowbit name equals `name` ignoring ASCII case
// ("q4_K", "q4_k", "Q4_K" all match), or nullptr.
const GgmlTypeInfo* FindGgmlTypeInfoByName(std::string_view name);

// "f32, f16, q4_0, ...": the lowbit names of all types, for messages.
std::string AllGgmlTypeNames();

}  // namespace lowbit
