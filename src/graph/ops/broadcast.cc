#include "graph/ops/broadcast.h"

#include <algorithm>

namespace lowbit::graph {

std::optional<Shape> BroadcastShapes(const std::vector<Shape>& shapes) {
  size_t rank = 0;
  for (const Shape& s : shapes) rank = std::max(rank, s.size());
  Shape out(rank, 1);
  for (const Shape& s : shapes) {
    const size_t off = rank - s.size();
    for (size_t i = 0; i < s.size(); ++i) {
      int64_t& o = out[off + i];
      if (s[i] == o || s[i] == 1) continue;
      if (o == 1) {
        o = s[i];
      } else {
        return std::nullopt;
      }
    }
  }
  // A zero dimension wins over 1 (numpy: 0-sized broadcast).
  for (const Shape& s : shapes) {
    const size_t off = rank - s.size();
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == 0) out[off + i] = 0;
    }
  }
  return out;
}

std::vector<int64_t> BroadcastStrides(const Shape& in, const Shape& out) {
  std::vector<int64_t> st(out.size(), 0);
  int64_t s = 1;
  const size_t off = out.size() - in.size();
  for (size_t i = in.size(); i-- > 0;) {
    st[off + i] = in[i] == 1 ? 0 : s;
    s *= in[i];
  }
  return st;
}

BroadcastWalk::BroadcastWalk(const std::vector<Shape>& inputs,
                             const Shape& out) {
  n_ = static_cast<int>(inputs.size());
  std::vector<std::vector<int64_t>> st;
  for (const Shape& s : inputs) st.push_back(BroadcastStrides(s, out));
  // Merge adjacent dims whose strides continue each other for every input.
  Shape dims;
  std::vector<std::vector<int64_t>> mst(n_);
  for (size_t d = 0; d < out.size(); ++d) {
    if (out[d] == 1) continue;
    bool merge = !dims.empty();
    for (int k = 0; k < n_ && merge; ++k) {
      merge = mst[k].back() == st[k][d] * out[d];
    }
    if (merge) {
      dims.back() *= out[d];
      for (int k = 0; k < n_; ++k) mst[k].back() = st[k][d];
    } else {
      dims.push_back(out[d]);
      for (int k = 0; k < n_; ++k) mst[k].push_back(st[k][d]);
    }
  }
  steps_.assign(n_, 0);
  if (dims.empty()) {  // a single element (or a scalar)
    run_ = NumElements(out);
    runs_ = run_ > 0 ? 1 : 0;
    run_ = std::max<int64_t>(run_, 0);
    return;
  }
  run_ = dims.back();
  for (int k = 0; k < n_; ++k) steps_[k] = mst[k].back() == 0 ? 0 : 1;
  // A broadcast input with stride != 1 in the last dim cannot happen: the
  // innermost stride is 1 or 0.
  dims.pop_back();
  outer_ = dims;
  str_.resize(n_);
  for (int k = 0; k < n_; ++k) {
    str_[k].assign(mst[k].begin(), mst[k].end() - 1);
  }
  runs_ = NumElements(outer_);
}

void BroadcastWalk::Offsets(int64_t r, int64_t* offsets) const {
  for (int k = 0; k < n_; ++k) offsets[k] = 0;
  for (size_t d = outer_.size(); d-- > 0;) {
    const int64_t i = r % outer_[d];
    r /= outer_[d];
    for (int k = 0; k < n_; ++k) offsets[k] += i * str_[k][d];
  }
}

void ExpandTo(const float* p, const Shape& in, const Shape& out, float* y) {
  const int64_t n = NumElements(out);
  const int pr = static_cast<int>(in.size()), nr = static_cast<int>(out.size());
  for (int64_t i = 0; i < n; ++i) {
    int64_t rest = i, off = 0, stride = 1;
    for (int d = nr - 1, q = pr - 1; d >= 0; --d, --q) {
      const int64_t coord = rest % out[d];
      rest /= out[d];
      if (q >= 0) {
        if (in[q] != 1) off += coord * stride;
        stride *= in[q];
      }
    }
    y[i] = p[off];
  }
}

}  // namespace lowbit::graph
