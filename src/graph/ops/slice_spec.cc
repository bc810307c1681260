#include "graph/ops/slice_spec.h"

#include <algorithm>
#include <string>

namespace lowbit::graph {

Result<SliceSpec> MakeSlice(const Shape& in, std::vector<int64_t> starts,
                            std::vector<int64_t> ends,
                            std::vector<int64_t> axes,
                            std::vector<int64_t> steps) {
  const int64_t r = static_cast<int64_t>(in.size());
  SliceSpec s;
  s.start.assign(in.size(), 0);
  s.step.assign(in.size(), 1);
  s.out = in;
  if (axes.empty()) {
    for (size_t i = 0; i < starts.size(); ++i)
      axes.push_back(static_cast<int64_t>(i));
  }
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() ||
      steps.size() != starts.size()) {
    return InvalidArgument("starts, ends, axes and steps differ in length");
  }
  for (size_t i = 0; i < starts.size(); ++i) {
    const int64_t ax = axes[i] < -r || axes[i] >= r
                           ? -1
                           : (axes[i] < 0 ? axes[i] + r : axes[i]);
    if (ax < 0)
      return InvalidArgument("axis " + std::to_string(axes[i]) +
                             " out of range");
    const int64_t d = in[ax], st = steps[i];
    if (st == 0) return InvalidArgument("a step is 0");
    int64_t b = starts[i], e = ends[i];
    if (b < 0) b += d;
    if (e < 0) e += d;
    if (st > 0) {
      b = std::clamp<int64_t>(b, 0, d);
      e = std::clamp<int64_t>(e, 0, d);
    } else {
      b = std::clamp<int64_t>(b, 0, d - 1);
      e = std::clamp<int64_t>(e, -1, d - 1);
    }
    const int64_t n = st > 0 ? (e - b + st - 1) / st : (b - e - st - 1) / (-st);
    s.start[ax] = b;
    s.step[ax] = st;
    s.out[ax] = std::max<int64_t>(0, n);
  }
  return s;
}

}  // namespace lowbit::graph
