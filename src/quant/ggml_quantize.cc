// QuantizeGgmlRow: choosing the scales and codes of ggml's block formats
// (quant/ggml_fit.h, quant/group_fit.h) and handing them to the packers of
// formats/ggml/pack.h.
#include "quant/ggml_quantize.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/status.h"
#include "formats/ggml/blocks.h"
#include "formats/ggml/decode.h"
#include "formats/ggml/pack.h"
#include "quant/ggml_fit.h"
#include "quant/group_fit.h"

namespace lowbit {
namespace {

// The one-scale symmetric blocks (q8_0, q4_0, q5_0, iq4_nl): kernels/unit_fit
// with one block per SIMD lane. Codes are ggml's unsigned storage (q - qmin).
struct OneLevel {
  UnitLevels levels;
  UnitFitParams fit;
};

// q4_1 / q5_1: one scale and one offset per block (quant/ggml_fit.h).
constexpr UnitFitParams kAffineFit{4, 3, 0.3f, 2};

const float* IQ4Levels() {
  static const float* levels = [] {
    static float v[16];
    for (int i = 0; i < 16; ++i) v[i] = static_cast<float>(kIQ4NLValues[i]);
    return v;
  }();
  return levels;
}

OneLevel OneLevelOf(GgmlType t) {
  switch (t) {
    case GgmlType::kQ8_0:  // little to gain at 8 bits: both orientations + LS
      return {{-128, 127, nullptr, false}, {1, 1, 0.0f, 1}};
    case GgmlType::kQ4_0:  // the extreme onto -8 (2 steps) or onto 7
      return {{-8, 7, nullptr, false}, {2, 1, 0.12f, 0, true}};
    case GgmlType::kQ5_0:
      return {{-16, 15, nullptr, false}, {2, 1, 0.12f, 0}};
    case GgmlType::kIQ4_NL:
      return {{0, 15, IQ4Levels(), false}, {2, 1, 0.15f, 0, true}};
    default:
      LB_CHECK(false && "not a one-level block");
  }
  return {};
}

// Each k-quant's geometry and how hard lowbit searches it (docs/algorithms.md
// section 12 has the measurements behind these choices).
TwoLevelSpec KSpec(GgmlType t) {
  TwoLevelSpec s;
  switch (t) {
    case GgmlType::kQ2_K:
      s = {16, 16, 0, 3, 0, 15, true, 15, nullptr, {}};
      s.fit = {4, 2, 0.3f, 1};
      s.d_candidates = 4;
      s.rs = s.rm = 1;
      s.ls_rounds = 0;
      break;
    case GgmlType::kQ3_K:
      s = {16, 16, -4, 3, -32, 31, false, 0, nullptr, {}};
      s.fit = {2, 1, 0.15f, 0};
      s.d_candidates = 1;
      s.rs = 2;
      s.ls_rounds = 0;
      break;
    case GgmlType::kQ4_K:
      s = {32, 8, 0, 15, 0, 63, true, 63, nullptr, {}};
      s.fit = {4, 3, 0.3f, 1};
      s.d_candidates = 4;
      s.rs = s.rm = 2;
      s.ls_rounds = 1;
      break;
    case GgmlType::kQ5_K:
      // The tightest margin: the gain over rounding comes from trying many
      // (sub-scale, sub-minimum) pairs, each a fresh alignment of the grid.
      s = {32, 8, 0, 31, 0, 63, true, 63, nullptr, {}};
      s.fit = {2, 3, 0.3f, 1};
      s.d_candidates = 2;
      // The winners lie mostly at larger sub-scales and minimums than the
      // rounded targets, so the 7 x 7 window is centred at (+2, +1).
      s.rs = s.rm = 3;
      s.cs = 2;
      s.cm = 1;
      s.ls_rounds = 1;
      break;
    case GgmlType::kQ6_K:
      // 8-bit sub-scales: no super-scale search, a wide sub-scale one.
      s = {16, 16, -32, 31, -128, 127, false, 0, nullptr, {}};
      s.fit = {1, 1, 0.2f, 0};
      s.d_candidates = 1;
      s.rs = 9;
      s.ls_rounds = 0;
      break;
    case GgmlType::kIQ4_XS:
      s = {32, 8, 0, 15, -32, 31, false, 0, IQ4Levels(), {}};
      s.fit = {4, 1, 0.3f, 1};
      s.d_candidates = 6;
      s.rs = 1;
      s.ls_rounds = 1;
      break;
    default:
      LB_CHECK(false && "not a k-quant");
  }
  return s;
}

// Ternary blocks: lowbit's exact ternary optimum (TWN-style alpha, nearest
// level) with an f16 scale; codes 0, 1, 2 are the levels -1, 0, +1 as in ggml.
void FitTernaryBlock(const float* x, const float* w, float* d, uint8_t* codes) {
  const Scheme scheme{SchemeKind::kTernary, 2};
  MethodSpec mse;
  mse.method = Method::kMse;
  const GroupFit fit = FitGroup(x, w, 256, scheme, true, mse, ScaleType::kF16);
  EncodeGroup(x, 256, scheme, fit, mse, codes);
  *d = fit.scale;
}

void EncodeTQ(GgmlType type, const float* x, const float* w, uint8_t* out,
              int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    uint8_t c[256];
    float d;
    FitTernaryBlock(x + 256 * i, w ? w + 256 * i : nullptr, &d, c);
    PackTernaryBlock(type, d, c, out + i * GetGgmlTypeInfo(type).block_bytes);
  }
}

}  // namespace

bool CanEncodeGgml(GgmlType t) {
  const GgmlTypeInfo* info = FindGgmlTypeInfoById(static_cast<uint32_t>(t));
  return info != nullptr && info->codec;
}

void QuantizeGgmlRow(GgmlType t, const float* x, uint8_t* out, int64_t n,
                     const float* w) {
  switch (t) {
    case GgmlType::kF32:
    case GgmlType::kF16:
    case GgmlType::kBF16:
      return PackFloatRow(t, x, n, out);
    case GgmlType::kTQ1_0:
    case GgmlType::kTQ2_0:
      return EncodeTQ(t, x, w, out, n / 256);
    default:
      break;
  }
  LB_CHECK(GgmlRowGrid::Supports(t) &&
           "QuantizeGgmlRow: type without an encoder");
  // In pieces, so that the scratch stays in the cache however long the row:
  // 2048 blocks of 32, or 64 super-blocks of 256 (70 KiB of k-quant blocks).
  const GgmlTypeInfo& info = GetGgmlTypeInfo(t);
  const int64_t be = info.block_elements;
  const int64_t piece = (be == 256 ? 64 : 2048) * be;
  thread_local GgmlRowGrid grid;
  for (int64_t b = 0; b < n; b += piece) {
    const int64_t m = std::min(piece, n - b);
    grid.Fit(t, x + b, m, w ? w + b : nullptr);
    grid.Pack(out + b / be * info.block_bytes);
  }
}

void QuantizeGgmlRows(GgmlType t, const float* x, uint8_t* out, int64_t rows,
                      int64_t cols, const float* importance) {
  if (importance == nullptr) {
    // Blocks never straddle rows, so the rows are one long row.
    return QuantizeGgmlRow(t, x, out, rows * cols, nullptr);
  }
  const int64_t rb = GetGgmlTypeInfo(t).RowBytes(cols);
  for (int64_t r = 0; r < rows; ++r)
    QuantizeGgmlRow(t, x + r * cols, out + r * rb, cols, importance);
}

}  // namespace lowbit

namespace lowbit {

bool GgmlRowGrid::Supports(GgmlType t) {
  switch (t) {
    case GgmlType::kQ8_0:
    case GgmlType::kQ4_0:
    case GgmlType::kQ5_0:
    case GgmlType::kIQ4_NL:
    case GgmlType::kQ4_1:
    case GgmlType::kQ5_1:
    case GgmlType::kQ2_K:
    case GgmlType::kQ3_K:
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K:
    case GgmlType::kIQ4_XS:
      return true;
    default:
      return false;
  }
}

void GgmlRowGrid::Fit(GgmlType t, const float* x, int64_t n, const float* w) {
  FitOnce(t, x, n, w);
  if (w == nullptr) return;
  // Weighted: per block, never worse under the weighted error than the fit
  // without weights (the searches are heuristic; this makes it hold). Both
  // decoded by ggml's decoder itself.
  thread_local GgmlRowGrid alt;
  thread_local std::vector<uint8_t> a, b;
  thread_local std::vector<float> ya, yb;
  alt.FitOnce(t, x, n, nullptr);
  const GgmlTypeInfo& info = GetGgmlTypeInfo(t);
  const int64_t rb = info.RowBytes(n), be = info.block_elements;
  a.resize(rb);
  b.resize(rb);
  ya.resize(n);
  yb.resize(n);
  Pack(a.data());
  alt.Pack(b.data());
  DequantizeGgmlRow(t, a.data(), ya.data(), n);
  DequantizeGgmlRow(t, b.data(), yb.data(), n);
  for (int64_t k = 0; k < n / be; ++k) {
    double ea = 0.0, eb = 0.0;
    for (int64_t i = k * be; i < (k + 1) * be; ++i) {
      const double da = x[i] - ya[i], db = x[i] - yb[i];
      ea += w[i] * da * da;
      eb += w[i] * db * db;
    }
    if (!(eb < ea)) continue;
    if (family_ == kTwoLevel) {
      blocks_[k] = alt.blocks_[k];
      continue;
    }
    d_[k] = alt.d_[k];
    if (family_ == kAffine) m_[k] = alt.m_[k];
    std::copy_n(alt.codes_.begin() + k * be, be, codes_.begin() + k * be);
  }
}

void GgmlRowGrid::FitOnce(GgmlType t, const float* x, int64_t n,
                          const float* w) {
  LB_CHECK(Supports(t) && "GgmlRowGrid: a type without a fixed grid");
  type_ = t;
  n_ = n;
  switch (t) {
    case GgmlType::kQ4_1:
    case GgmlType::kQ5_1: {
      family_ = kAffine;
      qmin_ = 0;
      qmax_ = t == GgmlType::kQ4_1 ? 15 : 31;
      const int64_t nb = n / 32;
      d_.resize(nb);
      m_.resize(nb);
      codes_.resize(n);
      FitAffineRow(x, w, nb, 32, qmax_, kAffineFit, d_.data(), m_.data(),
                   codes_.data());
      return;
    }
    case GgmlType::kQ8_0:
    case GgmlType::kQ4_0:
    case GgmlType::kQ5_0:
    case GgmlType::kIQ4_NL: {
      family_ = kOneLevel;
      const OneLevel o = OneLevelOf(t);
      qmin_ = o.levels.qmin;
      qmax_ = o.levels.qmax;
      table_ = o.levels.table;
      const int64_t nb = n / 32;
      d_.resize(nb);
      codes_.resize(n);
      FitOneLevelRow(x, w, nb, 32, o.levels, o.fit, d_.data(), codes_.data());
      return;
    }
    default: {
      family_ = kTwoLevel;
      const TwoLevelSpec spec = KSpec(t);
      qmin_ = spec.qmin;
      qmax_ = spec.qmax;
      table_ = spec.table;
      sub_ = spec.sub;
      has_min_ = spec.has_min;
      blocks_.resize(n / 256);
      FitTwoLevelRow(x, w, n / 256, spec, blocks_.data());
      return;
    }
  }
}

float GgmlRowGrid::Round(int64_t i, float v) {
  // The grid a L(k) + b over the stored codes k = 0 .. qmax - qmin.
  float a, b = 0.0f;
  int* kq = nullptr;  // k-quants keep q itself (qmin .. qmax)
  uint8_t* kc = nullptr;
  switch (family_) {
    case kAffine:
      a = d_[i / 32];
      b = m_[i / 32];
      kc = &codes_[i];
      break;
    case kOneLevel:
      a = d_[i / 32];
      kc = &codes_[i];
      break;
    default: {
      KQuantBlock& blk = blocks_[i / 256];
      const int j = static_cast<int>((i % 256) / sub_);
      a = blk.d * static_cast<float>(blk.sc[j]);
      if (has_min_) b = -blk.dmin * static_cast<float>(blk.mn[j]);
      kq = &blk.q[i % 256];
    }
  }
  const int levels = qmax_ - qmin_ + 1;
  auto level = [&](int k) {
    return table_ ? table_[k] : static_cast<float>(k + qmin_);
  };
  int k;
  if (a == 0.0f) {
    k = kq ? *kq - qmin_ : *kc;  // every code decodes to b: keep it
  } else if (table_ == nullptr) {
    const float u = (v - b) / a;
    k = static_cast<int>(std::clamp(std::nearbyint(u) - qmin_, 0.0f,
                                    static_cast<float>(levels - 1)));
  } else {
    const float u = (v - b) / a;
    k = 0;
    for (int c = 1; c < levels; ++c) {
      if (std::fabs(u - table_[c]) < std::fabs(u - table_[k])) k = c;
    }
  }
  if (kq) {
    *kq = k + qmin_;
  } else {
    *kc = static_cast<uint8_t>(k);
  }
  return a * level(k) + b;
}

void GgmlRowGrid::Pack(uint8_t* out) const {
  switch (family_) {
    case kAffine:
      return PackAffineBlocks(type_, d_.data(), m_.data(), codes_.data(),
                              n_ / 32, out);
    case kOneLevel:
      return PackOneLevelBlocks(type_, d_.data(), codes_.data(), n_ / 32, out);
    default: {
      const int64_t bytes = GetGgmlTypeInfo(type_).block_bytes;
      for (size_t b = 0; b < blocks_.size(); ++b) {
        PackKQuantBlock(type_, blocks_[b], out + b * bytes);
      }
    }
  }
}

}  // namespace lowbit
