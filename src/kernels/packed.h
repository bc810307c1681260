// Weights repacked for the products: a step of loading a quantized tensor
// (kernels/matvec.h reads lowbit's storage layout directly; this layout is
// faster where the storage one costs shuffles). Packed buffers live on huge
// pages (core/huge_pages.h).
//
// int8 (per channel or per tensor, symmetric): rows padded to 64 bytes, one
// scale per row.
//
// int4 in groups (PackInt4): each row is cut into stripes of 16 groups; in a
// stripe, 64-byte chunk k holds bytes 4k..4k+3 of every group (group i in
// bytes 4i..4i+3 of the chunk). A 32-bit lane then stays in one group for the
// whole stripe, so VNNI's vpdpbusd sums a group exactly in one lane across
// the stripe's chunks and the 16 scales apply once per stripe, from one
// contiguous load: no per-chunk permutes. Each stripe starts with its 16 f32
// scales (64 bytes), so that a row is one sequential stream of scales and
// codes. Rows are padded to whole stripes with zero codes and zero scales.
//
// Column panels: wide matrices are stored as panels of at most
// PackOptions::panel_cols columns (whole stripes, or 64-byte chunks for int8
// rows), panel after panel, each panel row-major. A product walks one panel at
// a time, so that the panel's activations stay in L1 next to the weight
// streams; on rows of 11008 columns in one piece they did not, and the
// streaming rate fell from about 90% to 70% of the memory bandwidth.
//
// Example (load once, multiply per token):
//   QuantizedTensor q = ...;                      // int4, groups of 32
//   PackedMatrix p = *Pack(q);
//   Workspace ws;                                 // scratch, reused per call
//   LB_RETURN_IF_ERROR(MatVecQ8(p, x.data(), y.data(), pool, ws));
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/huge_pages.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "core/workspace.h"
#include "formats/quantized_tensor.h"

namespace lowbit {

// Where one column panel lies in PackedMatrix::data.
struct PackedPanel {
  int64_t offset = 0;     // bytes from data() to the panel's row 0
  int64_t row_bytes = 0;  // bytes per row within the panel
  int64_t units = 0;      // stripes (int8 rows: 64-byte chunks) per row
  int64_t first = 0;      // the row's unit where the panel starts
};

struct PackedMatrix {
  // 4: int4 stripes; 8 with group_size 0: int8 rows; 8 with groups: int8
  // stripes (16 groups of group_size bytes, chunk k holding bytes 4k..4k+3 of
  // each group, value s (c - zero8)), for ggml q8_0 and q6_K.
  int bits = 4;
  int64_t rows = 0, cols = 0;
  int64_t group_size = 0;  // codes per group (a power of two >= 16)
  int64_t stripes = 0;     // per row: ceil(groups / 16)
  bool symmetric = true;
  bool offsets = false;  // int4: x = s q - o with float offsets (ggml q4_K)
  int zero8 = 0;         // int8 stripes: the zero point of every code
  // int4 without offsets whose scales are all f16-exact (unless
  // Int4Groups::f16_scales is off): each panel row starts with its scales as
  // f16 (padded to 64 bytes) and the stripes hold codes only, 10% fewer bytes
  // at groups of 32 and 8-12% faster products.
  bool f16_scales = false;
  int64_t panel_units = 0;  // units (stripes or 64-byte chunks) per panel
  // Panels of rows x row_bytes: per stripe, 16 f32 scales, 16 f32 offsets
  // when `offsets`, then 16 x group_size / 2 bytes of codes (int8 rows: the
  // codes, padded to 64 bytes at the row's end).
  std::vector<uint8_t, HugePageAllocator<uint8_t>> data;
  std::vector<uint8_t> zeros;     // asymmetric: rows x 16 stripes, else empty
  std::vector<float> row_scales;  // int8: one per row
  bool int8_rows() const { return bits == 8 && group_size == 0; }
  int64_t code_bytes() const {  // per stripe
    return (bits == 8 ? 16 : 8) * group_size;
  }
  int64_t header_bytes() const {  // per stripe
    return f16_scales ? 0 : offsets ? 128 : 64;
  }
  int64_t stripe_bytes() const { return header_bytes() + code_bytes(); }
  // A row's units: stripes, or 64-byte chunks of int8 rows.
  int64_t units() const { return int8_rows() ? (cols + 63) / 64 : stripes; }
  int64_t unit_bytes() const { return int8_rows() ? 64 : stripe_bytes(); }
  int64_t panels() const { return (units() + panel_units - 1) / panel_units; }
  // Bytes of a panel row of n units (with its f16 header, if any).
  int64_t PanelRowBytes(int64_t n) const {
    return (f16_scales ? (n * 32 + 63) / 64 * 64 : 0) + n * unit_bytes();
  }
  PackedPanel Panel(int64_t p) const {
    PackedPanel q;
    q.first = p * panel_units;
    q.units = std::min(panel_units, units() - q.first);
    q.offset = rows * p * PanelRowBytes(panel_units);
    q.row_bytes = PanelRowBytes(q.units);
    return q;
  }
  int64_t StoredBytes() const {
    return static_cast<int64_t>(data.size() + zeros.size() +
                                4 * row_scales.size());
  }
};

// Offset, within a row's stripes (or the activations in the same order), of
// byte b of group g, for groups of hg bytes each.
inline int64_t PackedOffset(int64_t g, int64_t b, int64_t hg) {
  const int64_t st = g / 16, i = g % 16;
  return st * 16 * hg + (b / 4) * 64 + 4 * i + (b % 4);
}

// How to pack.
struct PackOptions {
  // Columns per panel at most, rounded down to whole stripes (at least one);
  // 0 picks 6144 (measured on Zen 4: 4096 to 8192 streamed at 85-93% of the
  // bandwidth, 11008 and 16384 in one piece at 50-75%). Panels of a row are
  // balanced: 11008 columns become two of 5504.
  int64_t panel_cols = 0;
};

// int4 weights in groups (any size that is a power of two >= 16, whole
// groups per row) and int8 symmetric weights per channel or tensor, fewer
// than 65536 columns.
bool CanPack(const QuantizedTensor& w);
Result<PackedMatrix> Pack(const QuantizedTensor& w,
                          const PackOptions& opts = {});

// int4 groups from any source: codes in lowbit's order (row-major, column 2j
// in the low nibble of byte j), per group a scale and either an integer zero
// point (x = s (q - z); null zeros: z = 8) or a float offset (x = s q - o).
struct Int4Groups {
  int64_t rows = 0, cols = 0, group_size = 32;
  const uint8_t* codes = nullptr;  // rows x cols / 2
  const float* scales = nullptr;   // rows x groups
  const uint8_t* zeros = nullptr;  // rows x groups, or null
  const float* offsets = nullptr;  // rows x groups, or null
  bool f16_scales = true;  // the f16 row header when every scale is f16-exact
};
Result<PackedMatrix> PackInt4Groups(const Int4Groups& src,
                                    const PackOptions& opts = {});
// int8 stripes from codes (rows x cols bytes, value s (c - zero8)) and one
// scale per group (rows x groups); groups of a multiple of 4 >= 16.
Result<PackedMatrix> PackInt8Groups(int64_t rows, int64_t cols,
                                    int64_t group_size, const uint8_t* codes,
                                    const float* scales, int zero8,
                                    const PackOptions& opts = {});

// ggml blocks as read from a GGUF file (rows x RowBytes(cols) bytes), packed
// the same way: q4_0 (int4, groups of 32, f16 scales, codes q - 8) becomes
// the int4 stripes above, its nibbles reordered (ggml keeps elements j and
// j + 16 in one byte, the stripes elements 2j and 2j + 1); q4_K (super-blocks
// of 8 groups of 32, x = d sc q - dmin m) becomes int4 groups with float
// offsets (d sc and dmin m are exact in f32); q8_0 (groups of 32, codes
// stored as q + 128) and q6_K (groups of 16, codes 0..63 with zero 32, scale
// d sc) become int8 stripes. Other types: InvalidArgument.
Result<PackedMatrix> PackGgml(int ggml_type, const uint8_t* data, int64_t rows,
                              int64_t cols, const PackOptions& opts = {});

// y = W x with x quantized to int8 (QuantizeActivations): exact int32 sums
// (per group for int4, scaled in float). int8 equals reference::MatVecQ8 on
// the tensor that was packed bit for bit; int4 within float rounding (the
// tests allow 1e-5 of sum |w x|).
Status MatVecQ8(const PackedMatrix& w, const float* x, float* y,
                ThreadPool& pool, Workspace& ws);

// Y = X W^T for `batch` activation rows (x: batch x cols, y: batch x rows),
// each row quantized to int8 on its own (one scale per row): row b of y
// equals MatVecQ8 on row b of x bit for bit. Each weight chunk is loaded once
// for four activation rows (AVX3_DL).
// The quantized activations and sums live in `ws`.
Status MatMulQ8(const PackedMatrix& w, const float* x, int64_t batch, float* y,
                ThreadPool& pool, Workspace& ws);

}  // namespace lowbit
