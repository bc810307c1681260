// Packing into kernels/packed.h's layout: stripes, f16 row headers and column
// panels. The products are in packed.cc.
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/half.h"
#include "formats/bitpack.h"
#include "kernels/packed.h"

namespace lowbit {
namespace {

constexpr int64_t kPanelCols = 6144;

// Units per panel: at most panel_cols columns (at least one unit), the
// row's panels balanced.
int64_t PanelUnits(int64_t units, int64_t unit_cols, int64_t panel_cols) {
  const int64_t cap = std::max<int64_t>(
      1, (panel_cols > 0 ? panel_cols : kPanelCols) / unit_cols);
  const int64_t panels = (units + cap - 1) / cap;
  return (units + panels - 1) / panels;
}

// Start of unit u of row r (after the panel row's f16 header, if any).
uint8_t* UnitAt(PackedMatrix& p, int64_t r, int64_t u) {
  const PackedPanel q = p.Panel(u / p.panel_units);
  return p.data.data() + q.offset + r * q.row_bytes +
         (q.row_bytes - q.units * p.unit_bytes()) +
         (u - q.first) * p.unit_bytes();
}

// The f16 scale of group g of row r in its panel row's header.
uint8_t* HeaderAt(PackedMatrix& p, int64_t r, int64_t g) {
  const int64_t u = g / 16;
  const PackedPanel q = p.Panel(u / p.panel_units);
  return p.data.data() + q.offset + r * q.row_bytes + 2 * (g - q.first * 16);
}

bool CanPackInt8(const QuantizedTensor& w) {
  return w.scheme.kind == SchemeKind::kInt && w.scheme.bits == 8 &&
         w.symmetric && w.granularity != Granularity::kGroup &&
         w.cols < (int64_t{1} << 16);
}

bool CanPackInt4(const QuantizedTensor& w) {
  return w.scheme.kind == SchemeKind::kInt && w.scheme.bits == 4 &&
         HasCodeZeros(w) && w.granularity == Granularity::kGroup &&
         w.group_size >= 16 && (w.group_size & (w.group_size - 1)) == 0 &&
         w.cols % w.group_size == 0 && w.cols < (int64_t{1} << 16);
}

PackedMatrix PackInt8(const QuantizedTensor& w, const PackOptions& opts) {
  PackedMatrix p;
  p.bits = 8;
  p.rows = w.rows;
  p.cols = w.cols;
  p.panel_units = PanelUnits(p.units(), 64, opts.panel_cols);
  // Padding codes are 128: the value 0 (the products subtract 128 sum x).
  p.data.assign(static_cast<size_t>(p.rows * p.units() * 64), 128);
  p.row_scales.resize(static_cast<size_t>(w.rows));
  for (int64_t r = 0; r < w.rows; ++r) {
    const uint8_t* src = w.codes.data() + r * w.code_row_bytes();
    for (int64_t u = 0; u < p.units(); ++u) {
      const int64_t n = std::min<int64_t>(64, w.cols - u * 64);
      std::memcpy(UnitAt(p, r, u), src + u * 64, static_cast<size_t>(n));
    }
    p.row_scales[r] = w.scales[w.granularity == Granularity::kTensor ? 0 : r];
  }
  return p;
}

}  // namespace

bool CanPack(const QuantizedTensor& w) {
  return CanPackInt8(w) || CanPackInt4(w);
}

Result<PackedMatrix> PackInt4Groups(const Int4Groups& src,
                                    const PackOptions& opts) {
  const int64_t g = src.group_size;
  if (g < 16 || (g & (g - 1)) != 0 || src.cols % g != 0 || src.rows < 1 ||
      src.cols >= (int64_t{1} << 16) || !src.codes || !src.scales ||
      opts.panel_cols < 0) {
    return InvalidArgument(
        "PackInt4Groups: groups of a power of two >= 16, whole groups per "
        "row, fewer than 65536 columns, codes and scales given");
  }
  PackedMatrix p;
  p.rows = src.rows;
  p.cols = src.cols;
  p.group_size = g;
  p.symmetric = src.zeros == nullptr;
  p.offsets = src.offsets != nullptr;
  const int64_t groups = src.cols / g, hg = g / 2;
  p.stripes = (groups + 15) / 16;
  p.panel_units = PanelUnits(p.stripes, 16 * g, opts.panel_cols);
  // f16 scales in a header when asked for and exact.
  p.f16_scales = src.f16_scales && !p.offsets;
  for (int64_t i = 0; p.f16_scales && i < src.rows * groups; ++i) {
    p.f16_scales = RoundToF16(src.scales[i]) == src.scales[i];
  }
  int64_t bytes = 0;
  for (int64_t q = 0; q < p.panels(); ++q) bytes += p.Panel(q).row_bytes;
  p.data.assign(static_cast<size_t>(p.rows * bytes), 0);
  if (src.zeros && !p.offsets) {
    p.zeros.assign(static_cast<size_t>(p.rows * p.stripes * 16), 0);
  }
  for (int64_t r = 0; r < p.rows; ++r) {
    const uint8_t* in = src.codes + r * src.cols / 2;
    for (int64_t k = 0; k < groups; ++k) {
      uint8_t* sp = UnitAt(p, r, k / 16);
      for (int64_t b = 0; b < hg; ++b)
        sp[p.header_bytes() + PackedOffset(k % 16, b, hg)] = in[k * hg + b];
      const float s = src.scales[r * groups + k];
      if (p.f16_scales) {
        const uint16_t h = F32ToF16(s);
        std::memcpy(HeaderAt(p, r, k), &h, 2);
      } else {
        std::memcpy(sp + 4 * (k % 16), &s, 4);
      }
      if (p.offsets) {
        std::memcpy(sp + 64 + 4 * (k % 16), src.offsets + r * groups + k, 4);
      } else if (src.zeros) {
        p.zeros[r * p.stripes * 16 + k] = src.zeros[r * groups + k];
      }
    }
  }
  return p;
}

Result<PackedMatrix> PackInt8Groups(int64_t rows, int64_t cols,
                                    int64_t group_size, const uint8_t* codes,
                                    const float* scales, int zero8,
                                    const PackOptions& opts) {
  const int64_t g = group_size;
  if (g < 16 || g % 4 != 0 || cols % g != 0 || rows < 1 ||
      cols >= (int64_t{1} << 16) || opts.panel_cols < 0) {
    return InvalidArgument(
        "PackInt8Groups: groups of a multiple of 4 >= 16, whole groups per "
        "row, fewer than 65536 columns");
  }
  PackedMatrix p;
  p.bits = 8;
  p.rows = rows;
  p.cols = cols;
  p.group_size = g;
  p.zero8 = zero8;
  const int64_t groups = cols / g;
  p.stripes = (groups + 15) / 16;
  p.panel_units = PanelUnits(p.stripes, 16 * g, opts.panel_cols);
  p.data.assign(static_cast<size_t>(rows * p.stripes * p.stripe_bytes()), 0);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < groups; ++k) {
      uint8_t* sp = UnitAt(p, r, k / 16);
      for (int64_t b = 0; b < g; ++b)
        sp[64 + PackedOffset(k % 16, b, g)] = codes[r * cols + k * g + b];
      std::memcpy(sp + 4 * (k % 16), scales + r * groups + k, 4);
    }
  }
  return p;
}

Result<PackedMatrix> Pack(const QuantizedTensor& w, const PackOptions& opts) {
  if (opts.panel_cols < 0) {
    return InvalidArgument("Pack: panel_cols must be 0 (automatic) or more");
  }
  if (CanPackInt8(w)) return PackInt8(w, opts);
  if (!CanPackInt4(w)) {
    return InvalidArgument(
        "Pack: int8 symmetric weights per channel or tensor, or int4 in "
        "groups of a power of two >= 16 with whole groups per row; fewer than "
        "65536 columns");
  }
  std::vector<uint8_t> zeros;
  if (!w.symmetric) {
    const int64_t groups = w.groups_per_row();
    zeros.resize(static_cast<size_t>(w.rows * groups));
    for (int64_t r = 0; r < w.rows; ++r) {
      UnpackBits(w.zeros.data() + r * w.zero_row_bytes(), groups, 4,
                 zeros.data() + r * groups);
    }
  }
  Int4Groups src;
  src.rows = w.rows;
  src.cols = w.cols;
  src.group_size = w.group_size;
  src.codes = w.codes.data();
  src.scales = w.scales.data();
  src.zeros = w.symmetric ? nullptr : zeros.data();
  return PackInt4Groups(src, opts);
}

}  // namespace lowbit
