// QuantizedTensor: the packed codes and side arrays of one quantized weight,
// and its exact scalar decoder. See docs/formats.md for the layout of each
// array.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "core/tensor.h"
#include "formats/scheme.h"

namespace lowbit {

// How scales (and k-means codebooks) are stored. kAuto resolves, per tensor, to
// f16 when every scale fits f16 as a normal number, else f32.
enum class ScaleType : uint8_t { kAuto, kF32, kF16, kE8M0 };
std::string_view ScaleTypeName(ScaleType t);
// "f32", "f16", "e8m0" (not "auto").
std::optional<ScaleType> ParseScaleType(const std::string& s);

// How asymmetric integer zero points are stored. kCode: a code of the scheme's
// width (an integer in [0, 2^bits)), packed like the codes; what ONNX's
// DequantizeLinear and the integer kernels take. kF16: any finite f16 value,
// two bytes each: the least-squares zero point of a group, which removes the
// group's mean rounding error (the recognizer's data-free int4 g32 reads 98.0%
// with it, 86.3% with code zero points; docs/benchmarks.md).
enum class ZeroType : uint8_t { kCode, kF16 };
std::string_view ZeroTypeName(ZeroType t);  // "code", "f16"
std::optional<ZeroType> ParseZeroType(const std::string& s);

// Layout (rows = shape[0], cols = product of the other dims, G = group_size):
//   codes:    rows x PackedRowBytes(cols, bits) bytes; codes of a row
//   LSB-first. scales:   scale_rows x groups_per_row floats (values exactly
//   representable in
//             scale_type), scale_rows = 1 for per-tensor, else rows.
//   zeros:    asymmetric kInt only: scale_rows x zero_row_bytes() bytes:
//             kCode: packed zero points in [0, 2^bits); kF16: groups_per_row
//             f16 values (little-endian).
//   codebook: kKmeans only: scale_rows x 2^bits levels (ascending per row).
struct QuantizedTensor {
  static constexpr int64_t kMaxElements = int64_t{1} << 40;

  Scheme scheme;
  Granularity granularity = Granularity::kChannel;
  int64_t group_size =
      0;  // elements per group along a row (cols unless kGroup)
  bool symmetric = true;
  ScaleType scale_type = ScaleType::kF32;  // never kAuto once quantized
  ZeroType zero_type = ZeroType::kCode;    // asymmetric kInt only
  std::string method;  // "minmax", "mse", "percentile:99.9", ...
  DType source_dtype = DType::kF32;
  Shape shape;
  int64_t rows = 0;
  int64_t cols = 0;

  std::vector<uint8_t> codes;
  std::vector<float> scales;
  std::vector<uint8_t> zeros;
  std::vector<float> codebook;

  int64_t groups_per_row() const {
    return (cols + group_size - 1) / group_size;
  }
  int64_t scale_rows() const {
    return granularity == Granularity::kTensor ? 1 : rows;
  }
  int64_t code_row_bytes() const;
  int64_t zero_row_bytes() const;
  int64_t levels() const { return int64_t{1} << scheme.bits; }

  // Bytes the arrays take on disk (scales at their storage width).
  int64_t StoredBytes() const;
  // Stored bits / number of weights: codes + scales + zeros + codebooks.
  double BitsPerWeight() const;
  // Checks that every array has the size the layout demands (for files read
  // back).
  Status Validate() const;
};

// Decodes row r into out[0..cols). Exact: the same float ops as the encoder's
// error.
void DequantizeRow(const QuantizedTensor& q, int64_t r, float* out);
// Decodes the whole tensor, row-major.
std::vector<float> Dequantize(const QuantizedTensor& q);

// The zero point of group g of scale row srow of an integer tensor:
// 2^(bits - 1) when symmetric, else the stored one (a code or an f16 value).
float ZeroPointAt(const QuantizedTensor& q, int64_t srow, int64_t g);
// Stores zero point z of group g of scale row srow (asymmetric kInt): a code
// (z must be an integer in [0, 2^bits)) or an f16 value (z must be one).
void SetZeroPoint(QuantizedTensor& q, int64_t srow, int64_t g, float z);
// Whether every zero point is a code: symmetric, or asymmetric with kCode.
inline bool HasCodeZeros(const QuantizedTensor& q) {
  return q.symmetric || q.zero_type == ZeroType::kCode;
}

// The zero point of an integer tensor with code zero points (8- and 4-bit
// codes; the integer kernels' fast path).
inline float IntZeroPoint(const QuantizedTensor& q, int64_t srow, int64_t g) {
  if (q.symmetric) return static_cast<float>(1 << (q.scheme.bits - 1));
  const uint8_t* z = q.zeros.data() + srow * q.zero_row_bytes();
  if (q.scheme.bits == 8) return static_cast<float>(z[g]);
  return static_cast<float>((z[g / 2] >> (4 * (g % 2))) & 15);
}

}  // namespace lowbit
