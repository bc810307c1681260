// Operators that move or describe data without arithmetic: Reshape, Flatten,
// Squeeze, Unsqueeze, Transpose, Concat, Split, Slice, Pad, Tile, Expand,
// Gather, Shape, Size, ConstantOfShape, Range, Constant. Any element type:
// they copy bytes. Parameters that became inputs in later opsets (axes,
// pads, split) are read from the input when present, else the attribute.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/round.h"
#include "graph/ops/broadcast.h"
#include "graph/ops/families.h"
#include "graph/ops/slice_spec.h"

namespace lowbit::graph {
namespace {

// An axis in [-rank, rank) made non-negative, or -1 when out of range.
int64_t Axis(int64_t a, int64_t rank) {
  if (a < -rank || a >= rank) return -1;
  return a < 0 ? a + rank : a;
}

// Dimensions given as values (Reshape, Tile, Expand, ConstantOfShape, Pad)
// above this are refused, so that products of a few of them cannot
// overflow int64 before the session's size limit judges the output.
constexpr int64_t kMaxDim = int64_t{1} << 40;

// The int64 values of input k (known while planning), or of attribute name.
Result<std::vector<int64_t>> IntsFrom(const InferContext& c, int k,
                                      const char* attr, bool* given) {
  *given = false;
  if (c.has(k)) {
    if (!c.in(k).known()) {
      return c.Fail(std::string("input ") + std::to_string(k) +
                    " must be known before running (a constant or computed "
                    "from shapes)");
    }
    const Tensor& t = *c.in(k).value;
    std::vector<int64_t> v(static_cast<size_t>(t.numel()));
    for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.GetInt(i);
    *given = true;
    return v;
  }
  if (attr != nullptr && c.node().Find(attr) != nullptr) {
    *given = true;
    return c.node().Ints(attr);
  }
  return std::vector<int64_t>();
}

std::vector<int64_t> KernelInts(const KernelContext& c, int k,
                                const char* attr) {
  if (c.has(k)) {
    const Tensor& t = c.in(k);
    std::vector<int64_t> v(static_cast<size_t>(t.numel()));
    for (int64_t i = 0; i < t.numel(); ++i) v[i] = t.GetInt(i);
    return v;
  }
  return attr ? c.node().Ints(attr) : std::vector<int64_t>();
}

Status Copy(KernelContext& c) {
  std::memcpy(c.out(0).bytes(), c.in(0).bytes(),
              static_cast<size_t>(c.out(0).nbytes()));
  return Status::Ok();
}

// ---------------------------------------------------------------- Reshape
Status InferReshape(InferContext& c) {
  const Shape& in = c.in(0).shape;
  bool given = false;
  LB_ASSIGN_OR_RETURN(std::vector<int64_t> s, IntsFrom(c, 1, "shape", &given));
  const bool allowzero = c.node().Int("allowzero", 0) != 0;
  int64_t known = 1, infer_at = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == 0 && !allowzero) {
      if (i >= in.size()) return c.Fail("shape has 0 past the input's rank");
      s[i] = in[i];
    }
    if (s[i] == -1) {
      if (infer_at >= 0) return c.Fail("shape has more than one -1");
      infer_at = static_cast<int64_t>(i);
    } else if (s[i] < 0) {
      return c.Fail("shape has a negative dimension");
    } else if (s[i] > kMaxDim || (known > 0 && s[i] > kMaxDim / known)) {
      return c.Fail("shape " + ShapeString(s) + " is too large");
    } else {
      known *= s[i];
    }
  }
  const int64_t n = NumElements(in);
  if (infer_at >= 0) {
    if (known == 0 || n % known != 0) {
      return c.Fail("cannot reshape " + ShapeString(in) + " to " +
                    ShapeString(s));
    }
    s[infer_at] = n / known;
  }
  if (NumElements(s) != n) {
    return c.Fail("cannot reshape " + ShapeString(in) + " (" +
                  std::to_string(n) + " values) to " + ShapeString(s));
  }
  c.Set(0, c.in(0).dtype, s);
  return Status::Ok();
}

Status InferFlatten(InferContext& c) {
  const Shape& in = c.in(0).shape;
  const int64_t r = static_cast<int64_t>(in.size());
  int64_t axis = c.node().Int("axis", 1);
  if (axis < -r || axis > r) return c.Fail("axis out of range");
  if (axis < 0) axis += r;
  int64_t a = 1, b = 1;
  for (int64_t i = 0; i < r; ++i) (i < axis ? a : b) *= in[i];
  c.Set(0, c.in(0).dtype, {a, b});
  return Status::Ok();
}

Status InferSqueeze(InferContext& c) {
  const Shape& in = c.in(0).shape;
  bool given = false;
  LB_ASSIGN_OR_RETURN(std::vector<int64_t> axes,
                      IntsFrom(c, 1, "axes", &given));
  std::vector<char> drop(in.size(), 0);
  if (axes.empty()) {
    for (size_t i = 0; i < in.size(); ++i) drop[i] = in[i] == 1;
  }
  for (int64_t a : axes) {
    const int64_t ax = Axis(a, static_cast<int64_t>(in.size()));
    if (ax < 0) return c.Fail("axis " + std::to_string(a) + " out of range");
    if (in[ax] != 1)
      return c.Fail("dimension " + std::to_string(a) + " is not 1");
    drop[ax] = 1;
  }
  Shape out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (!drop[i]) out.push_back(in[i]);
  }
  c.Set(0, c.in(0).dtype, out);
  return Status::Ok();
}

Status InferUnsqueeze(InferContext& c) {
  const Shape& in = c.in(0).shape;
  bool given = false;
  LB_ASSIGN_OR_RETURN(std::vector<int64_t> axes,
                      IntsFrom(c, 1, "axes", &given));
  const int64_t r = static_cast<int64_t>(in.size() + axes.size());
  std::vector<char> add(static_cast<size_t>(r), 0);
  for (int64_t a : axes) {
    const int64_t ax = Axis(a, r);
    if (ax < 0 || add[ax]) return c.Fail("axes out of range or repeated");
    add[ax] = 1;
  }
  Shape out;
  size_t j = 0;
  for (int64_t i = 0; i < r; ++i) out.push_back(add[i] ? 1 : in[j++]);
  c.Set(0, c.in(0).dtype, out);
  return Status::Ok();
}

// ---------------------------------------------------------------- Transpose
std::vector<int64_t> Perm(const Node& n, int64_t rank) {
  std::vector<int64_t> p = n.Ints("perm");
  if (p.empty()) {
    for (int64_t i = rank - 1; i >= 0; --i) p.push_back(i);
  }
  return p;
}

Status InferTranspose(InferContext& c) {
  const Shape& in = c.in(0).shape;
  const std::vector<int64_t> p =
      Perm(c.node(), static_cast<int64_t>(in.size()));
  if (p.size() != in.size()) return c.Fail("perm has the wrong length");
  std::vector<char> seen(in.size(), 0);
  Shape out;
  for (int64_t a : p) {
    if (a < 0 || a >= static_cast<int64_t>(in.size()) || seen[a]) {
      return c.Fail("perm is not a permutation");
    }
    seen[a] = 1;
    out.push_back(in[a]);
  }
  c.Set(0, c.in(0).dtype, out);
  return Status::Ok();
}

// Copies a strided view: out[i...] = in[offset + sum i_d * strides[d]],
// element size es; the innermost contiguous dimension is copied with memcpy.
void StridedCopy(const uint8_t* in, int64_t offset,
                 const std::vector<int64_t>& strides, const Shape& out_shape,
                 int64_t es, uint8_t* out, ThreadPool* pool) {
  const int r = static_cast<int>(out_shape.size());
  const int64_t n = NumElements(out_shape);
  if (n == 0) return;
  if (r == 0) {
    std::memcpy(out, in + offset * es, static_cast<size_t>(es));
    return;
  }
  const int64_t inner = out_shape[r - 1];
  const int64_t rows = n / inner;
  const int64_t st = strides[r - 1];
  auto body = [&](int64_t r0, int64_t r1) {
    for (int64_t row = r0; row < r1; ++row) {
      int64_t rem = row, off = offset;
      for (int d = r - 2; d >= 0; --d) {
        off += (rem % out_shape[d]) * strides[d];
        rem /= out_shape[d];
      }
      uint8_t* o = out + row * inner * es;
      if (st == 1) {
        std::memcpy(o, in + off * es, static_cast<size_t>(inner * es));
      } else if (es == 4) {
        const uint32_t* s = reinterpret_cast<const uint32_t*>(in) + off;
        uint32_t* d = reinterpret_cast<uint32_t*>(o);
        for (int64_t i = 0; i < inner; ++i) d[i] = s[i * st];
      } else {
        for (int64_t i = 0; i < inner; ++i) {
          std::memcpy(o + i * es, in + (off + i * st) * es,
                      static_cast<size_t>(es));
        }
      }
    }
  };
  if (pool != nullptr && n > (1 << 16) && rows > 1) {
    pool->ParallelFor(rows, std::max<int64_t>(1, (1 << 14) / inner), body);
  } else {
    body(0, rows);
  }
}

std::vector<int64_t> Strides(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (size_t i = s.size(); i-- > 1;) st[i - 1] = st[i] * s[i];
  return st;
}

Status RunTranspose(KernelContext& c) {
  const Tensor& x = c.in(0);
  const std::vector<int64_t> p = Perm(c.node(), x.rank());
  const std::vector<int64_t> in_st = Strides(x.shape());
  std::vector<int64_t> st;
  for (int64_t a : p) st.push_back(in_st[a]);
  StridedCopy(x.bytes(), 0, st, c.out(0).shape(), ElementBytes(x.dtype()),
              c.out(0).bytes(), &c.pool());
  return Status::Ok();
}

// ---------------------------------------------------------------- Concat
Status InferConcat(InferContext& c) {
  const Shape& s0 = c.in(0).shape;
  const int64_t r = static_cast<int64_t>(s0.size());
  const int64_t axis = Axis(c.node().Int("axis", r > 0 ? 1 : 0), r);
  if (axis < 0) return c.Fail("axis out of range");
  Shape out = s0;
  out[axis] = 0;
  for (int k = 0; k < c.num_inputs(); ++k) {
    const Shape& s = c.in(k).shape;
    if (c.in(k).dtype != c.in(0).dtype || s.size() != s0.size()) {
      return c.Fail("inputs differ in type or rank");
    }
    for (int64_t d = 0; d < r; ++d) {
      if (d != axis && s[d] != s0[d]) {
        return c.Fail("input " + std::to_string(k) + " has shape " +
                      ShapeString(s) + ", not matching " + ShapeString(s0));
      }
    }
    out[axis] += s[axis];
  }
  c.Set(0, c.in(0).dtype, out);
  return Status::Ok();
}

Status RunConcat(KernelContext& c) {
  Tensor& out = c.out(0);
  const int64_t r = out.rank();
  const int64_t axis = Axis(c.node().Int("axis", 1), r);
  const int64_t es = ElementBytes(out.dtype());
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= out.dim(d);
  for (int64_t d = axis + 1; d < r; ++d) inner *= out.dim(d);
  const int64_t out_row = out.dim(axis) * inner * es;
  // One item per (outer index, input): a block copy each.
  std::vector<int64_t> at(static_cast<size_t>(c.num_inputs()), 0);
  for (int k = 1; k < c.num_inputs(); ++k) {
    at[k] = at[k - 1] + c.in(k - 1).dim(static_cast<int>(axis)) * inner * es;
  }
  const int64_t items = outer * c.num_inputs();
  auto body = [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t o = i / c.num_inputs();
      const int k = static_cast<int>(i % c.num_inputs());
      const Tensor& x = c.in(k);
      const int64_t row = x.dim(static_cast<int>(axis)) * inner * es;
      std::memcpy(out.bytes() + o * out_row + at[k], x.bytes() + o * row,
                  static_cast<size_t>(row));
    }
  };
  if (out.nbytes() > (1 << 18) && items > 1) {
    c.pool().ParallelFor(items, 1, body);
  } else {
    body(0, items);
  }
  return Status::Ok();
}

// ---------------------------------------------------------------- Split
Status InferSplit(InferContext& c) {
  const Shape& in = c.in(0).shape;
  const int64_t r = static_cast<int64_t>(in.size());
  const int64_t axis = Axis(c.node().Int("axis", 0), r);
  if (axis < 0) return c.Fail("axis out of range");
  bool given = false;
  LB_ASSIGN_OR_RETURN(std::vector<int64_t> split,
                      IntsFrom(c, 1, "split", &given));
  const int n = c.num_outputs();
  if (split.empty()) {
    const int64_t each = (in[axis] + n - 1) / n;
    for (int k = 0; k < n; ++k) {
      split.push_back(
          std::max<int64_t>(0, std::min(each, in[axis] - k * each)));
    }
    if (in[axis] % n != 0 && c.node().Find("num_outputs") == nullptr) {
      return c.Fail("dimension " + std::to_string(in[axis]) +
                    " does not split into " + std::to_string(n) +
                    " equal parts");
    }
  }
  if (static_cast<int>(split.size()) != n)
    return c.Fail("split has the wrong length");
  int64_t sum = 0;
  for (int64_t s : split) {
    if (s < 0) return c.Fail("negative split");
    sum += s;
  }
  if (sum != in[axis]) return c.Fail("split does not add up to the dimension");
  for (int k = 0; k < n; ++k) {
    Shape s = in;
    s[axis] = split[k];
    c.Set(k, c.in(0).dtype, s);
  }
  return Status::Ok();
}

Status RunSplit(KernelContext& c) {
  const Tensor& x = c.in(0);
  const int64_t r = x.rank();
  const int64_t axis = Axis(c.node().Int("axis", 0), r);
  const int64_t es = ElementBytes(x.dtype());
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.dim(d);
  for (int64_t d = axis + 1; d < r; ++d) inner *= x.dim(d);
  const int64_t in_row = x.dim(axis) * inner * es;
  int64_t at = 0;
  for (int k = 0; k < c.num_outputs(); ++k) {
    if (!c.has_out(k)) continue;
    Tensor& o = c.out(k);
    const int64_t row = o.dim(axis) * inner * es;
    for (int64_t i = 0; i < outer; ++i) {
      std::memcpy(o.bytes() + i * row, x.bytes() + i * in_row + at,
                  static_cast<size_t>(row));
    }
    at += row;
  }
  return Status::Ok();
}

// ---------------------------------------------------------------- Slice
Result<SliceSpec> SliceOf(const InferContext& c) {
  bool g = false;
  if (c.opset() < 10) {
    return MakeSlice(c.in(0).shape, c.node().Ints("starts"),
                     c.node().Ints("ends"), c.node().Ints("axes"), {});
  }
  LB_ASSIGN_OR_RETURN(auto starts, IntsFrom(c, 1, nullptr, &g));
  LB_ASSIGN_OR_RETURN(auto ends, IntsFrom(c, 2, nullptr, &g));
  LB_ASSIGN_OR_RETURN(auto axes, IntsFrom(c, 3, nullptr, &g));
  LB_ASSIGN_OR_RETURN(auto steps, IntsFrom(c, 4, nullptr, &g));
  return MakeSlice(c.in(0).shape, starts, ends, axes, steps);
}

Status InferSlice(InferContext& c) {
  auto s = SliceOf(c);
  if (!s.ok()) return c.Fail(s.status().message());
  c.Set(0, c.in(0).dtype, s->out);
  return Status::Ok();
}

Status RunSlice(KernelContext& c) {
  const Tensor& x = c.in(0);
  Result<SliceSpec> s =
      c.opset() < 10
          ? MakeSlice(x.shape(), c.node().Ints("starts"), c.node().Ints("ends"),
                      c.node().Ints("axes"), {})
          : MakeSlice(x.shape(), KernelInts(c, 1, nullptr),
                      KernelInts(c, 2, nullptr), KernelInts(c, 3, nullptr),
                      KernelInts(c, 4, nullptr));
  if (!s.ok()) return c.Fail(s.status().message());
  const std::vector<int64_t> st = Strides(x.shape());
  int64_t offset = 0;
  std::vector<int64_t> strides(st.size());
  for (size_t d = 0; d < st.size(); ++d) {
    offset += s->start[d] * st[d];
    strides[d] = s->step[d] * st[d];
  }
  StridedCopy(x.bytes(), offset, strides, c.out(0).shape(),
              ElementBytes(x.dtype()), c.out(0).bytes(), &c.pool());
  return Status::Ok();
}

// ---------------------------------------------------------------- Pad
Status CheckPad(const Graph& g, const Node& n) {
  const std::string mode = n.String("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge") {
    return InvalidArgument(g.NodeLabel(n) + ": mode " + mode +
                           " (constant, reflect or edge)");
  }
  return Status::Ok();
}

Result<std::vector<int64_t>> PadsOf(const InferContext& c) {
  bool g = false;
  LB_ASSIGN_OR_RETURN(std::vector<int64_t> pads,
                      IntsFrom(c, 1, c.opset() < 11 ? "pads" : nullptr, &g));
  if (c.opset() < 11 && !c.has(1) && c.node().Find("pads") == nullptr) {
    pads = c.node().Ints("paddings");
  }
  const int64_t r = static_cast<int64_t>(c.in(0).shape.size());
  if (c.has(3)) {  // axes (opset 18)
    LB_ASSIGN_OR_RETURN(std::vector<int64_t> axes, IntsFrom(c, 3, nullptr, &g));
    std::vector<int64_t> full(2 * r, 0);
    if (pads.size() != 2 * axes.size())
      return InvalidArgument("pads and axes differ");
    for (size_t i = 0; i < axes.size(); ++i) {
      const int64_t a = Axis(axes[i], r);
      if (a < 0) return InvalidArgument("axis out of range");
      full[a] = pads[i];
      full[a + r] = pads[i + axes.size()];
    }
    pads = full;
  }
  if (static_cast<int64_t>(pads.size()) != 2 * r) {
    return InvalidArgument("pads must have " + std::to_string(2 * r) +
                           " values");
  }
  for (int64_t p : pads) {
    if (p > kMaxDim || p < -kMaxDim) {
      return InvalidArgument("a pad is out of range");
    }
  }
  return pads;
}

Status InferPad(InferContext& c) {
  auto pads = PadsOf(c);
  if (!pads.ok()) return c.Fail(pads.status().message());
  Shape out = c.in(0).shape;
  const size_t r = out.size();
  for (size_t d = 0; d < r; ++d) {
    out[d] += (*pads)[d] + (*pads)[d + r];
    if (out[d] < 0) return c.Fail("pads remove more than the dimension");
    if (c.node().String("mode", "constant") != "constant" &&
        ((*pads)[d] > 0 || (*pads)[d + r] > 0) && c.in(0).shape[d] == 0) {
      return c.Fail("cannot pad an empty dimension by reflection or edge");
    }
  }
  c.Set(0, c.in(0).dtype, out);
  return Status::Ok();
}

Status RunPad(KernelContext& c) {
  const Tensor& x = c.in(0);
  Tensor& y = c.out(0);
  const int r = x.rank();
  // The pads as PadsOf read them: input 1 when given, else (before opset
  // 11) the attribute.
  std::vector<int64_t> p =
      c.has(1)         ? KernelInts(c, 1, nullptr)
      : c.opset() < 11 ? (c.node().Find("pads") ? c.node().Ints("pads")
                                                : c.node().Ints("paddings"))
                       : std::vector<int64_t>();
  if (c.has(3)) {
    const std::vector<int64_t> axes = KernelInts(c, 3, nullptr);
    std::vector<int64_t> full(2 * r, 0);
    for (size_t i = 0; i < axes.size(); ++i) {
      const int64_t a = Axis(axes[i], r);
      full[a] = p[i];
      full[a + r] = p[i + axes.size()];
    }
    p = full;
  }
  const std::string mode = c.node().String("mode", "constant");
  double value = c.opset() < 11 ? c.node().Float("value", 0.0f) : 0.0;
  if (c.opset() >= 11 && c.has(2) && c.in(2).numel() > 0)
    value = c.in(2).GetDouble(0);
  const int64_t es = ElementBytes(x.dtype());
  const std::vector<int64_t> xs = Strides(x.shape());
  std::vector<int64_t> idx(r, 0);
  const int64_t n = y.numel();
  // Element by element (Pad is rare and small in the models we run).
  uint8_t fill[8] = {};
  if (x.dtype() == DType::kF32) {
    const float f = static_cast<float>(value);
    std::memcpy(fill, &f, 4);
  } else if (x.dtype() == DType::kF64) {
    std::memcpy(fill, &value, 8);
  } else if (x.dtype() == DType::kI64) {
    const int64_t v = static_cast<int64_t>(value);
    std::memcpy(fill, &v, 8);
  } else if (x.dtype() == DType::kI32) {
    const int32_t v = static_cast<int32_t>(value);
    std::memcpy(fill, &v, 4);
  }
  for (int64_t i = 0; i < n; ++i) {
    int64_t rem = i, off = 0;
    bool outside = false;
    for (int d = r - 1; d >= 0; --d) {
      int64_t j = rem % y.dim(d) - p[d];
      rem /= y.dim(d);
      const int64_t len = x.dim(d);
      if (j < 0 || j >= len) {
        if (mode == "constant") {
          outside = true;
        } else if (mode == "edge") {
          j = j < 0 ? 0 : len - 1;
        } else {  // reflect
          const int64_t period = 2 * (len - 1);
          if (period == 0) {
            j = 0;
          } else {
            j = ((j % period) + period) % period;
            if (j >= len) j = period - j;
          }
        }
      }
      off += j * xs[d];
    }
    std::memcpy(y.bytes() + i * es, outside ? fill : x.bytes() + off * es,
                static_cast<size_t>(es));
  }
  return Status::Ok();
}

// ---------------------------------------------------------------- Tile, Expand
Status InferTile(InferContext& c) {
  bool g = false;
  LB_ASSIGN_OR_RETURN(std::vector<int64_t> rep, IntsFrom(c, 1, nullptr, &g));
  Shape out = c.in(0).shape;
  if (rep.size() != out.size())
    return c.Fail("repeats must have one value per dimension");
  for (size_t d = 0; d < out.size(); ++d) {
    if (rep[d] < 0) return c.Fail("negative repeat");
    if (rep[d] > kMaxDim || (out[d] > 0 && rep[d] > kMaxDim / out[d])) {
      return c.Fail("repeats are too large");
    }
    out[d] *= rep[d];
  }
  c.Set(0, c.in(0).dtype, out);
  return Status::Ok();
}

Status RunTileOrExpand(KernelContext& c) {
  // Both read in[i_d mod in_d] (Tile) or in[i_d if in_d > 1 else 0] (Expand,
  // after aligning ranks): one strided walk per output row.
  const Tensor& x = c.in(0);
  Tensor& y = c.out(0);
  const int r = y.rank();
  const int64_t es = ElementBytes(x.dtype());
  Shape xin(r, 1);
  for (int d = 0; d < x.rank(); ++d) xin[r - x.rank() + d] = x.dim(d);
  const std::vector<int64_t> xs = Strides(xin);
  const bool tile = c.node().op == "Tile";
  const int64_t n = y.numel();
  for (int64_t i = 0; i < n; ++i) {
    int64_t rem = i, off = 0;
    for (int d = r - 1; d >= 0; --d) {
      const int64_t j = rem % y.dim(d);
      rem /= y.dim(d);
      off += (tile ? j % xin[d] : (xin[d] == 1 ? 0 : j)) * xs[d];
    }
    std::memcpy(y.bytes() + i * es, x.bytes() + off * es,
                static_cast<size_t>(es));
  }
  return Status::Ok();
}

Status InferExpand(InferContext& c) {
  bool g = false;
  LB_ASSIGN_OR_RETURN(std::vector<int64_t> s, IntsFrom(c, 1, nullptr, &g));
  for (int64_t d : s) {
    if (d < 0 || d > kMaxDim)
      return c.Fail("shape " + ShapeString(s) + " is out of range");
  }
  const auto out = BroadcastShapes({c.in(0).shape, s});
  if (!out)
    return c.Fail("shape " + ShapeString(s) + " does not broadcast with " +
                  ShapeString(c.in(0).shape));
  c.Set(0, c.in(0).dtype, *out);
  return Status::Ok();
}

// ---------------------------------------------------------------- Gather
Status InferGather(InferContext& c) {
  const Shape& data = c.in(0).shape;
  const Shape& idx = c.in(1).shape;
  const int64_t axis =
      Axis(c.node().Int("axis", 0), static_cast<int64_t>(data.size()));
  if (axis < 0) return c.Fail("axis out of range");
  if (c.in(1).dtype != DType::kI64 && c.in(1).dtype != DType::kI32) {
    return c.Fail("indices must be int64 or int32");
  }
  Shape out(data.begin(), data.begin() + axis);
  out.insert(out.end(), idx.begin(), idx.end());
  out.insert(out.end(), data.begin() + axis + 1, data.end());
  c.Set(0, c.in(0).dtype, out);
  return Status::Ok();
}

Status RunGather(KernelContext& c) {
  const Tensor& x = c.in(0);
  const Tensor& idx = c.in(1);
  const int64_t axis = Axis(c.node().Int("axis", 0), x.rank());
  const int64_t es = ElementBytes(x.dtype());
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.dim(d);
  for (int64_t d = axis + 1; d < x.rank(); ++d) inner *= x.dim(d);
  const int64_t n = x.dim(static_cast<int>(axis)), k = idx.numel();
  uint8_t* out = c.out(0).bytes();
  for (int64_t i = 0; i < k; ++i) {
    int64_t j = idx.GetInt(i);
    if (j < 0) j += n;
    if (j < 0 || j >= n) {
      return c.Fail("index " + std::to_string(idx.GetInt(i)) +
                    " out of range for a dimension of " + std::to_string(n));
    }
  }
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < k; ++i) {
      int64_t j = idx.GetInt(i);
      if (j < 0) j += n;
      std::memcpy(out + ((o * k + i) * inner) * es,
                  x.bytes() + ((o * n + j) * inner) * es,
                  static_cast<size_t>(inner * es));
    }
  }
  return Status::Ok();
}

// ---------------------------------------------------------------- Shape etc.
Status InferShapeOp(InferContext& c) {
  const int64_t r = static_cast<int64_t>(c.in(0).shape.size());
  int64_t b = c.node().Int("start", 0), e = c.node().Int("end", r);
  if (b < 0) b += r;
  if (e < 0) e += r;
  b = std::clamp<int64_t>(b, 0, r);
  e = std::clamp<int64_t>(e, 0, r);
  c.Set(0, DType::kI64, {std::max<int64_t>(0, e - b)});
  return Status::Ok();
}

Status RunShapeOp(KernelContext& c) {
  const int64_t r = c.in(0).rank();
  int64_t b = c.node().Int("start", 0);
  if (b < 0) b += r;
  b = std::clamp<int64_t>(b, 0, r);
  for (int64_t i = 0; i < c.out(0).numel(); ++i) {
    c.out(0).data<int64_t>()[i] = c.in(0).dim(static_cast<int>(b + i));
  }
  return Status::Ok();
}

Status InferSize(InferContext& c) {
  c.Set(0, DType::kI64, {});
  return Status::Ok();
}

Status RunSize(KernelContext& c) {
  *c.out(0).data<int64_t>() = c.in(0).numel();
  return Status::Ok();
}

Status InferConstantOfShape(InferContext& c) {
  bool g = false;
  LB_ASSIGN_OR_RETURN(std::vector<int64_t> s, IntsFrom(c, 0, nullptr, &g));
  for (int64_t d : s) {
    if (d < 0) return c.Fail("negative dimension");
    if (d > kMaxDim)
      return c.Fail("dimension " + std::to_string(d) + " is too large");
  }
  const Attribute* v = c.node().Find("value");
  c.Set(0,
        v != nullptr && v->kind == Attribute::Kind::kTensor ? v->t.dtype()
                                                            : DType::kF32,
        s);
  return Status::Ok();
}

Status RunConstantOfShape(KernelContext& c) {
  Tensor& y = c.out(0);
  const Attribute* v = c.node().Find("value");
  const int64_t es = ElementBytes(y.dtype());
  uint8_t fill[16] = {};
  if (v != nullptr && v->kind == Attribute::Kind::kTensor && v->t.numel() > 0) {
    std::memcpy(fill, v->t.bytes(), static_cast<size_t>(es));
  }
  for (int64_t i = 0; i < y.numel(); ++i) {
    std::memcpy(y.bytes() + i * es, fill, static_cast<size_t>(es));
  }
  return Status::Ok();
}

Status InferRange(InferContext& c) {
  for (int k = 0; k < 3; ++k) {
    if (!c.in(k).known())
      return c.Fail("start, limit and delta must be known before running");
  }
  const double s = c.in(0).value->GetDouble(0), l = c.in(1).value->GetDouble(0),
               d = c.in(2).value->GetDouble(0);
  if (d == 0) return c.Fail("delta is 0");
  const int64_t n = static_cast<int64_t>(
      std::clamp(std::ceil((l - s) / d), 0.0, static_cast<double>(kMaxDim)));
  c.Set(0, c.in(0).dtype, {n});
  return Status::Ok();
}

Status RunRange(KernelContext& c) {
  const double s = c.in(0).GetDouble(0), d = c.in(2).GetDouble(0);
  Tensor& y = c.out(0);
  for (int64_t i = 0; i < y.numel(); ++i) {
    const double v = s + static_cast<double>(i) * d;
    switch (y.dtype()) {
      case DType::kF32:
        y.data<float>()[i] = static_cast<float>(v);
        break;
      case DType::kF64:
        y.data<double>()[i] = v;
        break;
      case DType::kI64:
        y.data<int64_t>()[i] = TruncateToInt<int64_t>(v);
        break;
      case DType::kI32:
        y.data<int32_t>()[i] = TruncateToInt<int32_t>(v);
        break;
      default:
        return c.Fail("unsupported type");
    }
  }
  return Status::Ok();
}

// Constant: the tensor of `value`, or value_float(s) / value_int(s).
Status CheckConstant(const Graph& g, const Node& n) {
  for (const char* a :
       {"value", "value_float", "value_floats", "value_int", "value_ints"}) {
    if (n.Find(a) != nullptr) return Status::Ok();
  }
  return InvalidArgument(g.NodeLabel(n) + ": no value attribute lowbit reads");
}

Tensor ConstantValue(const Node& n) {
  if (const Attribute* a = n.Find("value")) return a->t;
  if (const Attribute* a = n.Find("value_float")) return Tensor::Scalar(a->f);
  if (const Attribute* a = n.Find("value_int")) {
    Tensor t = Tensor::Zeros(DType::kI64, {});
    *t.data<int64_t>() = a->i;
    return t;
  }
  if (const Attribute* a = n.Find("value_ints")) return Tensor::Ints(a->ints);
  const Attribute* a = n.Find("value_floats");
  Tensor t =
      Tensor::Zeros(DType::kF32, {static_cast<int64_t>(a->floats.size())});
  std::copy(a->floats.begin(), a->floats.end(), t.data<float>());
  return t;
}

Status InferConstant(InferContext& c) {
  const Tensor t = ConstantValue(c.node());
  c.Set(0, t.dtype(), t.shape());
  return Status::Ok();
}

Status RunConstant(KernelContext& c) {
  const Tensor t = ConstantValue(c.node());
  std::memcpy(c.out(0).bytes(), t.bytes(), static_cast<size_t>(t.nbytes()));
  return Status::Ok();
}

OpSchema Op(const char* name, int min_in, int max_in,
            Status (*infer)(InferContext&), Status (*run)(KernelContext&),
            bool plan_time = true) {
  OpSchema s;
  s.name = name;
  s.min_inputs = min_in;
  s.max_inputs = max_in;
  s.infer = infer;
  s.run = run;
  s.plan_time = plan_time;
  return s;
}

}  // namespace

void AddShapeOps(std::vector<OpSchema>& t) {
  for (OpSchema s : {Op("Reshape", 1, 2, InferReshape, Copy),
                     Op("Flatten", 1, 1, InferFlatten, Copy),
                     Op("Squeeze", 1, 2, InferSqueeze, Copy),
                     Op("Unsqueeze", 1, 2, InferUnsqueeze, Copy)}) {
    s.alias = true;
    t.push_back(s);
  }
  t.push_back(Op("Transpose", 1, 1, InferTranspose, RunTranspose));
  t.push_back(Op("Concat", 1, 1 << 20, InferConcat, RunConcat));
  OpSchema split = Op("Split", 1, 2, InferSplit, RunSplit);
  split.max_outputs = 1 << 20;
  t.push_back(split);
  t.push_back(Op("Slice", 1, 5, InferSlice, RunSlice));
  OpSchema pad = Op("Pad", 1, 4, InferPad, RunPad);
  pad.check = CheckPad;
  t.push_back(pad);
  t.push_back(Op("Tile", 2, 2, InferTile, RunTileOrExpand));
  t.push_back(Op("Expand", 2, 2, InferExpand, RunTileOrExpand));
  t.push_back(Op("Gather", 2, 2, InferGather, RunGather));
  OpSchema shape = Op("Shape", 1, 1, InferShapeOp, RunShapeOp);
  shape.shape_only = true;
  t.push_back(shape);
  OpSchema size = Op("Size", 1, 1, InferSize, RunSize);
  size.shape_only = true;
  t.push_back(size);
  t.push_back(
      Op("ConstantOfShape", 1, 1, InferConstantOfShape, RunConstantOfShape));
  t.push_back(Op("Range", 3, 3, InferRange, RunRange));
  OpSchema k = Op("Constant", 0, 0, InferConstant, RunConstant);
  k.check = CheckConstant;
  t.push_back(k);
}

}  // namespace lowbit::graph
