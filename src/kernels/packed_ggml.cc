// PackGgml (kernels/packed.h): ggml's q4_0 and q4_K blocks into lowbit's int4
// groups (exact: the same codes, scales and offsets), then PackInt4Groups.
#include <cstring>
#include <vector>

#include "core/half.h"
#include "formats/ggml/blocks.h"
#include "formats/ggml/ggml_type.h"
#include "kernels/packed.h"

namespace lowbit {

namespace {

// ggml q4_0: elements j and j + 16 share byte j; lowbit: 2j and 2j + 1.
void Q4_0Row(const uint8_t* data, int64_t blocks, uint8_t* codes,
             float* scales) {
  for (int64_t b = 0; b < blocks; ++b) {
    BlockQ4_0 blk;
    std::memcpy(&blk, data + b * sizeof(BlockQ4_0), sizeof(blk));
    scales[b] = F16ToF32(blk.d);
    uint8_t e[32];
    for (int j = 0; j < 16; ++j) {
      e[j] = blk.qs[j] & 15;
      e[j + 16] = blk.qs[j] >> 4;
    }
    for (int j = 0; j < 16; ++j)
      codes[b * 16 + j] = static_cast<uint8_t>(e[2 * j] | (e[2 * j + 1] << 4));
  }
}

// ggml q4_K: per super-block 8 groups of 32 with scale d sc and offset
// dmin m; element 64 c + l is the low nibble of qs[32 c + l], element
// 64 c + 32 + l its high nibble.
void Q4_KRow(const uint8_t* data, int64_t supers, uint8_t* codes, float* scales,
             float* offsets) {
  for (int64_t b = 0; b < supers; ++b) {
    BlockQ4_K blk;
    std::memcpy(&blk, data + b * sizeof(BlockQ4_K), sizeof(blk));
    const float d = F16ToF32(blk.d), dmin = F16ToF32(blk.dmin);
    uint8_t e[256];
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        e[64 * c + l] = blk.qs[32 * c + l] & 15;
        e[64 * c + 32 + l] = blk.qs[32 * c + l] >> 4;
      }
    }
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      UnpackScaleMinK4(blk.scales, j, &sc, &m);
      scales[b * 8 + j] = d * sc;  // as ggml's decoder: d * sc, dmin * m
      offsets[b * 8 + j] = dmin * m;
    }
    for (int j = 0; j < 128; ++j)
      codes[b * 128 + j] = static_cast<uint8_t>(e[2 * j] | (e[2 * j + 1] << 4));
  }
}

// ggml q8_0: int8 q per 32 with an f16 scale; stored as q + 128.
void Q8_0Row(const uint8_t* data, int64_t blocks, uint8_t* codes,
             float* scales) {
  for (int64_t b = 0; b < blocks; ++b) {
    BlockQ8_0 blk;
    std::memcpy(&blk, data + b * sizeof(BlockQ8_0), sizeof(blk));
    scales[b] = F16ToF32(blk.d);
    for (int j = 0; j < 32; ++j)
      codes[b * 32 + j] = static_cast<uint8_t>(blk.qs[j] + 128);
  }
}

// ggml q6_K: 16 groups of 16 per super-block, codes 0..63 (value q - 32)
// split into ql nibbles and qh bit pairs, scale d * sc.
void Q6_KRow(const uint8_t* data, int64_t supers, uint8_t* codes,
             float* scales) {
  for (int64_t b = 0; b < supers; ++b) {
    BlockQ6_K blk;
    std::memcpy(&blk, data + b * sizeof(BlockQ6_K), sizeof(blk));
    const float d = F16ToF32(blk.d);
    uint8_t* e = codes + b * 256;
    for (int h = 0; h < 2; ++h) {
      const uint8_t* L = blk.ql + 64 * h;
      for (int l = 0; l < 32; ++l) {
        const uint8_t H = blk.qh[32 * h + l];
        e[128 * h + l] = static_cast<uint8_t>((L[l] & 15) | ((H & 3) << 4));
        e[128 * h + 32 + l] =
            static_cast<uint8_t>((L[l + 32] & 15) | (((H >> 2) & 3) << 4));
        e[128 * h + 64 + l] =
            static_cast<uint8_t>((L[l] >> 4) | (((H >> 4) & 3) << 4));
        e[128 * h + 96 + l] =
            static_cast<uint8_t>((L[l + 32] >> 4) | (((H >> 6) & 3) << 4));
      }
    }
    for (int k = 0; k < 16; ++k) scales[b * 16 + k] = d * blk.scales[k];
  }
}

}  // namespace

Result<PackedMatrix> PackGgml(int ggml_type, const uint8_t* data, int64_t rows,
                              int64_t cols, const PackOptions& opts) {
  const GgmlType t = static_cast<GgmlType>(ggml_type);
  if (t == GgmlType::kQ8_0 || t == GgmlType::kQ6_K) {
    const bool q8 = t == GgmlType::kQ8_0;
    const int64_t block = q8 ? 32 : 256, group = q8 ? 32 : 16;
    if (cols % block != 0 || rows < 1 || cols >= (int64_t{1} << 16)) {
      return InvalidArgument(
          "PackGgml: whole blocks per row and fewer than 65536 columns");
    }
    const int64_t row_bytes = GetGgmlTypeInfo(t).RowBytes(cols);
    std::vector<uint8_t> codes(static_cast<size_t>(rows * cols));
    std::vector<float> scales(static_cast<size_t>(rows * cols / group));
    for (int64_t r = 0; r < rows; ++r) {
      if (q8) {
        Q8_0Row(data + r * row_bytes, cols / 32, codes.data() + r * cols,
                scales.data() + r * cols / group);
      } else {
        Q6_KRow(data + r * row_bytes, cols / 256, codes.data() + r * cols,
                scales.data() + r * cols / group);
      }
    }
    return PackInt8Groups(rows, cols, group, codes.data(), scales.data(),
                          q8 ? 128 : 32, opts);
  }
  if (t != GgmlType::kQ4_0 && t != GgmlType::kQ4_K) {
    return InvalidArgument(
        "PackGgml: q4_0, q4_K, q8_0 and q6_K are packed so far");
  }
  const int64_t block = t == GgmlType::kQ4_0 ? 32 : 256;
  if (cols % block != 0 || rows < 1 || cols >= (int64_t{1} << 16)) {
    return InvalidArgument(
        "PackGgml: whole blocks per row and fewer than 65536 columns");
  }
  const int64_t groups = cols / 32;
  const int64_t row_bytes = GetGgmlTypeInfo(t).RowBytes(cols);
  std::vector<uint8_t> codes(static_cast<size_t>(rows * cols / 2));
  std::vector<float> scales(static_cast<size_t>(rows * groups)), offsets;
  if (t == GgmlType::kQ4_K) offsets.resize(scales.size());
  for (int64_t r = 0; r < rows; ++r) {
    if (t == GgmlType::kQ4_0) {
      Q4_0Row(data + r * row_bytes, groups, codes.data() + r * cols / 2,
              scales.data() + r * groups);
    } else {
      Q4_KRow(data + r * row_bytes, cols / 256, codes.data() + r * cols / 2,
              scales.data() + r * groups, offsets.data() + r * groups);
    }
  }
  Int4Groups src;
  src.rows = rows;
  src.cols = cols;
  src.group_size = 32;
  src.codes = codes.data();
  src.scales = scales.data();
  src.offsets = offsets.empty() ? nullptr : offsets.data();
  return PackInt4Groups(src, opts);
}

}  // namespace lowbit
