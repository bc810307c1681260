// The table of ggml types: ids, names and block geometry (sizes come from the
// block structs of blocks.h, so the two cannot disagree).
#include "formats/ggml/ggml_type.h"

#include "core/status.h"
#include "formats/ggml/blocks.h"

namespace lowbit {
namespace {

template <typename Block>
constexpr GgmlTypeInfo Quantized(GgmlType t, std::string_view ggml_name,
                                 std::string_view scheme_name) {
  return {t, ggml_name, scheme_name, Block::kElements, sizeof(Block)};
}

constexpr GgmlTypeInfo kTypes[] = {
    {GgmlType::kF32, "f32", "f32", 1, 4},
    {GgmlType::kF16, "f16", "f16", 1, 2},
    Quantized<BlockQ4_0>(GgmlType::kQ4_0, "q4_0", "q4_0"),
    Quantized<BlockQ4_1>(GgmlType::kQ4_1, "q4_1", "q4_1"),
    Quantized<BlockQ5_0>(GgmlType::kQ5_0, "q5_0", "q5_0"),
    Quantized<BlockQ5_1>(GgmlType::kQ5_1, "q5_1", "q5_1"),
    Quantized<BlockQ8_0>(GgmlType::kQ8_0, "q8_0", "q8_0"),
    Quantized<BlockQ2_K>(GgmlType::kQ2_K, "q2_K", "q2_k"),
    Quantized<BlockQ3_K>(GgmlType::kQ3_K, "q3_K", "q3_k"),
    Quantized<BlockQ4_K>(GgmlType::kQ4_K, "q4_K", "q4_k"),
    Quantized<BlockQ5_K>(GgmlType::kQ5_K, "q5_K", "q5_k"),
    Quantized<BlockQ6_K>(GgmlType::kQ6_K, "q6_K", "q6_k"),
    Quantized<BlockIQ4_NL>(GgmlType::kIQ4_NL, "iq4_nl", "iq4_nl"),
    Quantized<BlockIQ4_XS>(GgmlType::kIQ4_XS, "iq4_xs", "iq4_xs"),
    {GgmlType::kBF16, "bf16", "bf16", 1, 2},
    Quantized<BlockTQ1_0>(GgmlType::kTQ1_0, "tq1_0", "tq1_0"),
    Quantized<BlockTQ2_0>(GgmlType::kTQ2_0, "tq2_0", "tq2_0"),
};

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

}  // namespace

std::span<const GgmlTypeInfo> AllGgmlTypeInfos() { return kTypes; }

const GgmlTypeInfo& GetGgmlTypeInfo(GgmlType type) {
  const GgmlTypeInfo* info = FindGgmlTypeInfoById(static_cast<uint32_t>(type));
  LB_CHECK(info != nullptr);
  return *info;
}

const GgmlTypeInfo* FindGgmlTypeInfoById(uint32_t id) {
  for (const GgmlTypeInfo& t : kTypes) {
    if (static_cast<uint32_t>(t.type) == id) return &t;
  }
  return nullptr;
}

const GgmlTypeInfo* FindGgmlTypeInfoByName(std::string_view name) {
  for (const GgmlTypeInfo& t : kTypes) {
    if (EqualsIgnoreCase(name, t.ggml_name) ||
        EqualsIgnoreCase(name, t.scheme_name)) {
      return &t;
    }
  }
  return nullptr;
}

std::string AllGgmlTypeNames() {
  std::string out;
  for (const GgmlTypeInfo& t : kTypes) {
    if (!out.empty()) out += ", ";
    out += t.scheme_name;
  }
  return out;
}

}  // namespace lowbit
