// What ONNX Slice takes from a tensor: per input dimension the first index
// and the step, and the output's shape, from starts / ends / axes / steps
// (negative values counted from the end, clamped as the operator's
// specification says). Shared by the Slice kernel (graph/ops/shape_ops.cc)
// and its gradient (graph/grad/shape_grad.cc).
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

namespace lowbit::graph {

struct SliceSpec {
  std::vector<int64_t> start, step;  // per input dim
  Shape out;
};

// InvalidArgument for lists of different lengths, an axis out of range or a
// zero step. Empty axes: 0, 1, ...; empty steps: 1.
Result<SliceSpec> MakeSlice(const Shape& in, std::vector<int64_t> starts,
                            std::vector<int64_t> ends,
                            std::vector<int64_t> axes,
                            std::vector<int64_t> steps);

}  // namespace lowbit::graph
