// Resize (opset 10 to 19+) and Upsample (7 to 9): nearest (any element type),
// linear and cubic (f32) N-D interpolation, separable per axis: each axis maps
// an output index to a few input taps and weights, computed once per run.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <string>
#include <utility>

#include "graph/ops/families.h"
#include "graph/ops/resize_taps.h"

namespace lowbit::graph {
namespace {

constexpr int kMaxRank = 8;

enum class Mode { kNearest, kLinear, kCubic };
enum class Coord {
  kHalfPixel,
  kHalfPixelSymmetric,
  kPytorchHalfPixel,
  kAlignCorners,
  kAsymmetric,
  kTfHalfPixelForNearest,
  kTfCropAndResize
};
// kSimple: Upsample and Resize-10 (floor when enlarging, ceil when shrinking).
enum class Nearest {
  kRoundPreferFloor,
  kRoundPreferCeil,
  kFloor,
  kCeil,
  kSimple
};
enum class Policy { kStretch, kNotLarger, kNotSmaller };

struct Attrs {
  Mode mode = Mode::kNearest;
  bool bilinear = false;  // "bilinear": 4-D, N and C not resized
  Coord coord = Coord::kHalfPixel;
  Nearest nearest = Nearest::kRoundPreferFloor;
  Policy policy = Policy::kStretch;
  float cubic_a = -0.75f;
  bool exclude_outside = false;
  float extrapolation = 0.0f;
};

// Upsample and Resize-10: scales only, asymmetric coordinates.
bool Legacy(const Node& n, int opset) {
  return n.op == "Upsample" || opset < 11;
}

template <typename E>
bool Lookup(const std::string& s,
            std::initializer_list<std::pair<const char*, E>> table, E* out) {
  for (const auto& [name, e] : table) {
    if (s == name) {
      *out = e;
      return true;
    }
  }
  return false;
}

// The attributes; an error message or "".
std::string ParseAttrs(const Node& n, int opset, Attrs* a) {
  const bool legacy = Legacy(n, opset);
  const std::string mode = n.String("mode", "nearest");
  if (!Lookup<Mode>(mode,
                    {{"nearest", Mode::kNearest},
                     {"linear", Mode::kLinear},
                     {"bilinear", Mode::kLinear},
                     {"cubic", Mode::kCubic}},
                    &a->mode) ||
      (legacy && a->mode == Mode::kCubic)) {
    return "unknown mode '" + mode + "' (nearest, linear" +
           (legacy ? std::string(")") : std::string(", cubic)"));
  }
  a->bilinear = mode == "bilinear";
  if (legacy) {
    a->coord = Coord::kAsymmetric;
    a->nearest = Nearest::kSimple;
    return "";
  }
  const std::string coord =
      n.String("coordinate_transformation_mode", "half_pixel");
  if (!Lookup<Coord>(
          coord,
          {{"half_pixel", Coord::kHalfPixel},
           {"half_pixel_symmetric", Coord::kHalfPixelSymmetric},
           {"pytorch_half_pixel", Coord::kPytorchHalfPixel},
           {"align_corners", Coord::kAlignCorners},
           {"asymmetric", Coord::kAsymmetric},
           {"tf_half_pixel_for_nearest", Coord::kTfHalfPixelForNearest},
           {"tf_crop_and_resize", Coord::kTfCropAndResize}},
          &a->coord)) {
    return "unknown coordinate_transformation_mode '" + coord + "'";
  }
  const std::string nearest = n.String("nearest_mode", "round_prefer_floor");
  if (!Lookup<Nearest>(nearest,
                       {{"round_prefer_floor", Nearest::kRoundPreferFloor},
                        {"round_prefer_ceil", Nearest::kRoundPreferCeil},
                        {"floor", Nearest::kFloor},
                        {"ceil", Nearest::kCeil}},
                       &a->nearest)) {
    return "unknown nearest_mode '" + nearest + "'";
  }
  const std::string policy = n.String("keep_aspect_ratio_policy", "stretch");
  if (!Lookup<Policy>(policy,
                      {{"stretch", Policy::kStretch},
                       {"not_larger", Policy::kNotLarger},
                       {"not_smaller", Policy::kNotSmaller}},
                      &a->policy)) {
    return "unknown keep_aspect_ratio_policy '" + policy + "'";
  }
  const int64_t exclude = n.Int("exclude_outside", 0);
  if (exclude != 0 && exclude != 1) return "exclude_outside must be 0 or 1";
  a->exclude_outside = exclude == 1;
  if (n.Int("antialias", 0) != 0) return "antialias = 1 is not supported";
  a->cubic_a = n.Float("cubic_coeff_a", -0.75f);
  a->extrapolation = n.Float("extrapolation_value", 0.0f);
  return "";
}

Status ResizeCheck(const Graph& g, const Node& n) {
  Attrs a;
  const std::string err = ParseAttrs(n, g.opset(), &a);
  if (!err.empty()) return InvalidArgument(g.NodeLabel(n) + ": " + err);
  if (n.op == "Upsample") {
    if (g.opset() < 7) {
      return InvalidArgument(g.NodeLabel(n) +
                             ": Upsample before opset 7 is not supported");
    }
    if (g.opset() < 9) {
      const Attribute* s = n.Find("scales");
      if (s == nullptr || s->kind != Attribute::Kind::kFloats) {
        return InvalidArgument(g.NodeLabel(n) +
                               ": attribute scales (floats) is required");
      }
      for (float v : s->floats) {
        if (!(v >= 1.0f)) {
          return InvalidArgument(g.NodeLabel(n) + ": scales must be >= 1");
        }
      }
    } else if (!n.Has(1)) {
      return InvalidArgument(g.NodeLabel(n) + ": input scales is required");
    }
  } else if (g.opset() < 11 && !n.Has(1)) {
    return InvalidArgument(g.NodeLabel(n) + ": input scales is required");
  }
  return Status::Ok();
}

// What a run needs: the attributes, the output shape, and per axis the scale
// and the region of interest (tf_crop_and_resize).
struct Params {
  Attrs a;
  Shape out;
  std::vector<double> scale, roi_start, roi_end;
};

// From the node and the known inputs (null: absent). Error message or "".
std::string MakeParams(const Node& n, int opset, const Shape& x,
                       const Tensor* roi, const Tensor* scales,
                       const Tensor* sizes, Params* p) {
  const std::string err = ParseAttrs(n, opset, &p->a);
  if (!err.empty()) return err;
  const int r = static_cast<int>(x.size());
  if (r == 0 || r > kMaxRank) {
    return "X has shape " + ShapeString(x) + "; 1 to " +
           std::to_string(kMaxRank) + " dimensions are supported";
  }
  // The axes that scales, sizes and roi refer to.
  std::vector<int> axes;
  const std::vector<int64_t> given = n.Ints("axes");
  if (given.empty() || Legacy(n, opset)) {
    for (int i = 0; i < r; ++i) axes.push_back(i);
  } else {
    std::vector<char> seen(static_cast<size_t>(r), 0);
    for (int64_t v : given) {
      if (v < -r || v >= r) {
        return "axis " + std::to_string(v) + " is out of range for " +
               std::to_string(r) + "-D X";
      }
      const int k = static_cast<int>(v < 0 ? v + r : v);
      if (seen[k]) return "axis " + std::to_string(v) + " is repeated";
      seen[k] = 1;
      axes.push_back(k);
    }
  }
  const int na = static_cast<int>(axes.size());
  p->scale.assign(static_cast<size_t>(r), 1.0);
  p->roi_start.assign(static_cast<size_t>(r), 0.0);
  p->roi_end.assign(static_cast<size_t>(r), 1.0);
  p->out = x;
  const bool has_scales = scales != nullptr && scales->numel() > 0;
  const bool has_sizes = sizes != nullptr && sizes->numel() > 0;
  if (has_scales == has_sizes) {
    return has_scales ? "scales and sizes are both given; give one"
                      : "one of scales and sizes must be given";
  }
  const Tensor* t = has_scales ? scales : sizes;
  if (t->numel() != na) {
    return std::string(has_scales ? "scales" : "sizes") + " has " +
           std::to_string(t->numel()) + " values; expected " +
           std::to_string(na);
  }
  if (has_scales) {
    for (int j = 0; j < na; ++j) {
      const float s = static_cast<float>(scales->GetDouble(j));
      if (!(s > 0.0f)) return "scales must be positive";
      const int k = axes[j];
      const float o = std::floor(static_cast<float>(x[k]) * s);
      if (!(o < 4.0e9f)) return "scales give an output dimension too large";
      p->scale[k] = s;
      p->out[k] = static_cast<int64_t>(o);
    }
  } else {
    double common = p->a.policy == Policy::kNotLarger ? 1e300 : 0.0;
    for (int j = 0; j < na; ++j) {
      const int64_t v = sizes->GetInt(j);
      const int k = axes[j];
      if (v < 0 || v > (int64_t{1} << 32)) {
        return "sizes must be in [0, 2^32]";
      }
      if (x[k] == 0 && v > 0) {
        return "cannot resize the empty axis " + std::to_string(k) +
               " to size " + std::to_string(v);
      }
      const double s = x[k] > 0 ? static_cast<double>(v) / x[k] : 1.0;
      p->out[k] = v;
      p->scale[k] = s;
      common = p->a.policy == Policy::kNotLarger ? std::min(common, s)
                                                 : std::max(common, s);
    }
    if (p->a.policy != Policy::kStretch) {
      for (int k : axes) {
        p->scale[k] = common;
        p->out[k] = static_cast<int64_t>(std::floor(common * x[k] + 0.5));
      }
    }
  }
  for (int k = 0; k < r; ++k) {
    if (x[k] == 0 && p->out[k] > 0) return "cannot resize an empty axis";
  }
  if (p->a.bilinear && (r != 4 || p->out[0] != x[0] || p->out[1] != x[1])) {
    return "mode bilinear needs 4-D X with N and C not resized";
  }
  if (p->a.coord == Coord::kTfCropAndResize) {
    if (roi == nullptr || roi->numel() != 2 * na) {
      return "tf_crop_and_resize needs roi with " + std::to_string(2 * na) +
             " values";
    }
    for (int j = 0; j < na; ++j) {
      p->roi_start[axes[j]] = roi->GetDouble(j);
      p->roi_end[axes[j]] = roi->GetDouble(na + j);
    }
  }
  return "";
}

// Upsample before opset 9 takes its scales as an attribute: into *t (true),
// or false for every other form.
bool AttributeScales(const Node& n, int opset, Tensor* t) {
  if (n.op != "Upsample" || opset >= 9) return false;
  const Attribute* s = n.Find("scales");
  if (s == nullptr) return false;
  *t = Tensor::Zeros(DType::kF32, {static_cast<int64_t>(s->floats.size())});
  std::copy(s->floats.begin(), s->floats.end(), t->data<float>());
  return true;
}

// Inputs 1.. of the node as (roi, scales, sizes) tensors, from getters.
template <typename Get>
void Inputs(const Node& n, int opset, Get get, const Tensor** roi,
            const Tensor** scales, const Tensor** sizes) {
  *roi = *scales = *sizes = nullptr;
  if (Legacy(n, opset)) {
    *scales = get(1);
  } else {
    *roi = get(1);
    *scales = get(2);
    *sizes = get(3);
  }
}

Status ResizeInfer(InferContext& c) {
  const Node& n = c.node();
  const char* names[] = {"X", "roi", "scales", "sizes"};
  Attrs a;
  const std::string attr_err = ParseAttrs(n, c.opset(), &a);
  if (!attr_err.empty()) return c.Fail(attr_err);
  // roi matters to tf_crop_and_resize only.
  const bool legacy = Legacy(n, c.opset());
  const bool need_roi = a.coord == Coord::kTfCropAndResize;
  std::string missing;
  auto get = [&](int k) -> const Tensor* {
    if (!c.has(k) || (!legacy && k == 1 && !need_roi)) return nullptr;
    if (!c.in(k).known()) {
      if (missing.empty()) missing = legacy ? "scales" : names[k];
      return nullptr;
    }
    return c.in(k).value;
  };
  const Tensor *roi, *scales, *sizes;
  Inputs(n, c.opset(), get, &roi, &scales, &sizes);
  if (!missing.empty()) {
    return c.Fail(missing + " (input) must be known before running");
  }
  Tensor attr_scales;
  if (AttributeScales(n, c.opset(), &attr_scales)) scales = &attr_scales;
  Params p;
  const std::string err =
      MakeParams(n, c.opset(), c.in(0).shape, roi, scales, sizes, &p);
  if (!err.empty()) return c.Fail(err);
  const DType t = c.in(0).dtype;
  const bool needs_float =
      p.a.mode != Mode::kNearest || p.a.coord == Coord::kTfCropAndResize;
  if (needs_float ? t != DType::kF32
                  : (DTypeBits(t) % 8 != 0 || ElementBytes(t) > 8 ||
                     (ElementBytes(t) & (ElementBytes(t) - 1)) != 0)) {
    return c.Fail("X is " + std::string(DTypeName(t)) + "; this mode needs " +
                  (needs_float ? "f32" : "a whole-byte element type"));
  }
  c.Set(0, t, p.out);
  return Status::Ok();
}

// ---- The taps of one axis ------------------------------------------------

struct AxisMap {
  int taps = 1;
  bool identity = false;  // output o reads input o alone
  bool any_outside = false;
  std::vector<int64_t> idx;      // [out * taps], clamped into the input
  std::vector<float> w;          // [out * taps]
  std::vector<uint8_t> outside;  // [out]: extrapolation_value
};

double Original(const Params& p, int axis, int64_t o, int64_t in, int64_t out) {
  const double s = p.scale[axis];
  const double x = static_cast<double>(o);
  switch (p.a.coord) {
    case Coord::kHalfPixel:
      return (x + 0.5) / s - 0.5;
    case Coord::kHalfPixelSymmetric: {
      const double adjust = static_cast<double>(out) / (s * in);
      const double offset = in * 0.5 * (1.0 - adjust);
      return offset + (x + 0.5) / s - 0.5;
    }
    case Coord::kPytorchHalfPixel:
      return out > 1 ? (x + 0.5) / s - 0.5 : 0.0;
    case Coord::kAlignCorners:
      return out > 1 ? x * static_cast<double>(in - 1) / (out - 1) : 0.0;
    case Coord::kAsymmetric:
      return x / s;
    case Coord::kTfHalfPixelForNearest:
      return (x + 0.5) / s;
    case Coord::kTfCropAndResize: {
      const double a = p.roi_start[axis], b = p.roi_end[axis];
      return out > 1 ? a * (in - 1) + x * (b - a) * (in - 1) / (out - 1)
                     : 0.5 * (a + b) * (in - 1);
    }
  }
  return x;
}

int64_t NearestIndex(Nearest m, double x, double scale) {
  const double f = std::floor(x);
  const double frac = x - f;
  switch (m) {
    case Nearest::kRoundPreferFloor:
      return static_cast<int64_t>(frac <= 0.5 ? f : f + 1);
    case Nearest::kRoundPreferCeil:
      return static_cast<int64_t>(frac < 0.5 ? f : f + 1);
    case Nearest::kFloor:
      return static_cast<int64_t>(f);
    case Nearest::kCeil:
      return static_cast<int64_t>(std::ceil(x));
    case Nearest::kSimple:
      return static_cast<int64_t>(scale < 1.0 ? std::ceil(x) : f);
  }
  return 0;
}

void CubicWeights(double r, double a, double* c) {
  const double t0 = r + 1, t1 = r, t2 = 1 - r, t3 = 2 - r;
  c[0] = ((a * t0 - 5 * a) * t0 + 8 * a) * t0 - 4 * a;
  c[1] = ((a + 2) * t1 - (a + 3)) * t1 * t1 + 1;
  c[2] = ((a + 2) * t2 - (a + 3)) * t2 * t2 + 1;
  c[3] = ((a * t3 - 5 * a) * t3 + 8 * a) * t3 - 4 * a;
}

void BuildAxis(const Params& p, int axis, int64_t in, int64_t out, AxisMap* m) {
  const Attrs& a = p.a;
  m->taps = a.mode == Mode::kNearest ? 1 : (a.mode == Mode::kLinear ? 2 : 4);
  const int t = m->taps;
  m->idx.assign(static_cast<size_t>(out * t), 0);
  m->w.assign(static_cast<size_t>(out * t), 0.0f);
  m->outside.assign(static_cast<size_t>(out), 0);
  m->any_outside = false;
  bool identity = in == out;
  for (int64_t o = 0; o < out; ++o) {
    const double x = Original(p, axis, o, in, out);
    if (a.coord == Coord::kTfCropAndResize && (x < 0 || x > in - 1)) {
      m->outside[o] = 1;
      m->any_outside = true;
    }
    int64_t* idx = &m->idx[o * t];
    float* w = &m->w[o * t];
    if (a.mode == Mode::kNearest) {
      idx[0] = std::clamp<int64_t>(NearestIndex(a.nearest, x, p.scale[axis]), 0,
                                   in - 1);
      w[0] = 1.0f;
    } else {
      const double f = std::floor(x);
      const double r = x - f;
      double c[4];
      int64_t first;
      if (t == 2) {
        c[0] = 1.0 - r;
        c[1] = r;
        first = static_cast<int64_t>(f);
      } else {
        CubicWeights(r, a.cubic_a, c);
        first = static_cast<int64_t>(f) - 1;
      }
      double sum = 0.0;
      for (int k = 0; k < t; ++k) {
        const int64_t i = first + k;
        if (a.exclude_outside && (i < 0 || i >= in)) c[k] = 0.0;
        sum += c[k];
      }
      for (int k = 0; k < t; ++k) {
        idx[k] = std::clamp<int64_t>(first + k, 0, in - 1);
        w[k] = static_cast<float>(a.exclude_outside && sum != 0.0 ? c[k] / sum
                                                                  : c[k]);
      }
    }
    for (int k = 0; k < t; ++k) {
      if (w[k] != 0.0f && (idx[k] != o || w[k] != 1.0f)) identity = false;
    }
    if (m->outside[o]) identity = false;
  }
  m->identity = identity;
}

// ---- Nearest: a gather ----------------------------------------------------

template <typename T>
void NearestRun(const Tensor& x, const Params& p,
                const std::vector<AxisMap>& maps, Tensor& y, ThreadPool& pool) {
  const int r = x.rank();
  const int last = r - 1;
  std::array<int64_t, kMaxRank> stride{};
  stride[last] = 1;
  for (int d = last - 1; d >= 0; --d) stride[d] = stride[d + 1] * x.dim(d + 1);
  const int64_t w_out = p.out[last], w_in = x.dim(last);
  const int64_t rows = y.numel() / std::max<int64_t>(1, w_out);
  const T* px = x.data<T>();
  T* py = y.data<T>();
  const AxisMap& lm = maps[last];
  const T extrap = static_cast<T>(p.a.extrapolation);
  pool.ParallelFor(
      rows, std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(1, w_out)),
      [&](int64_t r0, int64_t r1) {
        std::array<int64_t, kMaxRank> coord{};
        for (int64_t rest = r0, d = last - 1; d >= 0; --d) {
          coord[d] = rest % p.out[d];
          rest /= p.out[d];
        }
        int64_t prev = -1;
        bool prev_outside = false;
        for (int64_t row = r0; row < r1; ++row) {
          int64_t off = 0;
          bool outside = false;
          for (int d = 0; d < last; ++d) {
            off += maps[d].idx[coord[d]] * stride[d];
            outside = outside || maps[d].outside[coord[d]];
          }
          T* yr = py + row * w_out;
          if (outside) {
            std::fill(yr, yr + w_out, extrap);
          } else if (row > r0 && off == prev && !prev_outside) {
            std::memcpy(yr, yr - w_out, static_cast<size_t>(w_out) * sizeof(T));
          } else if (lm.identity) {
            std::memcpy(yr, px + off, static_cast<size_t>(w_in) * sizeof(T));
          } else {
            const T* xr = px + off;
            const int64_t* idx = lm.idx.data();
            for (int64_t j = 0; j < w_out; ++j) yr[j] = xr[idx[j]];
            if (lm.any_outside) {
              for (int64_t j = 0; j < w_out; ++j) {
                if (lm.outside[j]) yr[j] = extrap;
              }
            }
          }
          prev = off;
          prev_outside = outside;
          for (int d = last - 1; d >= 0; --d) {
            if (++coord[d] < p.out[d]) break;
            coord[d] = 0;
          }
        }
      });
}

// ---- Linear and cubic: weighted sums of taps -----------------------------

// One output row: the input rows of the (offset, weight) pairs of the outer
// axes are blended first (contiguous, into `tmp` of w_in floats, or read in
// place when one row has weight 1), then interpolated along the last axis.
// kTaps 0: the last axis is identity.
template <int kTaps>
void InterpRow(const float* px, const int64_t* offs, const float* wts,
               int64_t pairs, const AxisMap& lm, int64_t w_in, int64_t w_out,
               float* tmp, float* yr) {
  int64_t used = 0, single = 0;
  for (int64_t q = 0; q < pairs; ++q) {
    if (wts[q] != 0.0f) {
      ++used;
      single = q;
    }
  }
  const float* src;
  if (used == 1 && wts[single] == 1.0f) {
    src = px + offs[single];
    if constexpr (kTaps == 0) {
      std::memcpy(yr, src, static_cast<size_t>(w_out) * sizeof(float));
      return;
    }
  } else {
    float* dst = kTaps == 0 ? yr : tmp;
    bool first = true;
    for (int64_t q = 0; q < pairs; ++q) {
      const float wq = wts[q];
      if (wq == 0.0f) continue;
      const float* xr = px + offs[q];
      if (first) {
        for (int64_t i = 0; i < w_in; ++i) dst[i] = wq * xr[i];
      } else {
        for (int64_t i = 0; i < w_in; ++i) dst[i] += wq * xr[i];
      }
      first = false;
    }
    if (first) std::fill(dst, dst + w_in, 0.0f);
    if constexpr (kTaps == 0) return;
    src = tmp;
  }
  const int64_t* idx = lm.idx.data();
  const float* w = lm.w.data();
  for (int64_t j = 0; j < w_out; ++j) {
    float s = 0.0f;
    for (int k = 0; k < kTaps; ++k) {
      s += w[j * kTaps + k] * src[idx[j * kTaps + k]];
    }
    yr[j] = s;
  }
}

void InterpRun(const Tensor& x, const Params& p,
               const std::vector<AxisMap>& maps, Tensor& y, ThreadPool& pool,
               Workspace& ws) {
  const int r = x.rank();
  const int last = r - 1;
  std::array<int64_t, kMaxRank> stride{};
  stride[last] = 1;
  for (int d = last - 1; d >= 0; --d) stride[d] = stride[d + 1] * x.dim(d + 1);
  // Outer axes with several taps; the others contribute one offset.
  std::vector<int> active;
  int64_t pairs = 1;
  for (int d = 0; d < last; ++d) {
    if (!maps[d].identity && maps[d].taps > 1) {
      active.push_back(d);
      pairs *= maps[d].taps;
    }
  }
  const int64_t w_out = p.out[last];
  const int64_t rows = y.numel() / std::max<int64_t>(1, w_out);
  const AxisMap& lm = maps[last];
  const int taps = lm.identity ? 0 : lm.taps;
  Workspace::Scope scope(ws);
  const int threads = pool.num_threads();
  int64_t* all_offs = ws.Take<int64_t>(pairs * threads);
  float* all_wts = ws.Take<float>(pairs * threads);
  const int64_t w_in = x.dim(last);
  float* all_tmp = ws.Take<float>(w_in * threads);
  const float* px = x.data<float>();
  float* py = y.data<float>();
  const float extrap = p.a.extrapolation;
  const int64_t per_row = w_in * pairs + w_out * std::max(1, taps);
  pool.ParallelForSlots(
      rows, std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(1, per_row)),
      [&](int64_t r0, int64_t r1, int slot) {
        int64_t* offs = all_offs + pairs * slot;
        float* wts = all_wts + pairs * slot;
        float* tmp = all_tmp + w_in * slot;
        std::array<int64_t, kMaxRank> coord{};
        for (int64_t rest = r0, d = last - 1; d >= 0; --d) {
          coord[d] = rest % p.out[d];
          rest /= p.out[d];
        }
        for (int64_t row = r0; row < r1; ++row) {
          int64_t base = 0;
          bool outside = false;
          for (int d = 0; d < last; ++d) {
            const AxisMap& m = maps[d];
            outside = outside || m.outside[coord[d]];
            if (m.identity) {
              base += coord[d] * stride[d];
            } else if (m.taps == 1) {
              base += m.idx[coord[d]] * stride[d];
            }
          }
          float* yr = py + row * w_out;
          if (outside) {
            std::fill(yr, yr + w_out, extrap);
          } else {
            // Expand the pairs axis by axis, in place from the back.
            int64_t n = 1;
            offs[0] = base;
            wts[0] = 1.0f;
            for (int d : active) {
              const AxisMap& m = maps[d];
              const int t = m.taps;
              const int64_t* idx = &m.idx[coord[d] * t];
              const float* w = &m.w[coord[d] * t];
              for (int64_t q = n - 1; q >= 0; --q) {
                const int64_t o = offs[q];
                const float wq = wts[q];
                for (int k = t - 1; k >= 0; --k) {
                  offs[q * t + k] = o + idx[k] * stride[d];
                  wts[q * t + k] = wq * w[k];
                }
              }
              n *= t;
            }
            switch (taps) {
              case 0:
                InterpRow<0>(px, offs, wts, n, lm, w_in, w_out, tmp, yr);
                break;
              case 2:
                InterpRow<2>(px, offs, wts, n, lm, w_in, w_out, tmp, yr);
                break;
              case 4:
                InterpRow<4>(px, offs, wts, n, lm, w_in, w_out, tmp, yr);
                break;
              default:
                InterpRow<1>(px, offs, wts, n, lm, w_in, w_out, tmp, yr);
                break;
            }
            if (lm.any_outside) {
              for (int64_t j = 0; j < w_out; ++j) {
                if (lm.outside[j]) yr[j] = extrap;
              }
            }
          }
          for (int d = last - 1; d >= 0; --d) {
            if (++coord[d] < p.out[d]) break;
            coord[d] = 0;
          }
        }
      });
}

Status ResizeRun(KernelContext& c) {
  const Node& n = c.node();
  auto get = [&](int k) -> const Tensor* {
    return c.has(k) ? &c.in(k) : nullptr;
  };
  const Tensor *roi, *scales, *sizes;
  Inputs(n, c.opset(), get, &roi, &scales, &sizes);
  Tensor attr_scales;
  if (AttributeScales(n, c.opset(), &attr_scales)) scales = &attr_scales;
  const Tensor& x = c.in(0);
  Params p;
  const std::string err =
      MakeParams(n, c.opset(), x.shape(), roi, scales, sizes, &p);
  if (!err.empty()) return c.Fail(err);
  Tensor& y = c.out(0);
  if (y.numel() == 0) return Status::Ok();
  const int r = x.rank();
  std::vector<AxisMap> maps(static_cast<size_t>(r));
  for (int d = 0; d < r; ++d) BuildAxis(p, d, x.dim(d), p.out[d], &maps[d]);
  if (p.a.mode != Mode::kNearest) {
    InterpRun(x, p, maps, y, c.pool(), c.ws());
    return Status::Ok();
  }
  switch (ElementBytes(x.dtype())) {
    case 1:
      NearestRun<uint8_t>(x, p, maps, y, c.pool());
      break;
    case 2:
      NearestRun<uint16_t>(x, p, maps, y, c.pool());
      break;
    case 8:
      NearestRun<uint64_t>(x, p, maps, y, c.pool());
      break;
    default:
      if (x.dtype() == DType::kF32) {
        NearestRun<float>(x, p, maps, y, c.pool());
      } else {
        NearestRun<uint32_t>(x, p, maps, y, c.pool());
      }
      break;
  }
  return Status::Ok();
}

}  // namespace

std::string ResizeAxisTaps(const Node& n, int opset, const Tensor& x,
                           const std::function<const Tensor*(int)>& get,
                           std::vector<ResizeTaps>* taps, Shape* out) {
  const Tensor *roi, *scales, *sizes;
  Inputs(n, opset, get, &roi, &scales, &sizes);
  Tensor attr_scales;
  if (AttributeScales(n, opset, &attr_scales)) scales = &attr_scales;
  Params p;
  const std::string err =
      MakeParams(n, opset, x.shape(), roi, scales, sizes, &p);
  if (!err.empty()) return err;
  taps->assign(static_cast<size_t>(x.rank()), ResizeTaps{});
  for (int d = 0; d < x.rank(); ++d) {
    AxisMap m;
    BuildAxis(p, d, x.dim(d), p.out[d], &m);
    (*taps)[d].taps = m.taps;
    (*taps)[d].idx = std::move(m.idx);
    (*taps)[d].w = std::move(m.w);
    (*taps)[d].outside = std::move(m.outside);
  }
  *out = p.out;
  return "";
}

void AddResizeOps(std::vector<OpSchema>& t) {
  OpSchema s;
  s.name = "Resize";
  s.min_inputs = 1;
  s.max_inputs = 4;
  s.check = ResizeCheck;
  s.infer = ResizeInfer;
  s.run = ResizeRun;
  s.plan_time = false;
  t.push_back(s);
  s.name = "Upsample";
  s.max_inputs = 2;
  t.push_back(s);
}

}  // namespace lowbit::graph
