// Reductions: ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd,
// ReduceL1, ReduceL2, ReduceSumSquare (axes as an attribute, or as input 1
// from opset 13 for ReduceSum and 18 for the others), ArgMax and ArgMin; on
// f32, int64 and int32.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

#include "graph/ops/families.h"

namespace lowbit::graph {
namespace {

constexpr int64_t kChunkElements = 1 << 15;

int64_t Grain(int64_t per_item) {
  return std::max<int64_t>(1, kChunkElements / std::max<int64_t>(1, per_item));
}

enum class Kind { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kSumSquare };

Kind KindOf(const std::string& op) {
  if (op == "ReduceMean") return Kind::kMean;
  if (op == "ReduceMax") return Kind::kMax;
  if (op == "ReduceMin") return Kind::kMin;
  if (op == "ReduceProd") return Kind::kProd;
  if (op == "ReduceL1") return Kind::kL1;
  if (op == "ReduceL2") return Kind::kL2;
  if (op == "ReduceSumSquare") return Kind::kSumSquare;
  return Kind::kSum;
}

// The first opset that gives axes as input 1 instead of an attribute.
int AxesInputOpset(const std::string& op) {
  return op == "ReduceSum" ? 13 : 18;
}

bool SupportedType(DType t) {
  return t == DType::kF32 || t == DType::kI64 || t == DType::kI32;
}

Status ReduceCheck(const Graph& g, const Node& n) {
  const int first = AxesInputOpset(n.op);
  if (n.Has(1) && g.opset() < first) {
    return InvalidArgument(g.NodeLabel(n) + ": axes as an input needs opset " +
                           std::to_string(first) + " or later (the model has " +
                           std::to_string(g.opset()) +
                           "); give the axes attribute");
  }
  if (n.Has(1) && n.Find("axes") != nullptr) {
    return InvalidArgument(g.NodeLabel(n) +
                           ": axes given both as an attribute and an input");
  }
  const int64_t keep = n.Int("keepdims", 1);
  const int64_t noop = n.Int("noop_with_empty_axes", 0);
  if ((keep != 0 && keep != 1) || (noop != 0 && noop != 1)) {
    return InvalidArgument(
        g.NodeLabel(n) + ": keepdims and noop_with_empty_axes must be 0 or 1");
  }
  return Status::Ok();
}

// The reduction of a plan: which axes (a flag per input axis; none set means
// the output is the input), and the output shape.
struct ReducePlan {
  std::vector<char> reduced;
  Shape out;
  bool noop = false;
};

// From the node and the axes tensor (null: none given). Returns an error
// message or "".
std::string MakePlan(const Node& n, const Shape& x, const Tensor* axes_in,
                     ReducePlan* p) {
  const int r = static_cast<int>(x.size());
  std::vector<int64_t> axes;
  if (axes_in != nullptr) {
    for (int64_t i = 0; i < axes_in->numel(); ++i) {
      axes.push_back(axes_in->GetInt(i));
    }
  } else {
    axes = n.Ints("axes");
  }
  p->reduced.assign(static_cast<size_t>(r), 0);
  p->noop = false;
  if (axes.empty()) {
    if (n.Int("noop_with_empty_axes", 0) == 1) {
      p->noop = true;
      p->out = x;
      return "";
    }
    std::fill(p->reduced.begin(), p->reduced.end(), 1);
  }
  for (int64_t a : axes) {
    if (a < -r || a >= r) {
      return "axis " + std::to_string(a) + " is out of range for " +
             std::to_string(r) + "-D input";
    }
    const int64_t k = a < 0 ? a + r : a;
    if (p->reduced[k]) return "axis " + std::to_string(a) + " is repeated";
    p->reduced[k] = 1;
  }
  const bool keep = n.Int("keepdims", 1) != 0;
  p->out.clear();
  for (int i = 0; i < r; ++i) {
    if (!p->reduced[i]) {
      p->out.push_back(x[i]);
    } else if (keep) {
      p->out.push_back(1);
    }
  }
  return "";
}

Status ReduceInfer(InferContext& c) {
  const DType t = c.in(0).dtype;
  if (!SupportedType(t)) {
    return c.Fail("data must be f32, int64 or int32, not " +
                  std::string(DTypeName(t)));
  }
  const Tensor* axes = nullptr;
  if (c.has(1)) {
    if (!c.in(1).known()) {
      return c.Fail("axes (input 1) must be known before running");
    }
    axes = c.in(1).value;
  }
  ReducePlan p;
  const std::string err = MakePlan(c.node(), c.in(0).shape, axes, &p);
  if (!err.empty()) return c.Fail(err);
  c.Set(0, t, p.out);
  return Status::Ok();
}

// Max and min of floats through integers ordered like the floats (NaN above
// +inf when positive), so that loops vectorize: float comparisons may trap,
// which keeps GCC from if-converting them.
inline int32_t OrderKey(float x) {
  const int32_t b = std::bit_cast<int32_t>(x);
  return b ^ ((b >> 31) & 0x7fffffff);
}
inline float FromKey(int32_t k) {
  return std::bit_cast<float>(k ^ ((k >> 31) & 0x7fffffff));
}
template <typename T>
inline T Larger(T a, T b) {
  if constexpr (std::is_same_v<T, float>) {
    const int32_t ka = OrderKey(a), kb = OrderKey(b);
    return FromKey(ka > kb ? ka : kb);
  } else {
    return b > a ? b : a;
  }
}
template <typename T>
inline T Smaller(T a, T b) {
  if constexpr (std::is_same_v<T, float>) {
    const int32_t ka = OrderKey(a), kb = OrderKey(b);
    return FromKey(ka < kb ? ka : kb);
  } else {
    return b < a ? b : a;
  }
}

// The operations of one reduction on element type T: `step` folds an input
// value into an accumulator, `merge` two accumulators, `finish` turns the
// accumulator of `count` values into the output.
template <typename T, Kind K>
struct Ops {
  static T Init() {
    if constexpr (K == Kind::kProd) return T(1);
    if constexpr (K == Kind::kMax) {
      return std::numeric_limits<T>::has_infinity
                 ? -std::numeric_limits<T>::infinity()
                 : std::numeric_limits<T>::lowest();
    }
    if constexpr (K == Kind::kMin) {
      return std::numeric_limits<T>::has_infinity
                 ? std::numeric_limits<T>::infinity()
                 : std::numeric_limits<T>::max();
    }
    return T(0);
  }
  // Integer sums and products wrap as two's complement (signed overflow
  // would be undefined in C++).
  static T Add(T a, T b) {
    if constexpr (std::is_integral_v<T>) {
      using U = std::make_unsigned_t<T>;
      return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
    } else {
      return a + b;
    }
  }
  static T Mul(T a, T b) {
    if constexpr (std::is_integral_v<T>) {
      using U = std::make_unsigned_t<T>;
      return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
    } else {
      return a * b;
    }
  }
  static T Abs(T x) {
    if constexpr (std::is_integral_v<T>) {
      using U = std::make_unsigned_t<T>;
      return x < T(0) ? static_cast<T>(U(0) - static_cast<U>(x)) : x;
    } else {
      return x < T(0) ? -x : x;
    }
  }
  static T Step(T a, T x) {
    if constexpr (K == Kind::kProd) return Mul(a, x);
    if constexpr (K == Kind::kMax) return Larger(a, x);
    if constexpr (K == Kind::kMin) return Smaller(a, x);
    if constexpr (K == Kind::kL1) return Add(a, Abs(x));
    if constexpr (K == Kind::kL2 || K == Kind::kSumSquare)
      return Add(a, Mul(x, x));
    return Add(a, x);
  }
  static T Merge(T a, T b) {
    if constexpr (K == Kind::kProd) return Mul(a, b);
    if constexpr (K == Kind::kMax) return Larger(a, b);
    if constexpr (K == Kind::kMin) return Smaller(a, b);
    return Add(a, b);
  }
  static T Finish(T a, int64_t count) {
    if constexpr (K == Kind::kMean) {
      if constexpr (std::is_integral_v<T>) {
        return count > 0 ? static_cast<T>(a / count) : T(0);
      } else {
        return a / static_cast<T>(count);
      }
    }
    if constexpr (K == Kind::kL2) {
      return static_cast<T>(std::sqrt(std::max(0.0, static_cast<double>(a))));
    }
    return a;
  }
};

// A merge-only view of the same reduction (for the passes after the first,
// which combine accumulators).
template <typename T, Kind K>
struct MergeOps {
  static T Init() { return Ops<T, K>::Init(); }
  static T Step(T a, T x) { return Ops<T, K>::Merge(a, x); }
  static T Merge(T a, T b) { return Ops<T, K>::Merge(a, b); }
};

// y[o] = fold of the `len` contiguous values x[o * len ...], for o < outer,
// with 8 independent accumulators (vectorizable, and a shorter error chain).
template <typename T, typename O>
void ReduceContiguous(const T* x, T* y, int64_t outer, int64_t len,
                      ThreadPool& pool) {
  pool.ParallelFor(outer, Grain(len), [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      const T* xr = x + o * len;
      T acc[8];
      for (T& a : acc) a = O::Init();
      int64_t i = 0;
      for (; i + 8 <= len; i += 8) {
        for (int k = 0; k < 8; ++k) acc[k] = O::Step(acc[k], xr[i + k]);
      }
      for (int k = 0; i < len; ++i, ++k) acc[k] = O::Step(acc[k], xr[i]);
      T a = acc[0];
      for (int k = 1; k < 8; ++k) a = O::Merge(a, acc[k]);
      y[o] = a;
    }
  });
}

// y[o, i] = fold over k < len of x[o, k, i] (a middle axis), in column
// blocks so that small `outer` still spreads over the pool.
template <typename T, typename O>
void ReduceMiddle(const T* x, T* y, int64_t outer, int64_t len, int64_t inner,
                  ThreadPool& pool) {
  constexpr int64_t kBlock = 1024;
  const int64_t blocks = (inner + kBlock - 1) / kBlock;
  const int64_t per_task = std::min(inner, kBlock) * std::max<int64_t>(1, len);
  pool.ParallelFor(outer * blocks, Grain(per_task),
                   [&](int64_t t0, int64_t t1) {
                     for (int64_t t = t0; t < t1; ++t) {
                       const int64_t o = t / blocks;
                       const int64_t i0 = (t % blocks) * kBlock;
                       const int64_t i1 = std::min(inner, i0 + kBlock);
                       T* yr = y + o * inner;
                       for (int64_t i = i0; i < i1; ++i) yr[i] = O::Init();
                       for (int64_t k = 0; k < len; ++k) {
                         const T* xr = x + (o * len + k) * inner;
                         for (int64_t i = i0; i < i1; ++i)
                           yr[i] = O::Step(yr[i], xr[i]);
                       }
                     }
                   });
}

template <typename T, typename O>
void ReducePass(const T* x, T* y, int64_t outer, int64_t len, int64_t inner,
                ThreadPool& pool) {
  if (inner == 1) {
    ReduceContiguous<T, O>(x, y, outer, len, pool);
  } else {
    ReduceMiddle<T, O>(x, y, outer, len, inner, pool);
  }
}

// Reduces the flagged axes one run of adjacent reduced axes at a time, the
// innermost first: the first pass folds input values, the later ones merge
// accumulators, and the last writes the output, then Finish.
template <typename T, Kind K>
void ReduceAll(const Tensor& x, const ReducePlan& p, Tensor& out,
               KernelContext& c) {
  T* y = out.data<T>();
  const int64_t n_out = out.numel();
  if (n_out == 0) return;
  // Merged runs of the input shape: (size, reduced).
  std::vector<std::pair<int64_t, bool>> runs;
  int64_t count = 1;
  for (int i = 0; i < x.rank(); ++i) {
    const bool red = p.reduced[i] != 0;
    if (red) count *= x.dim(i);
    if (x.dim(i) == 1) continue;  // joins either kind of run
    if (!runs.empty() && runs.back().second == red) {
      runs.back().first *= x.dim(i);
    } else {
      runs.emplace_back(x.dim(i), red);
    }
  }
  int passes = 0;
  for (const auto& r : runs) passes += r.second ? 1 : 0;
  const T* src = x.data<T>();
  if (passes == 0) {
    // Nothing (or only size-1 axes) is reduced.
    for (int64_t i = 0; i < n_out; ++i) {
      y[i] = Ops<T, K>::Step(Ops<T, K>::Init(), src[i]);
    }
  } else {
    Workspace::Scope scope(c.ws());
    int done = 0;
    for (int ri = static_cast<int>(runs.size()) - 1; ri >= 0; --ri) {
      if (!runs[ri].second) continue;
      int64_t outer = 1, inner = 1;
      for (int j = 0; j < ri; ++j) outer *= runs[j].first;
      for (size_t j = ri + 1; j < runs.size(); ++j) inner *= runs[j].first;
      const int64_t len = runs[ri].first;
      T* dst = ++done == passes ? y : c.ws().Take<T>(outer * inner);
      if (done == 1) {
        ReducePass<T, Ops<T, K>>(src, dst, outer, len, inner, c.pool());
      } else {
        ReducePass<T, MergeOps<T, K>>(src, dst, outer, len, inner, c.pool());
      }
      runs[ri].first = 1;
      src = dst;
    }
  }
  if (count == 0) {
    // An empty reduction: the identity of the fold.
    std::fill(y, y + n_out, Ops<T, K>::Init());
  }
  if constexpr (K == Kind::kMean || K == Kind::kL2) {
    for (int64_t i = 0; i < n_out; ++i) y[i] = Ops<T, K>::Finish(y[i], count);
  }
}

template <typename T>
void ReduceTyped(Kind k, const Tensor& x, const ReducePlan& p, Tensor& out,
                 KernelContext& c) {
  switch (k) {
    case Kind::kSum:
      return ReduceAll<T, Kind::kSum>(x, p, out, c);
    case Kind::kMean:
      return ReduceAll<T, Kind::kMean>(x, p, out, c);
    case Kind::kMax:
      return ReduceAll<T, Kind::kMax>(x, p, out, c);
    case Kind::kMin:
      return ReduceAll<T, Kind::kMin>(x, p, out, c);
    case Kind::kProd:
      return ReduceAll<T, Kind::kProd>(x, p, out, c);
    case Kind::kL1:
      return ReduceAll<T, Kind::kL1>(x, p, out, c);
    case Kind::kL2:
      return ReduceAll<T, Kind::kL2>(x, p, out, c);
    case Kind::kSumSquare:
      return ReduceAll<T, Kind::kSumSquare>(x, p, out, c);
  }
}

Status ReduceRun(KernelContext& c) {
  const Tensor& x = c.in(0);
  ReducePlan p;
  const std::string err =
      MakePlan(c.node(), x.shape(), c.has(1) ? &c.in(1) : nullptr, &p);
  if (!err.empty()) return c.Fail(err);
  Tensor& out = c.out(0);
  if (p.noop) {
    if (x.nbytes() > 0) std::memcpy(out.bytes(), x.bytes(), x.nbytes());
    return Status::Ok();
  }
  const Kind k = KindOf(c.node().op);
  switch (x.dtype()) {
    case DType::kF32:
      ReduceTyped<float>(k, x, p, out, c);
      break;
    case DType::kI64:
      ReduceTyped<int64_t>(k, x, p, out, c);
      break;
    case DType::kI32:
      ReduceTyped<int32_t>(k, x, p, out, c);
      break;
    default:
      return c.Fail("unsupported element type");
  }
  return Status::Ok();
}

// ---- ArgMax, ArgMin ------------------------------------------------------

Status ArgCheck(const Graph& g, const Node& n) {
  const int64_t keep = n.Int("keepdims", 1);
  const int64_t last = n.Int("select_last_index", 0);
  if ((keep != 0 && keep != 1) || (last != 0 && last != 1)) {
    return InvalidArgument(g.NodeLabel(n) +
                           ": keepdims and select_last_index must be 0 or 1");
  }
  return Status::Ok();
}

Status ArgInfer(InferContext& c) {
  const DType t = c.in(0).dtype;
  if (!SupportedType(t)) {
    return c.Fail("data must be f32, int64 or int32, not " +
                  std::string(DTypeName(t)));
  }
  const Shape& x = c.in(0).shape;
  const int r = static_cast<int>(x.size());
  const int64_t axis = c.node().Int("axis", 0);
  if (axis < -r || axis >= r) {
    return c.Fail("axis " + std::to_string(axis) + " is out of range for " +
                  std::to_string(r) + "-D input");
  }
  const int a = static_cast<int>(axis < 0 ? axis + r : axis);
  if (x[a] == 0) return c.Fail("cannot take an index along an empty axis");
  Shape out = x;
  if (c.node().Int("keepdims", 1) != 0) {
    out[a] = 1;
  } else {
    out.erase(out.begin() + a);
  }
  c.Set(0, DType::kI64, out);
  return Status::Ok();
}

// kMax: index of the largest value along the middle axis of [outer, len,
// inner]; ties go to the first index, or the last with kLast.
template <typename T, bool kMax, bool kLast>
void ArgTyped(const T* x, int64_t* y, int64_t outer, int64_t len, int64_t inner,
              ThreadPool& pool) {
  auto better = [](T v, T best) {
    if constexpr (kMax) {
      return kLast ? v >= best : v > best;
    } else {
      return kLast ? v <= best : v < best;
    }
  };
  if (inner == 1) {
    pool.ParallelFor(outer, Grain(len), [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) {
        const T* xr = x + o * len;
        T best = xr[0];
        int64_t idx = 0;
        for (int64_t k = 1; k < len; ++k) {
          if (better(xr[k], best)) {
            best = xr[k];
            idx = k;
          }
        }
        y[o] = idx;
      }
    });
    return;
  }
  pool.ParallelFor(outer, Grain(len * inner), [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      const T* xo = x + o * len * inner;
      int64_t* yo = y + o * inner;
      std::fill(yo, yo + inner, int64_t{0});
      for (int64_t k = 1; k < len; ++k) {
        const T* xk = xo + k * inner;
        for (int64_t i = 0; i < inner; ++i) {
          if (better(xk[i], xo[yo[i] * inner + i])) yo[i] = k;
        }
      }
    }
  });
}

template <typename T>
void ArgDispatch(bool is_max, bool last, const Tensor& x, int64_t* y,
                 int64_t outer, int64_t len, int64_t inner, ThreadPool& pool) {
  const T* px = x.data<T>();
  if (is_max) {
    if (last) {
      ArgTyped<T, true, true>(px, y, outer, len, inner, pool);
    } else {
      ArgTyped<T, true, false>(px, y, outer, len, inner, pool);
    }
  } else {
    if (last) {
      ArgTyped<T, false, true>(px, y, outer, len, inner, pool);
    } else {
      ArgTyped<T, false, false>(px, y, outer, len, inner, pool);
    }
  }
}

Status ArgRun(KernelContext& c) {
  const Tensor& x = c.in(0);
  const int r = x.rank();
  int64_t axis = c.node().Int("axis", 0);
  if (axis < 0) axis += r;
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= x.dim(i);
  for (int i = static_cast<int>(axis) + 1; i < r; ++i) inner *= x.dim(i);
  const int64_t len = x.dim(static_cast<int>(axis));
  if (outer * inner == 0) return Status::Ok();
  const bool is_max = c.node().op == "ArgMax";
  const bool last = c.node().Int("select_last_index", 0) != 0;
  int64_t* y = c.out(0).data<int64_t>();
  switch (x.dtype()) {
    case DType::kF32:
      ArgDispatch<float>(is_max, last, x, y, outer, len, inner, c.pool());
      break;
    case DType::kI64:
      ArgDispatch<int64_t>(is_max, last, x, y, outer, len, inner, c.pool());
      break;
    case DType::kI32:
      ArgDispatch<int32_t>(is_max, last, x, y, outer, len, inner, c.pool());
      break;
    default:
      return c.Fail("unsupported element type");
  }
  return Status::Ok();
}

}  // namespace

void AddReduceOps(std::vector<OpSchema>& t) {
  for (const char* name :
       {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd",
        "ReduceL1", "ReduceL2", "ReduceSumSquare"}) {
    OpSchema s;
    s.name = name;
    s.min_inputs = 1;
    s.max_inputs = 2;
    s.check = ReduceCheck;
    s.infer = ReduceInfer;
    s.run = ReduceRun;
    t.push_back(s);
  }
  for (const char* name : {"ArgMax", "ArgMin"}) {
    OpSchema s;
    s.name = name;
    s.check = ArgCheck;
    s.infer = ArgInfer;
    s.run = ArgRun;
    t.push_back(s);
  }
}

}  // namespace lowbit::graph
