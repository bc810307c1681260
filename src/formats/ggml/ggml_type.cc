// The table of ggml types: ids, names and block geometry. The sizes of the
// codec types come from the block structs of blocks.h, so the two cannot
// disagree; the others follow ggml's type_traits (ggml.c) and the block
// structs of ggml-common.h (QK_K = 256).
#include "formats/ggml/ggml_type.h"

#include <iterator>
#include <limits>
#include <string>

#include "formats/ggml/blocks.h"

namespace lowbit {
namespace {

// A type lowbit decodes and encodes, its geometry taken from its block struct.
template <typename Block>
constexpr GgmlTypeInfo Codec(GgmlType t, std::string_view ggml_name,
                             std::string_view scheme_name) {
  return {t, ggml_name, scheme_name, Block::kElements, sizeof(Block), true};
}

// A plain (one element per block) type lowbit decodes and encodes.
constexpr GgmlTypeInfo PlainCodec(GgmlType t, std::string_view name,
                                  int64_t bytes) {
  return {t, name, name, 1, bytes, true};
}

// A type lowbit only knows the geometry of.
constexpr GgmlTypeInfo Opaque(GgmlType t, std::string_view ggml_name,
                              std::string_view scheme_name, int64_t elements,
                              int64_t bytes) {
  return {t, ggml_name, scheme_name, elements, bytes, false};
}

constexpr GgmlTypeInfo kTypes[] = {
    PlainCodec(GgmlType::kF32, "f32", 4),
    PlainCodec(GgmlType::kF16, "f16", 2),
    Codec<BlockQ4_0>(GgmlType::kQ4_0, "q4_0", "q4_0"),
    Codec<BlockQ4_1>(GgmlType::kQ4_1, "q4_1", "q4_1"),
    Codec<BlockQ5_0>(GgmlType::kQ5_0, "q5_0", "q5_0"),
    Codec<BlockQ5_1>(GgmlType::kQ5_1, "q5_1", "q5_1"),
    Codec<BlockQ8_0>(GgmlType::kQ8_0, "q8_0", "q8_0"),
    // fp16 d, s + 32 int8
    Opaque(GgmlType::kQ8_1, "q8_1", "q8_1", 32, 36),
    Codec<BlockQ2_K>(GgmlType::kQ2_K, "q2_K", "q2_k"),
    Codec<BlockQ3_K>(GgmlType::kQ3_K, "q3_K", "q3_k"),
    Codec<BlockQ4_K>(GgmlType::kQ4_K, "q4_K", "q4_k"),
    Codec<BlockQ5_K>(GgmlType::kQ5_K, "q5_K", "q5_k"),
    Codec<BlockQ6_K>(GgmlType::kQ6_K, "q6_K", "q6_k"),
    // f32 d + 256 int8 + 16 int16 sums
    Opaque(GgmlType::kQ8_K, "q8_K", "q8_k", 256, 292),
    Opaque(GgmlType::kIQ2_XXS, "iq2_xxs", "iq2_xxs", 256, 66),
    Opaque(GgmlType::kIQ2_XS, "iq2_xs", "iq2_xs", 256, 74),
    Opaque(GgmlType::kIQ3_XXS, "iq3_xxs", "iq3_xxs", 256, 98),
    Opaque(GgmlType::kIQ1_S, "iq1_s", "iq1_s", 256, 50),
    Codec<BlockIQ4_NL>(GgmlType::kIQ4_NL, "iq4_nl", "iq4_nl"),
    Opaque(GgmlType::kIQ3_S, "iq3_s", "iq3_s", 256, 110),
    Opaque(GgmlType::kIQ2_S, "iq2_s", "iq2_s", 256, 82),
    Codec<BlockIQ4_XS>(GgmlType::kIQ4_XS, "iq4_xs", "iq4_xs"),
    Opaque(GgmlType::kI8, "i8", "i8", 1, 1),
    Opaque(GgmlType::kI16, "i16", "i16", 1, 2),
    Opaque(GgmlType::kI32, "i32", "i32", 1, 4),
    Opaque(GgmlType::kI64, "i64", "i64", 1, 8),
    Opaque(GgmlType::kF64, "f64", "f64", 1, 8),
    Opaque(GgmlType::kIQ1_M, "iq1_m", "iq1_m", 256, 56),
    PlainCodec(GgmlType::kBF16, "bf16", 2),
    Codec<BlockTQ1_0>(GgmlType::kTQ1_0, "tq1_0", "tq1_0"),
    Codec<BlockTQ2_0>(GgmlType::kTQ2_0, "tq2_0", "tq2_0"),
    // E8M0 exponent + 16 nibble bytes
    Opaque(GgmlType::kMXFP4, "mxfp4", "mxfp4", 32, 17),
};

constexpr bool AscendingIds() {
  for (size_t i = 1; i < std::size(kTypes); ++i) {
    if (kTypes[i - 1].type >= kTypes[i].type) return false;
  }
  return true;
}
static_assert(AscendingIds(), "kTypes must be in ascending id order");

constexpr uint64_t kMax63 =
    static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

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
    if (!t.codec) continue;
    if (!out.empty()) out += ", ";
    out += t.scheme_name;
  }
  return out;
}

Result<uint64_t> GgmlRowBytes(uint32_t id, uint64_t ne0) {
  const GgmlTypeInfo* t = FindGgmlTypeInfoById(id);
  if (t == nullptr) {
    return InvalidArgument("unknown ggml type " + std::to_string(id));
  }
  const uint64_t block_elements = static_cast<uint64_t>(t->block_elements);
  const uint64_t block_bytes = static_cast<uint64_t>(t->block_bytes);
  if (ne0 % block_elements != 0) {
    return InvalidArgument("ne[0] = " + std::to_string(ne0) +
                           " is not a multiple of the " +
                           std::string(t->ggml_name) + " block size " +
                           std::to_string(block_elements));
  }
  const uint64_t blocks = ne0 / block_elements;
  if (blocks > kMax63 / block_bytes) {
    return InvalidArgument("row of " + std::to_string(ne0) + " " +
                           std::string(t->ggml_name) +
                           " elements overflows 63 bits");
  }
  return blocks * block_bytes;
}

Result<uint64_t> GgmlTensorBytes(uint32_t id, std::span<const uint64_t> ne) {
  const uint64_t ne0 = ne.empty() ? 1 : ne[0];
  LB_ASSIGN_OR_RETURN(const uint64_t row, GgmlRowBytes(id, ne0));
  // The product of the non-zero counts must fit (not only the total, which a
  // zero makes 0): every sub-product (rows) is then computable.
  uint64_t numel = 1;
  for (size_t i = 0; i < ne.size(); ++i) {
    if (ne[i] > kMax63 || (ne[i] != 0 && numel > kMax63 / ne[i])) {
      std::string dims;
      for (size_t j = 0; j < ne.size(); ++j) {
        dims += (j ? ", " : "") + std::to_string(ne[j]);
      }
      return InvalidArgument("element count of ne [" + dims +
                             "] overflows 63 bits");
    }
    numel *= ne[i] == 0 ? 1 : ne[i];
  }
  uint64_t rows = 1;
  for (size_t i = 1; i < ne.size(); ++i) rows *= ne[i];
  if (rows != 0 && row > kMax63 / rows) {
    return InvalidArgument("byte size overflows 63 bits");
  }
  return row * rows;
}

}  // namespace lowbit
