#include "formats/quantized_tensor.h"

#include <cmath>

#include "formats/bitpack.h"

namespace lowbit {

std::string_view ScaleTypeName(ScaleType t) {
  switch (t) {
    case ScaleType::kAuto:
      return "auto";
    case ScaleType::kF32:
      return "f32";
    case ScaleType::kF16:
      return "f16";
    case ScaleType::kE8M0:
      return "e8m0";
  }
  return "?";
}

static int ScaleBits(ScaleType t) {
  switch (t) {
    case ScaleType::kF16:
      return 16;
    case ScaleType::kE8M0:
      return 8;
    default:
      return 32;
  }
}

int64_t QuantizedTensor::code_row_bytes() const {
  return PackedRowBytes(cols, scheme.bits);
}

int64_t QuantizedTensor::zero_row_bytes() const {
  return PackedRowBytes(groups_per_row(), scheme.bits);
}

int64_t QuantizedTensor::StoredBytes() const {
  const int sb = ScaleBits(scale_type);
  int64_t bytes = static_cast<int64_t>(codes.size());
  bytes += static_cast<int64_t>(scales.size()) * sb / 8;
  bytes += static_cast<int64_t>(zeros.size());
  bytes += static_cast<int64_t>(codebook.size()) * sb / 8;
  return bytes;
}

double QuantizedTensor::BitsPerWeight() const {
  const int64_t n = rows * cols;
  return n == 0 ? 0.0 : 8.0 * static_cast<double>(StoredBytes()) / n;
}

Status QuantizedTensor::Validate() const {
  const std::string name = scheme.Name();
  if (rows < 0 || cols < 0) return BadInput(name + ": negative dimensions");
  if (group_size <= 0) return BadInput(name + ": group size must be positive");
  if (granularity != Granularity::kGroup && group_size != cols && cols > 0) {
    return BadInput(name + ": group size must equal the row length");
  }
  if (scale_type == ScaleType::kAuto) return BadInput("scale type unresolved");
  auto expect = [&](const char* what, size_t have, int64_t want) -> Status {
    if (static_cast<int64_t>(have) != want) {
      return BadInput(name + ": " + what + " has " + std::to_string(have) +
                      " entries, layout needs " + std::to_string(want));
    }
    return Status::Ok();
  };
  LB_RETURN_IF_ERROR(expect("codes", codes.size(), rows * code_row_bytes()));
  const bool kmeans = scheme.kind == SchemeKind::kKmeans;
  LB_RETURN_IF_ERROR(expect("scales", scales.size(),
                            kmeans ? 0 : scale_rows() * groups_per_row()));
  const bool has_zero = scheme.kind == SchemeKind::kInt && !symmetric;
  LB_RETURN_IF_ERROR(expect("zeros", zeros.size(),
                            has_zero ? scale_rows() * zero_row_bytes() : 0));
  LB_RETURN_IF_ERROR(expect("codebook", codebook.size(),
                            kmeans ? scale_rows() * levels() : 0));
  for (float s : scales) {
    if (!std::isfinite(s)) return BadInput(name + ": a scale is not finite");
  }
  for (float c : codebook) {
    if (!std::isfinite(c))
      return BadInput(name + ": a codebook level is not finite");
  }
  return Status::Ok();
}

void DequantizeRow(const QuantizedTensor& q, int64_t r, float* out) {
  const int bits = q.scheme.bits;
  const int64_t cols = q.cols;
  const int64_t gpr = q.groups_per_row();
  const int64_t srow = q.granularity == Granularity::kTensor ? 0 : r;
  std::vector<uint8_t> codes(static_cast<size_t>(cols));
  UnpackBits(q.codes.data() + r * q.code_row_bytes(), cols, bits, codes.data());
  std::span<const float> levels = q.scheme.Levels();
  if (q.scheme.kind == SchemeKind::kKmeans) {
    levels = std::span<const float>(q.codebook.data() + srow * q.levels(),
                                    static_cast<size_t>(q.levels()));
    for (int64_t i = 0; i < cols; ++i) out[i] = levels[codes[i]];
    return;
  }
  std::vector<uint8_t> zeros;
  const bool asym = q.scheme.kind == SchemeKind::kInt && !q.symmetric;
  if (asym) {
    zeros.resize(static_cast<size_t>(gpr));
    UnpackBits(q.zeros.data() + srow * q.zero_row_bytes(), gpr, bits,
               zeros.data());
  }
  const float sym_zero = q.scheme.kind == SchemeKind::kInt
                             ? static_cast<float>(1 << (bits - 1))
                             : 0.0f;
  for (int64_t g = 0; g < gpr; ++g) {
    const float s = q.scales[srow * gpr + g];
    const float z = asym ? static_cast<float>(zeros[g]) : sym_zero;
    const int64_t end = std::min(cols, (g + 1) * q.group_size);
    for (int64_t i = g * q.group_size; i < end; ++i) {
      out[i] = s * (levels[codes[i]] - z);
    }
  }
}

std::vector<float> Dequantize(const QuantizedTensor& q) {
  std::vector<float> out(static_cast<size_t>(q.rows * q.cols));
  for (int64_t r = 0; r < q.rows; ++r)
    DequantizeRow(q, r, out.data() + r * q.cols);
  return out;
}

}  // namespace lowbit
