#include "formats/quantized_tensor.h"

#include <algorithm>
#include <cmath>

#include "core/half.h"
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

std::optional<ScaleType> ParseScaleType(const std::string& s) {
  if (s == "f32") return ScaleType::kF32;
  if (s == "f16") return ScaleType::kF16;
  if (s == "e8m0") return ScaleType::kE8M0;
  return std::nullopt;
}

std::string_view ZeroTypeName(ZeroType t) {
  return t == ZeroType::kF16 ? "f16" : "code";
}

std::optional<ZeroType> ParseZeroType(const std::string& s) {
  if (s == "code" || s == "int") return ZeroType::kCode;
  if (s == "f16" || s == "float") return ZeroType::kF16;
  return std::nullopt;
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
  if (zero_type == ZeroType::kF16) return 2 * groups_per_row();
  return PackedRowBytes(groups_per_row(), scheme.bits);
}

float ZeroPointAt(const QuantizedTensor& q, int64_t srow, int64_t g) {
  if (q.scheme.kind != SchemeKind::kInt) return 0.0f;
  if (q.symmetric) return static_cast<float>(1 << (q.scheme.bits - 1));
  const uint8_t* z = q.zeros.data() + srow * q.zero_row_bytes();
  if (q.zero_type == ZeroType::kF16) {
    return F16ToF32(static_cast<uint16_t>(z[2 * g] | (z[2 * g + 1] << 8)));
  }
  return static_cast<float>(CodeAt(z, g, q.scheme.bits));
}

void SetZeroPoint(QuantizedTensor& q, int64_t srow, int64_t g, float z) {
  uint8_t* row = q.zeros.data() + srow * q.zero_row_bytes();
  if (q.zero_type == ZeroType::kF16) {
    const uint16_t h = F32ToF16(z);
    row[2 * g] = static_cast<uint8_t>(h & 0xff);
    row[2 * g + 1] = static_cast<uint8_t>(h >> 8);
    return;
  }
  const int bits = q.scheme.bits;
  const int64_t bit = g * bits;
  const unsigned code = static_cast<unsigned>(z) << (bit % 8);
  const unsigned mask = ((1u << bits) - 1) << (bit % 8);
  uint8_t* b = row + bit / 8;
  b[0] = static_cast<uint8_t>((b[0] & ~mask) | (code & mask));
  if ((bit % 8) + bits > 8) {
    b[1] = static_cast<uint8_t>((b[1] & ~(mask >> 8)) | ((code & mask) >> 8));
  }
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
  auto bad = [&](const std::string& what) {
    return BadInput(name + ": " + what);
  };
  if (rows < 0 || cols < 0) return bad("negative dimensions");
  if (rows > kMaxElements || cols > kMaxElements ||
      (cols > 0 && rows > kMaxElements / cols)) {
    return bad("more than 2^40 elements");
  }
  if (granularity == Granularity::kGroup) {
    if (group_size < 16 || group_size > (int64_t{1} << 30) ||
        (group_size & (group_size - 1)) != 0) {
      return bad("group size " + std::to_string(group_size) +
                 " is not a power of two in [16, 2^30]");
    }
  } else if (group_size != std::max<int64_t>(cols, 1)) {
    return bad("group size must equal the row length");
  }
  const bool mx = scheme.kind == SchemeKind::kMxfp4;
  if (mx != (scale_type == ScaleType::kE8M0)) {
    return bad("E8M0 scales go with mxfp4 and only with it");
  }
  if (mx && (granularity != Granularity::kGroup || group_size != 32)) {
    return bad("mxfp4 needs groups of 32");
  }
  if (scale_type == ScaleType::kAuto) return bad("scale type unresolved");
  auto expect = [&](const char* what, size_t have, int64_t want) -> Status {
    if (static_cast<int64_t>(have) != want) {
      return bad(std::string(what) + " has " + std::to_string(have) +
                 " entries, layout needs " + std::to_string(want));
    }
    return Status::Ok();
  };
  LB_RETURN_IF_ERROR(expect("codes", codes.size(), rows * code_row_bytes()));
  const bool kmeans = scheme.kind == SchemeKind::kKmeans;
  LB_RETURN_IF_ERROR(expect("scales", scales.size(),
                            kmeans ? 0 : scale_rows() * groups_per_row()));
  const bool has_zero = scheme.kind == SchemeKind::kInt && !symmetric;
  if (zero_type == ZeroType::kF16 && !has_zero) {
    return bad("f16 zero points go with asymmetric integer schemes only");
  }
  LB_RETURN_IF_ERROR(expect("zeros", zeros.size(),
                            has_zero ? scale_rows() * zero_row_bytes() : 0));
  if (has_zero && zero_type == ZeroType::kF16) {
    for (size_t i = 0; i + 1 < zeros.size(); i += 2) {
      if ((zeros[i + 1] & 0x7c) == 0x7c)
        return bad("a zero point is not finite");
    }
  }
  LB_RETURN_IF_ERROR(expect("codebook", codebook.size(),
                            kmeans ? scale_rows() * levels() : 0));
  for (float s : scales) {
    if (!std::isfinite(s)) return bad("a scale is not finite");
    if (mx && (s <= 0.0f || s != std::ldexp(1.0f, std::ilogb(s)) ||
               std::ilogb(s) < -127 || std::ilogb(s) > 127)) {
      return bad("an E8M0 scale is not a power of two in [2^-127, 2^127]");
    }
  }
  for (float c : codebook) {
    if (!std::isfinite(c)) return bad("a codebook level is not finite");
  }
  // Codes whose level is not a finite value (FP8 NaN/Inf, ternary's unused code
  // 3).
  const std::span<const float> lv = scheme.Levels();
  bool all_finite = true;
  for (float v : lv) all_finite = all_finite && std::isfinite(v);
  if (!all_finite || scheme.kind == SchemeKind::kTernary) {
    std::vector<uint8_t> row(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
      UnpackBits(codes.data() + r * code_row_bytes(), cols, scheme.bits,
                 row.data());
      for (uint8_t c : row) {
        if (!std::isfinite(lv[c]) ||
            (scheme.kind == SchemeKind::kTernary && c == 3)) {
          return bad("row " + std::to_string(r) + " holds code " +
                     std::to_string(c) +
                     ", which is not a value of the scheme");
        }
      }
    }
  }
  return Status::Ok();
}

void DequantizeRow(const QuantizedTensor& q, int64_t r, float* out) {
  const int bits = q.scheme.bits;
  const int64_t cols = q.cols;
  const int64_t gpr = q.groups_per_row();
  const int64_t srow = q.granularity == Granularity::kTensor ? 0 : r;
  const uint8_t* row = q.codes.data() + r * q.code_row_bytes();
  std::span<const float> levels = q.scheme.Levels();
  const bool km = q.scheme.kind == SchemeKind::kKmeans;
  if (km) {
    levels = std::span<const float>(q.codebook.data() + srow * q.levels(),
                                    static_cast<size_t>(q.levels()));
  }
  // Codes a chunk at a time (no allocation), each chunk cut at group ends.
  uint8_t codes[kCodeChunk];
  for (int64_t c0 = 0; c0 < cols; c0 += kCodeChunk) {
    const int64_t c1 = std::min(cols, c0 + kCodeChunk);
    UnpackBits(row + c0 * bits / 8, c1 - c0, bits, codes);
    if (km) {
      for (int64_t i = c0; i < c1; ++i) out[i] = levels[codes[i - c0]];
      continue;
    }
    for (int64_t i = c0; i < c1;) {
      const int64_t g = i / q.group_size;
      const int64_t end = std::min(c1, (g + 1) * q.group_size);
      const float s = q.scales[srow * gpr + g];
      const float z = ZeroPointAt(q, srow, g);
      for (; i < end; ++i) out[i] = s * (levels[codes[i - c0]] - z);
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
