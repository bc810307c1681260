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

}  // namespace

Result<PackedMatrix> PackGgml(int ggml_type, const uint8_t* data, int64_t rows,
                              int64_t cols) {
  const GgmlType t = static_cast<GgmlType>(ggml_type);
  if (t != GgmlType::kQ4_0 && t != GgmlType::kQ4_K) {
    return InvalidArgument("PackGgml: only q4_0 and q4_K are packed so far");
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
  return PackInt4Groups(src);
}

}  // namespace lowbit
