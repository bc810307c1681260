// Fitting kernels for "units": small blocks of n values (16 or 32) that share
// one scale S and, for affine levels, one offset M, decoded as
//   x ~ S * L(q) - M   (affine, M >= 0)     or     x ~ S * L(q)
// where L is the identity on integer codes q in [qmin, qmax] or a sorted table
// of levels (iq4). ggml's blocks and k-quant sub-blocks are units.
//
// The kernels work on many units at once with one unit per SIMD lane, so every
// per-unit decision (candidate scales, least squares, the best so far) is a
// vector operation and no horizontal sums are needed. A batch stores values
// transposed: value i of unit u at x[i * units + u].
//
// Each function has a scalar reference in kernels/reference/ that performs the
// same float operations in the same order; the Highway versions (one source,
// compiled for every target, chosen at run time) equal it bit for bit, which
// unit_fit_test.cc checks on every target this machine runs.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lowbit {

// The most continuous-fit candidates per unit (see UnitFitParams).
inline constexpr int kMaxCandidates = 32;

// Batches hold a multiple of this many units (pad with zero units).
inline constexpr size_t kUnitPad = 64;

struct UnitBatch {
  const float* x = nullptr;  // x[i * units + u]
  const float* w = nullptr;  // importance weights, same layout; null: all 1
  int n = 32;                // values per unit
  size_t units = 0;          // a multiple of kUnitPad
  // Optional: up to two ranges of floats (the next batch's source) that
  // FitUnits asks the cache for while it computes, spread over its first pass.
  // Streaming from memory this hides the loads the next transpose would wait
  // for; it changes no result.
  const float* next[2] = {nullptr, nullptr};
  size_t next_floats = 0;
};

struct UnitLevels {
  int qmin = 0;
  int qmax = 15;
  const float* table = nullptr;  // qmax - qmin + 1 sorted levels, or null
  bool affine = false;           // x ~ S L - M with M >= 0
};

// The continuous per-unit fit: scales from the range (affine: the range from
// min(x, 0) to max(x); otherwise the extreme onto either end level) times
// `candidates` factors 1, 1 - shrink / candidates, ...; affine candidates at
// `phases` offsets around the centred grid. Each candidate's codes give a
// least-squares (S, M); `lloyd` rounds of re-chosen codes and least squares
// finish. At most 32 candidates in all (candidates * phases, or 2 *
// candidates when symmetric).
struct UnitFitParams {
  int candidates = 4;
  int phases = 1;
  float shrink = 0.3f;
  int lloyd = 1;
  // Symmetric only: the second base (the extreme onto the top level) with its
  // first factor alone.
  bool lean_second = false;
};

// Integer scale search for two-level formats: for unit u, S = d[u] * sc and
// M = dmin[u] * mn with sc0 = clamp(round(S_target[u] / d[u]), smin, smax),
// mn0 = clamp(round(M_target[u] / dmin[u]), 0, mmax) (0 when not affine) is
// tried first, then every (sc, mn) within +-rs, +-rm of (sc0 + cs, mn0 + cm)
// inside the ranges, in order; the lowest error wins (the first on ties).
// The window's errors are computed in the code domain with fused multiply-adds
// (reference::SearchUnitScales has the exact arithmetic), and a zero scale is
// only ever the start.
struct ScaleSearch {
  const float* d = nullptr;
  const float* dmin = nullptr;  // may be null when not affine
  const float* s_target = nullptr;
  const float* m_target = nullptr;  // may be null when not affine
  int smin = 0, smax = 63, mmax = 0;
  int rs = 0, rm = 0;
  int cs = 0, cm = 0;  // the window's centre, relative to (sc0, mn0)
};

// Weighted sums of a unit's codes at (S, M), for least squares at the super-
// block level. Any pointer may be null.
struct UnitSums {
  float* sl = nullptr;   // sum w L (affine levels only; else 0)
  float* sll = nullptr;  // sum w L^2
  float* slx = nullptr;  // sum w L x
};

// S[u], M[u] (M = 0 when not affine) for every unit.
void FitUnits(const UnitBatch& b, const UnitLevels& lv, const UnitFitParams& p,
              float* S, float* M);
// sc[u], mn[u] and the unit's squared error err[u].
void SearchUnitScales(const UnitBatch& b, const UnitLevels& lv,
                      const ScaleSearch& s, int32_t* sc, int32_t* mn,
                      float* err);
// Nearest codes at (S, M) (M may be null: 0): err[u] (may be null), codes
// (code - qmin, transposed like x; may be null), sums (may be null).
void EvalUnits(const UnitBatch& b, const UnitLevels& lv, const float* S,
               const float* M, float* err, uint8_t* codes,
               const UnitSums* sums);

namespace reference {
void FitUnits(const UnitBatch& b, const UnitLevels& lv, const UnitFitParams& p,
              float* S, float* M);
void SearchUnitScales(const UnitBatch& b, const UnitLevels& lv,
                      const ScaleSearch& s, int32_t* sc, int32_t* mn,
                      float* err);
void EvalUnits(const UnitBatch& b, const UnitLevels& lv, const float* S,
               const float* M, float* err, uint8_t* codes,
               const UnitSums* sums);
size_t TransposeUnits(const float* x, size_t units, int n, float* out);
void UntransposeCodes(const uint8_t* codes, size_t units, int n, uint8_t* out);
}  // namespace reference

// The batch layout (kernels/unit_layout.cc).
// Transposes `units` contiguous units of n values (x[u * n + i]) into a batch
// buffer of padded size (zeros beyond), returns the padded unit count.
size_t TransposeUnits(const float* x, size_t units, int n, float* out);
// The inverse for codes: out[u * n + i] = codes[i * PaddedUnits(units) + u]
// for the first `units` units.
void UntransposeCodes(const uint8_t* codes, size_t units, int n, uint8_t* out);
inline size_t PaddedUnits(size_t units) {
  return (units + kUnitPad - 1) / kUnitPad * kUnitPad;
}

}  // namespace lowbit
