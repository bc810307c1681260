// Encoders of the ggml block formats: choose codes and scales
// (quant/ggml_fit.h, quant/group_fit.h) and pack them into ggml's bytes
// (formats/ggml/pack.h), which DequantizeGgmlRow reads back.
#pragma once

#include <cstdint>
#include <vector>

#include "formats/ggml/ggml_type.h"
#include "formats/ggml/pack.h"

namespace lowbit {

// True for the types QuantizeGgmlRow can write (GgmlTypeInfo::codec).
bool CanEncodeGgml(GgmlType t);

// Quantizes n values (a multiple of the type's block size) into n / block
// blocks at out. `importance` (n weights, or null) weights the squared error
// every choice minimises; each block is then never worse under that weighted
// error than the unweighted result. Deterministic and thread-safe.
void QuantizeGgmlRow(GgmlType t, const float* x, uint8_t* out, int64_t n,
                     const float* importance);

// Quantizes `rows` consecutive rows of `cols` values (rows * RowBytes(cols)
// bytes at out); `importance` (cols weights, or null) applies to every row.
// The same bytes as QuantizeGgmlRow row by row, faster: without importance
// the rows form one stream, so the next values are fetched while the current
// ones compute.
void QuantizeGgmlRows(GgmlType t, const float* x, uint8_t* out, int64_t rows,
                      int64_t cols, const float* importance);

// A row of a ggml block type whose scales are fitted, as QuantizeGgmlRow fits
// them (weighted by the importance), and whose codes are still free: each
// value's levels are then a fixed grid a_i * L(q) + b_i (L the type's level
// table), on which GPTQ (quant/gptq_ggml.h) rounds value by value.
class GgmlRowGrid {
 public:
  // The block types with such a grid: q8_0, q4_0, q5_0, iq4_nl, q4_1, q5_1,
  // q2_K .. q6_K and iq4_xs (not the float or ternary types).
  static bool Supports(GgmlType t);
  // Fits the scales of x[0..n) (n a multiple of the block size); the codes
  // start as the nearest ones. With importance, each block is the better,
  // under the weighted error, of the weighted and the unweighted fit.
  void Fit(GgmlType t, const float* x, int64_t n, const float* importance);
  // Rounds v to the nearest level of value i's grid, keeps its code and
  // returns the level's value.
  float Round(int64_t i, float v);
  // ggml's bytes of the row with the kept codes (RowBytes(n) at out).
  void Pack(uint8_t* out) const;

 private:
  void FitOnce(GgmlType t, const float* x, int64_t n, const float* importance);
  enum Family { kOneLevel, kAffine, kTwoLevel };
  GgmlType type_ = GgmlType::kF32;
  Family family_ = kOneLevel;
  int64_t n_ = 0;
  int qmin_ = 0, qmax_ = 0, sub_ = 32;
  bool has_min_ = false;
  const float* table_ = nullptr;
  std::vector<float> d_, m_;         // one- and affine blocks
  std::vector<uint8_t> codes_;       // one- and affine blocks: stored codes
  std::vector<KQuantBlock> blocks_;  // k-quants
};

}  // namespace lowbit
