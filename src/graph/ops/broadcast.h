// NumPy broadcasting for the elementwise operators: the output shape of
// several inputs, and a walk over the output in contiguous runs, each run
// with a pointer and a stride (1, or 0 for a broadcast value) per input.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "core/tensor.h"

namespace lowbit::graph {

// The broadcast shape of `shapes`, or nullopt when two dimensions differ and
// neither is 1.
std::optional<Shape> BroadcastShapes(const std::vector<Shape>& shapes);

// Element strides of `in` within `out`'s index space (0 where broadcast).
std::vector<int64_t> BroadcastStrides(const Shape& in, const Shape& out);

// `p` (of shape `in`, which broadcasts to `out`) expanded to out's elements.
void ExpandTo(const float* p, const Shape& in, const Shape& out, float* y);

// Calls run(offsets, count) for runs covering the output in order: offsets[k]
// is the element offset of input k at the run's start; along the run input k
// advances by steps[k] (1 or 0). Runs are as long as the inputs allow.
class BroadcastWalk {
 public:
  BroadcastWalk(const std::vector<Shape>& inputs, const Shape& out);
  const std::vector<int64_t>& steps() const { return steps_; }
  int64_t run_length() const { return run_; }
  int64_t runs() const { return runs_; }
  // Offsets of every input at the start of run r.
  void Offsets(int64_t r, int64_t* offsets) const;

 private:
  int n_ = 0;
  Shape outer_;                            // dims above the run, merged
  std::vector<std::vector<int64_t>> str_;  // per input, strides of outer_
  std::vector<int64_t> steps_;
  int64_t run_ = 1, runs_ = 1;
};

}  // namespace lowbit::graph
