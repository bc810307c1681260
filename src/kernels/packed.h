// Weights repacked for the products: a step of loading a quantized tensor
// (kernels/matvec.h reads lowbit's storage layout directly; this layout is
// faster where the storage one costs shuffles).
//
// int4 in groups (PackInt4): each row is cut into stripes of 16 groups; in a
// stripe, 64-byte chunk k holds bytes 4k..4k+3 of every group (group i in
// bytes 4i..4i+3 of the chunk). A 32-bit lane then stays in one group for the
// whole stripe, so VNNI's vpdpbusd sums a group exactly in one lane across
// the stripe's chunks and the 16 scales apply once per stripe, from one
// contiguous load: no per-chunk permutes. Rows are padded to whole stripes
// with zero codes and zero scales.
//
// Example (load once, multiply per token):
//   QuantizedTensor q = ...;                      // int4, groups of 32
//   PackedMatrix p = *PackInt4(q);
//   LB_RETURN_IF_ERROR(MatVecQ8(p, x.data(), y.data(), pool));
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "formats/quantized_tensor.h"

namespace lowbit {

struct PackedMatrix {
  int64_t rows = 0, cols = 0;
  int64_t group_size = 0;  // codes per group (a power of two >= 16)
  int64_t stripes = 0;     // per row: ceil(groups / 16)
  bool symmetric = true;
  std::vector<uint8_t> codes;  // rows x row_bytes()
  std::vector<float> scales;   // rows x 16 stripes, 0 for padding groups
  std::vector<uint8_t> zeros;  // asymmetric: rows x 16 stripes, else empty
  int64_t row_bytes() const { return stripes * 16 * group_size / 2; }
  int64_t StoredBytes() const {
    return static_cast<int64_t>(codes.size() + 4 * scales.size() +
                                zeros.size());
  }
};

// int4 weights in groups (any size that is a power of two >= 16, whole
// groups per row).
bool CanPackInt4(const QuantizedTensor& w);
Result<PackedMatrix> PackInt4(const QuantizedTensor& w);

// y = W x with x quantized to int8 (QuantizeActivations): exact int32 sums per
// group, scaled in float. Within float rounding of reference::MatVecQ8 on the
// tensor that was packed (the tests allow 1e-5 of sum |w x|).
Status MatVecQ8(const PackedMatrix& w, const float* x, float* y,
                ThreadPool& pool);

}  // namespace lowbit
