// Sliding-window geometry shared by Conv, ConvTranspose and the pools
// (graph/ops/conv.cc, pool.cc): attribute checks, pads and output sizes, with
// the spatial dimensions padded to three (leading dimensions of size 1).
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/status.h"
#include "graph/ir.h"

namespace lowbit::graph {

// Depth, height, width; an operator with r < 3 spatial dimensions uses the
// last r, the others have size 1, a unit kernel, stride and dilation.
struct Window {
  int rank = 0;  // spatial dimensions of the operator (1..3)
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, k[3] = {1, 1, 1};
  int64_t s[3] = {1, 1, 1}, d[3] = {1, 1, 1};
  int64_t pb[3] = {0, 0, 0}, pe[3] = {0, 0, 0};  // pads at begin and end
  int64_t InSize() const { return in[0] * in[1] * in[2]; }
  int64_t OutSize() const { return out[0] * out[1] * out[2]; }
  int64_t Taps() const { return k[0] * k[1] * k[2]; }
};

// A 2-D window (rank-4 input) of 2x2 taps with strides 2, without dilation
// or padding, every window inside the input (the 2x2 max-pool of CNNs; the
// input may have a last row or column no window reads): the pools and their
// gradients take a path of their own for it.
inline bool Whole2x2Windows(const Window& w) {
  if (w.k[0] != 1 || w.in[0] != 1 || w.out[0] != 1) return false;
  for (int j = 1; j < 3; ++j) {
    if (w.k[j] != 2 || w.s[j] != 2 || w.d[j] != 1 || w.pb[j] != 0 ||
        w.pe[j] != 0 || w.out[j] * 2 > w.in[j]) {
      return false;
    }
  }
  return true;
}

// The indices i in [0, count) with 0 <= i * stride + off < bound, as [lo, hi).
inline void ValidRange(int64_t off, int64_t stride, int64_t bound,
                       int64_t count, int64_t* lo, int64_t* hi) {
  const int64_t a = off >= 0 ? 0 : (-off + stride - 1) / stride;
  int64_t b = bound - 1 - off < 0 ? 0 : (bound - 1 - off) / stride + 1;
  b = std::min(b, count);
  *lo = std::min(a, b);
  *hi = b;
}

// Load-time checks: auto_pad is known; kernel_shape, strides and dilations
// are positive, pads and the lists in `nonneg` (output_padding) are not
// negative; all have as many values per spatial dimension (1 to 3).
inline Status CheckWindowAttrs(const Graph& g, const Node& n,
                               bool kernel_required,
                               std::initializer_list<const char*> nonneg = {}) {
  auto fail = [&](const std::string& m) {
    return InvalidArgument(g.NodeLabel(n) + ": " + m);
  };
  if (const Attribute* a = n.Find("auto_pad")) {
    if (a->kind != Attribute::Kind::kString) {
      return fail("auto_pad must be a string");
    }
    if (a->s != "NOTSET" && a->s != "SAME_UPPER" && a->s != "SAME_LOWER" &&
        a->s != "VALID") {
      return fail("auto_pad '" + a->s +
                  "' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID");
    }
  }
  int64_t rank = -1;
  std::string rank_from;
  auto list = [&](const char* name, int64_t min, size_t per_dim) -> Status {
    const Attribute* a = n.Find(name);
    if (a == nullptr) return Status::Ok();
    const std::string nm = name;
    if (a->kind != Attribute::Kind::kInts) {
      return fail(nm + " must be a list of ints");
    }
    if (a->ints.empty() || a->ints.size() % per_dim != 0 ||
        a->ints.size() > 3 * per_dim) {
      return fail(nm + " has " + std::to_string(a->ints.size()) +
                  " values; 1-D to 3-D windows take " +
                  (per_dim == 2 ? "2, 4 or 6" : "1 to 3"));
    }
    for (int64_t v : a->ints) {
      if (v < min) {
        return fail(nm + " has " + std::to_string(v) +
                    (min > 0 ? "; values must be positive"
                             : "; values must not be negative"));
      }
    }
    const int64_t len = static_cast<int64_t>(a->ints.size() / per_dim);
    if (rank < 0) {
      rank = len;
      rank_from = nm;
    } else if (len != rank) {
      return fail(nm + " is for " + std::to_string(len) + " dimensions but " +
                  rank_from + " for " + std::to_string(rank));
    }
    return Status::Ok();
  };
  LB_RETURN_IF_ERROR(list("kernel_shape", 1, 1));
  LB_RETURN_IF_ERROR(list("strides", 1, 1));
  LB_RETURN_IF_ERROR(list("dilations", 1, 1));
  LB_RETURN_IF_ERROR(list("pads", 0, 2));
  for (const char* e : nonneg) LB_RETURN_IF_ERROR(list(e, 0, 1));
  if (kernel_required && n.Find("kernel_shape") == nullptr) {
    return fail("the kernel_shape attribute is required");
  }
  return Status::Ok();
}

// An attribute list of per_dim values per spatial dimension (r of them),
// each `def` when absent; an error (without node label) for another length.
inline Status SpatialList(const Node& n, const char* name, int r, int per_dim,
                          int64_t def, std::vector<int64_t>* v) {
  *v = n.Ints(name);
  const size_t want = static_cast<size_t>(r * per_dim);
  if (v->empty()) v->assign(want, def);
  if (v->size() != want) {
    return InvalidArgument(std::string(name) + " has " +
                           std::to_string(v->size()) + " values for " +
                           std::to_string(r) + " spatial dimensions");
  }
  return Status::Ok();
}

// The window of input shape x (N, C, spatial...) and kernel k (one size per
// spatial dimension): pads from auto_pad or the pads attribute, output sizes
// (ceil_mode: pools; a last window that would start in the end padding is
// dropped). The message of an error has no node label.
inline Status MakeWindow(const Node& n, const Shape& x, const int64_t* k,
                         bool ceil_mode, Window* w) {
  const int r = static_cast<int>(x.size()) - 2;
  std::vector<int64_t> strides, dil, pads;
  LB_RETURN_IF_ERROR(SpatialList(n, "strides", r, 1, 1, &strides));
  LB_RETURN_IF_ERROR(SpatialList(n, "dilations", r, 1, 1, &dil));
  LB_RETURN_IF_ERROR(SpatialList(n, "pads", r, 2, 0, &pads));
  const std::string ap = n.String("auto_pad", "NOTSET");
  *w = Window();
  w->rank = r;
  for (int i = 0; i < r; ++i) {
    const int j = 3 - r + i;
    const int64_t in = x[2 + i], s = strides[i], d = dil[i];
    const int64_t keff = d * (k[i] - 1) + 1;
    if (in < 1) {
      return InvalidArgument("spatial dimension " + std::to_string(i) +
                             " of X is empty");
    }
    w->in[j] = in;
    w->k[j] = k[i];
    w->s[j] = s;
    w->d[j] = d;
    if (ap == "SAME_UPPER" || ap == "SAME_LOWER") {
      w->out[j] = (in + s - 1) / s;
      const int64_t total =
          std::max<int64_t>(0, (w->out[j] - 1) * s + keff - in);
      w->pb[j] = ap == "SAME_UPPER" ? total / 2 : total - total / 2;
      w->pe[j] = total - w->pb[j];
    } else {
      if (ap != "VALID") {
        w->pb[j] = pads[i];
        w->pe[j] = pads[r + i];
      }
      const int64_t span = in + w->pb[j] + w->pe[j] - keff;
      if (span < 0) {
        return InvalidArgument(
            "the window of " + std::to_string(keff) +
            " (kernel and dilation) is larger than the padded input (" +
            std::to_string(in + w->pb[j] + w->pe[j]) +
            ") in spatial dimension " + std::to_string(i));
      }
      w->out[j] = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
      if (ceil_mode && (w->out[j] - 1) * s >= in + w->pb[j]) --w->out[j];
    }
  }
  return Status::Ok();
}

}  // namespace lowbit::graph
