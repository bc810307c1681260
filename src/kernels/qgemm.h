// QGemm: the engine's fast mode for quantized weights, compute-bound batched
// products Y = X W^T with int8 activations and integer weights: M activation
// rows (convolution pixels, tokens) of K inputs against N weight rows.
//
// Each activation row is quantized to symmetric int8 in blocks: the weight's
// groups (for weights with one scale per row, blocks of 64 inputs), each
// with its own sx = max|x| / 127, xq = round(x / sx). Per-block scales keep
// one large activation from flattening the rest of the row: on the int4
// (groups of 32) PaddleOCR recognizer, one scale per row lost 1.9 points of
// character accuracy, one per block none (docs/benchmarks.md). Each weight
// group has a scale s and an integer zero z, so
//   y[m, n] = sum_g s[n, g] sx[m, g] (sum_{k in g} q[n, k] xq[m, k]
//                                     - z[n, g] sum_{k in g} xq[m, k]).
// The inner sums are exact int32; the group sums are accumulated in f32 with
// one fused multiply-add per group, in the same order by the reference and
// the SIMD kernel, so the two agree bit for bit.
//
// The SIMD kernel is AVX-512 VNNI (vpdpbusd: 64 byte multiply-adds per
// instruction, the unsigned operand being the weight codes and the signed one
// the broadcast activations), a 4 x 32 tile of outputs in registers. Codes of
// up to 4 bits stay packed two per byte in memory and are unpacked in
// registers. CPUs with AVX2 but not VNNI run an AVX2 kernel of the same
// layout (vpmaddubsw, then vpmaddwd; nibbles as they are, bytes as c - 128
// with vpsignb: exact, 16 lanes per tile); other CPUs run the reference.
//
// Layout (QGemmWeight): rows in panels of 32; per panel, per group, the
// group's k padded to gp (a multiple of 4, of 8 for nibbles) in quads; a
// quad of one panel is 32 lanes x 4 bytes (8-bit), and for nibbles one
// 128-byte block holds two quads (low nibbles the even quad, high the odd).
// Scales (and asymmetric zeros) per panel and group as 32 lanes. Padding rows
// have zero codes and scales; padding k has zero activations.
//
// Example:
//   QGemmWeight w = *PrepareQGemm(q);          // q: int4, groups of 32
//   Workspace ws;
//   QGemm(w, x, m, k, y, n, pool, ws);          // y: m x n, row stride n
#pragma once

#include <cstdint>
#include <vector>

#include "core/huge_pages.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "core/workspace.h"
#include "formats/quantized_tensor.h"

namespace lowbit {

struct QGemmWeight {
  static constexpr int kLanes = 32;  // rows per panel
  int64_t n = 0, k = 0;              // weight rows, inputs
  int64_t group = 0;     // inputs per group (weight groups, else blocks of 64)
  int64_t groups = 0;    // per row
  int64_t gp = 0;        // a group's inputs padded (quads)
  bool nibbles = false;  // codes of <= 4 bits, two per byte
  int64_t panels() const { return (n + kLanes - 1) / kLanes; }
  int64_t kpad() const { return groups * gp; }
  // Bytes of one panel's codes.
  int64_t panel_bytes() const { return kpad() * kLanes / (nibbles ? 2 : 1); }
  std::vector<uint8_t, HugePageAllocator<uint8_t>> codes;
  std::vector<float> scales;  // panels x groups x 32
  // Asymmetric: panels x groups x 32; symmetric: empty, every zero `zero`.
  std::vector<int32_t> zeros;
  int32_t zero = 0;
  int32_t ZeroAt(size_t i) const { return zeros.empty() ? zero : zeros[i]; }
  int64_t StoredBytes() const {
    return static_cast<int64_t>(codes.size() + 4 * scales.size() +
                                4 * zeros.size());
  }
};

// Integer codes of 2 to 8 bits (symmetric or asymmetric, per tensor, channel
// or group; groups of a multiple of 4, the last one may be short).
bool QGemmSupports(const QuantizedTensor& q);
Result<QGemmWeight> PrepareQGemm(const QuantizedTensor& q);

// y[m * ldy + n] for m < rows, n < w.n, from x[m * ldx + k]. Scratch (the
// quantized activations and their group sums) comes from `ws`; rows are split
// over the pool. Runs QGemmBestKernel().
void QGemm(const QGemmWeight& w, const float* x, int64_t rows, int64_t ldx,
           float* y, int64_t ldy, ThreadPool& pool, Workspace& ws);

// The kernels, each giving the reference's bits.
enum class QGemmKernel { kReference, kAvx2, kVnni };
// Whether this CPU runs `k`; the best one it runs (VNNI, else AVX2, else the
// reference); its name for reports ("avx512-vnni", "avx2", "reference").
bool QGemmCanRun(QGemmKernel k);
QGemmKernel QGemmBestKernel();
const char* QGemmKernelName(QGemmKernel k);
// QGemm on a chosen kernel (tests and benchmarks compare them); one this CPU
// cannot run falls back to the reference.
void QGemm(const QGemmWeight& w, const float* x, int64_t rows, int64_t ldx,
           float* y, int64_t ldy, ThreadPool& pool, Workspace& ws,
           QGemmKernel kernel);

namespace reference {
// Scalar, the same arithmetic (and the same bits) as QGemm.
void QGemm(const QGemmWeight& w, const float* x, int64_t rows, int64_t ldx,
           float* y, int64_t ldy);
}  // namespace reference

}  // namespace lowbit
