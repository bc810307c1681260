#include "graph/calib_stats.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "graph/ops/conv_geometry.h"
#include "kernels/linalg.h"

namespace lowbit::graph {
namespace {

// Adds the column sums of |x| and x^2 of rows [rows x k] (row stride k).
void AddColumnSums(const float* x, int64_t rows, int64_t k, double* sum_abs,
                   double* sum_sq) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * k;
    for (int64_t c = 0; c < k; ++c) {
      sum_abs[c] += std::fabs(xr[c]);
      sum_sq[c] += static_cast<double>(xr[c]) * xr[c];
    }
  }
}

// The same for the columns of c [k x n] (row i: n values of column i): 16
// float lanes per row (independent sums the compiler vectorizes), then
// double.
void AddRowSums(const float* c, int64_t k, int64_t n, double* sum_abs,
                double* sum_sq) {
  constexpr int kLanes = 16;
  for (int64_t i = 0; i < k; ++i) {
    const float* row = c + i * n;
    float a[kLanes] = {}, s[kLanes] = {};
    int64_t q = 0;
    for (; q + kLanes <= n; q += kLanes) {
      for (int j = 0; j < kLanes; ++j) {
        a[j] += std::fabs(row[q + j]);
        s[j] += row[q + j] * row[q + j];
      }
    }
    double ta = 0.0, ts = 0.0;
    for (int j = 0; j < kLanes; ++j) {
      ta += a[j];
      ts += s[j];
    }
    for (; q < n; ++q) {
      ta += std::fabs(row[q]);
      ts += static_cast<double>(row[q]) * row[q];
    }
    sum_abs[i] += ta;
    sum_sq[i] += ts;
  }
}

constexpr int64_t kFlushRows = int64_t{1} << 16;

void Flush(LayerStats& s) {
  if (s.pending_rows == 0) return;
  const int64_t k = s.cols, hsz = k * k;
  for (int64_t gi = 0; gi < s.groups; ++gi) {
    float* src = s.pending.data() + gi * hsz;
    double* dst = s.h.data() + gi * hsz;
    for (int64_t i = 0; i < k; ++i) {
      for (int64_t j = i; j < k; ++j) {
        dst[i * k + j] += src[i * k + j];
        src[i * k + j] = 0.0f;
      }
    }
  }
  s.pending_rows = 0;
}

}  // namespace

LayerStats* CalibStatsCollector::LayerOf(const Graph& g, const Node& n,
                                         const Tensor** weight) {
  if (!n.domain.empty() || n.inputs.size() < 2 || n.inputs[1] < 0) {
    return nullptr;
  }
  const bool conv = n.op == "Conv", gemm = n.op == "Gemm",
             matmul = n.op == "MatMul";
  if (!conv && !gemm && !matmul) return nullptr;
  auto it = g.constants.find(n.inputs[1]);
  if (it == g.constants.end() || it->second.dtype() != DType::kF32) {
    return nullptr;
  }
  const Tensor& w = it->second;
  int64_t cols = 0, outputs = 0, groups = 1;
  if (conv) {
    if (w.rank() < 3 || w.dim(0) < 1) return nullptr;
    groups = std::max<int64_t>(1, n.Int("group", 1));
    outputs = w.dim(0);
    cols = w.numel() / outputs;
    if (outputs % groups != 0) return nullptr;
  } else {
    if (w.rank() != 2) return nullptr;
    const bool tb = gemm && n.Int("transB", 0) != 0;
    cols = tb ? w.dim(1) : w.dim(0);
    outputs = tb ? w.dim(0) : w.dim(1);
  }
  if (cols < 1) return nullptr;
  const std::string& name = g.value_names[n.inputs[1]];
  auto [pos, fresh] = layers_.try_emplace(name);
  LayerStats& s = pos->second;
  if (fresh) {
    s.weight = name;
    s.op = n.op;
    s.node = g.NodeLabel(n);
    s.groups = groups;
    s.cols = cols;
    s.outputs = outputs;
    s.h.assign(static_cast<size_t>(groups * cols * cols), 0.0);
    s.pending.assign(static_cast<size_t>(groups * cols * cols), 0.0f);
    s.sum_abs.assign(static_cast<size_t>(groups * cols), 0.0);
    s.sum_sq.assign(static_cast<size_t>(groups * cols), 0.0);
    s.out_sum.assign(static_cast<size_t>(outputs), 0.0);
    s.out_sq.assign(static_cast<size_t>(outputs), 0.0);
  } else if (s.groups != groups || s.cols != cols || s.outputs != outputs) {
    return nullptr;  // the same weight read with another geometry
  }
  if (s.pending.empty()) {  // after Finish(): collecting again
    s.pending.assign(static_cast<size_t>(groups * cols * cols), 0.0f);
  }
  *weight = &w;
  return &s;
}

namespace {
// Adds the seconds of its scope to *acc.
struct Timed {
  explicit Timed(double* acc)
      : acc_(acc), t0_(std::chrono::steady_clock::now()) {}
  ~Timed() {
    *acc_ +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_)
            .count();
  }
  double* acc_;
  std::chrono::steady_clock::time_point t0_;
};
}  // namespace

void CalibStatsCollector::Before(const Graph& g, const Node& n,
                                 const std::vector<const Tensor*>& in) {
  Timed timed(&seconds_);
  const Tensor* w = nullptr;
  LayerStats* s = LayerOf(g, n, &w);
  if (s == nullptr || in.empty() || in[0] == nullptr ||
      in[0]->dtype() != DType::kF32 || in[0]->numel() == 0) {
    return;
  }
  const Tensor& x = *in[0];
  const int64_t k = s->cols, hsz = k * k;
  float* acc = s->pending.data();
  int64_t rows = 0;
  if (s->op == "Conv") {
    ConvDims cd;
    if (!ResolveConv(n, x.shape(), w->shape(), nullptr, &cd).ok()) return;
    const Window& win = cd.w;
    const int64_t ow = win.out[2], orows = win.out[0] * win.out[1];
    const int64_t pin = win.InSize();
    const int64_t tile = std::clamp<int64_t>(kColBudget / (k * ow), 1, orows);
    col_.resize(static_cast<size_t>(k * tile * ow));
    for (int64_t nn = 0; nn < cd.n; ++nn) {
      for (int64_t gi = 0; gi < cd.g; ++gi) {
        const float* xg = x.data<float>() + (nn * cd.c + gi * cd.cg) * pin;
        for (int64_t r0 = 0; r0 < orows; r0 += tile) {
          const int64_t r1 = std::min(orows, r0 + tile), np = (r1 - r0) * ow;
          Im2col(xg, win, cd.cg, r0, r1, col_.data());
          AccumulateGramRows(col_.data(), k, np, np, acc + gi * hsz);
          AddRowSums(col_.data(), k, np, s->sum_abs.data() + gi * k,
                     s->sum_sq.data() + gi * k);
        }
      }
    }
    rows = cd.n * win.OutSize();
  } else if (s->op == "Gemm" && n.Int("transA", 0) != 0) {
    if (x.rank() != 2 || x.dim(0) != k) return;
    rows = x.dim(1);
    AccumulateGramRows(x.data<float>(), k, rows, rows, acc);
    AddRowSums(x.data<float>(), k, rows, s->sum_abs.data(), s->sum_sq.data());
  } else {
    if (x.dim(x.rank() - 1) != k) return;
    rows = x.numel() / k;
    AccumulateGram(x.data<float>(), rows, k, acc);
    AddColumnSums(x.data<float>(), rows, k, s->sum_abs.data(),
                  s->sum_sq.data());
  }
  s->rows += rows;
  s->pending_rows += rows;
  if (s->pending_rows >= kFlushRows) Flush(*s);
}

void CalibStatsCollector::After(const Graph& g, const Node& n,
                                const std::vector<Tensor*>& out) {
  Timed timed(&seconds_);
  const Tensor* w = nullptr;
  LayerStats* s = LayerOf(g, n, &w);
  if (s == nullptr || out.empty() || out[0] == nullptr ||
      out[0]->dtype() != DType::kF32 || out[0]->numel() == 0) {
    return;
  }
  const Tensor& y = *out[0];
  const float* p = y.data<float>();
  if (s->op == "Conv") {  // [N, M, spatial]
    if (y.rank() < 2 || y.dim(1) != s->outputs) return;
    const int64_t m = s->outputs, per = y.numel() / (y.dim(0) * m);
    for (int64_t i = 0; i < y.dim(0) * m; ++i) {
      double a = 0.0, b = 0.0;
      for (int64_t q = 0; q < per; ++q) {
        a += p[i * per + q];
        b += static_cast<double>(p[i * per + q]) * p[i * per + q];
      }
      s->out_sum[i % m] += a;
      s->out_sq[i % m] += b;
    }
    s->out_count += y.dim(0) * per;
  } else {  // [..., N]
    const int64_t m = s->outputs;
    if (y.dim(y.rank() - 1) != m) return;
    const int64_t rows = y.numel() / m;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < m; ++c) {
        s->out_sum[c] += p[r * m + c];
        s->out_sq[c] += static_cast<double>(p[r * m + c]) * p[r * m + c];
      }
    }
    s->out_count += rows;
  }
}

void CalibStatsCollector::Finish() {
  for (auto& [name, s] : layers_) {
    Flush(s);
    s.pending = std::vector<float>();
    const int64_t k = s.cols;
    for (int64_t gi = 0; gi < s.groups; ++gi) {
      double* h = s.h.data() + gi * k * k;
      for (int64_t i = 0; i < k; ++i) {
        for (int64_t j = i + 1; j < k; ++j) h[j * k + i] = h[i * k + j];
      }
    }
  }
}

}  // namespace lowbit::graph
