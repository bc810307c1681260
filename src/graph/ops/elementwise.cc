// Elementwise operators with NumPy broadcasting: arithmetic (Add, Sub, Mul,
// Div, Pow, Max, Min, Sum, Mean, PRelu), comparisons and logic (Equal,
// Greater, Less, ..., And, Or, Xor, Where), on f32, f64, int64 and int32
// (comparisons give bool). Opset < 7 Add/Sub/Mul/Div broadcast B onto A from
// `axis` when broadcast = 1, as those opsets did.
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "core/round.h"
#include "graph/ops/broadcast.h"
#include "graph/ops/families.h"

namespace lowbit::graph {
namespace {

enum class Bin {
  kAdd,
  kSub,
  kMul,
  kDiv,
  kPow,
  kMax,
  kMin,
  kPRelu,
  kEq,
  kGt,
  kGe,
  kLt,
  kLe,
  kAnd,
  kOr,
  kXor,
  kMod
};

bool IsCompare(Bin b) {
  return b == Bin::kEq || b == Bin::kGt || b == Bin::kGe || b == Bin::kLt ||
         b == Bin::kLe;
}
bool IsLogic(Bin b) {
  return b == Bin::kAnd || b == Bin::kOr || b == Bin::kXor;
}

Bin BinOf(const std::string& op) {
  static const std::pair<const char*, Bin> kOps[] = {
      {"Add", Bin::kAdd},
      {"Sub", Bin::kSub},
      {"Mul", Bin::kMul},
      {"Div", Bin::kDiv},
      {"Pow", Bin::kPow},
      {"Max", Bin::kMax},
      {"Min", Bin::kMin},
      {"Sum", Bin::kAdd},
      {"Mean", Bin::kAdd},
      {"PRelu", Bin::kPRelu},
      {"Equal", Bin::kEq},
      {"Greater", Bin::kGt},
      {"GreaterOrEqual", Bin::kGe},
      {"Less", Bin::kLt},
      {"LessOrEqual", Bin::kLe},
      {"And", Bin::kAnd},
      {"Or", Bin::kOr},
      {"Xor", Bin::kXor},
      {"Mod", Bin::kMod}};
  for (const auto& [name, b] : kOps) {
    if (op == name) return b;
  }
  return Bin::kAdd;
}

// Integer arithmetic wraps around (two's complement), as ONNX runtimes do;
// in C++ signed overflow would be undefined, so it goes through unsigned.
template <typename T>
inline T WrapAdd(T x, T y) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(x) + static_cast<U>(y));
  } else {
    return x + y;
  }
}
template <typename T>
inline T WrapSub(T x, T y) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(x) - static_cast<U>(y));
  } else {
    return x - y;
  }
}
template <typename T>
inline T WrapMul(T x, T y) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(x) * static_cast<U>(y));
  } else {
    return x * y;
  }
}

template <typename T>
inline T Apply(Bin b, T x, T y) {
  switch (b) {
    case Bin::kAdd:
      return WrapAdd(x, y);
    case Bin::kSub:
      return WrapSub(x, y);
    case Bin::kMul:
      return WrapMul(x, y);
    case Bin::kDiv:
      if constexpr (std::is_integral_v<T>) {
        if (y == 0) return T(0);
        if (y == T(-1)) return WrapSub(T(0), x);  // MIN / -1 wraps
        return x / y;
      } else {
        return x / y;
      }
    case Bin::kPow:
      if constexpr (std::is_integral_v<T>) {
        const double v =
            std::pow(static_cast<double>(x), static_cast<double>(y));
        // Out-of-range results saturate (a double to integer conversion
        // outside the range would be undefined).
        if (!(v > static_cast<double>(std::numeric_limits<T>::min()))) {
          return std::numeric_limits<T>::min();
        }
        if (!(v < static_cast<double>(std::numeric_limits<T>::max()))) {
          return std::numeric_limits<T>::max();
        }
        return static_cast<T>(v);
      } else {
        return static_cast<T>(
            std::pow(static_cast<double>(x), static_cast<double>(y)));
      }
    case Bin::kMax:
      return x > y ? x : (std::isnan(static_cast<double>(x)) ? x : y);
    case Bin::kMin:
      return x < y ? x : (std::isnan(static_cast<double>(x)) ? x : y);
    case Bin::kPRelu:
      return x < T(0) ? WrapMul(x, y) : x;
    case Bin::kMod:
      if constexpr (std::is_integral_v<T>) {
        if (y == 0 || y == T(-1)) return T(0);
        T r = x % y;
        if (r != 0 && ((r < 0) != (y < 0))) r = WrapAdd(r, y);
        return r;
      } else {
        return static_cast<T>(std::fmod(x, y));
      }
    default:
      return T(0);
  }
}

template <typename T>
inline bool Compare(Bin b, T x, T y) {
  switch (b) {
    case Bin::kEq:
      return x == y;
    case Bin::kGt:
      return x > y;
    case Bin::kGe:
      return x >= y;
    case Bin::kLt:
      return x < y;
    case Bin::kLe:
      return x <= y;
    default:
      return false;
  }
}

// A run of n outputs with the operation known at compile time: the three
// stride patterns (both advance, one is a broadcast value) as plain loops
// the compiler vectorizes.
template <typename T, typename F>
inline void Loop(F f, const T* x, int64_t sx, const T* y, int64_t sy, T* o,
                 int64_t n) {
  if (sx == 1 && sy == 1) {
    for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
  } else if (sx == 1) {
    const T v = *y;
    for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], v);
  } else if (sy == 1) {
    const T v = *x;
    for (int64_t i = 0; i < n; ++i) o[i] = f(v, y[i]);
  } else {
    const T v = f(*x, *y);
    for (int64_t i = 0; i < n; ++i) o[i] = v;
  }
}

// One run of n outputs: x and y advance by sx and sy (0 or 1).
template <typename T>
void RunArith(Bin b, const T* x, int64_t sx, const T* y, int64_t sy, T* o,
              int64_t n) {
  switch (b) {
    case Bin::kAdd:
      return Loop([](T p, T q) { return WrapAdd(p, q); }, x, sx, y, sy, o, n);
    case Bin::kSub:
      return Loop([](T p, T q) { return WrapSub(p, q); }, x, sx, y, sy, o, n);
    case Bin::kMul:
      return Loop([](T p, T q) { return WrapMul(p, q); }, x, sx, y, sy, o, n);
    case Bin::kDiv:
      if constexpr (std::is_floating_point_v<T>) {
        return Loop([](T p, T q) { return p / q; }, x, sx, y, sy, o, n);
      }
      break;
    case Bin::kPow:
      if constexpr (std::is_floating_point_v<T>) {
        if (sy == 0 && *y == T(2)) {  // x^2, common in normalisations
          return Loop([](T p, T) { return p * p; }, x, sx, y, sy, o, n);
        }
      }
      break;
    case Bin::kMax:
      if constexpr (std::is_floating_point_v<T>) {
        return Loop([](T p, T q) { return p > q || p != p ? p : q; }, x, sx, y,
                    sy, o, n);
      }
      break;
    case Bin::kMin:
      if constexpr (std::is_floating_point_v<T>) {
        return Loop([](T p, T q) { return p < q || p != p ? p : q; }, x, sx, y,
                    sy, o, n);
      }
      break;
    default:
      break;
  }
  for (int64_t i = 0; i < n; ++i) o[i] = Apply(b, x[i * sx], y[i * sy]);
}

template <typename T>
void BinaryTyped(Bin b, const Tensor& x, const Tensor& y, Tensor& out,
                 ThreadPool& pool) {
  const BroadcastWalk w({x.shape(), y.shape()}, out.shape());
  const int64_t run = w.run_length();
  const int64_t sx = w.steps()[0], sy = w.steps()[1];
  const T* xp = x.data<T>();
  const T* yp = y.data<T>();
  const bool cmp = IsCompare(b);
  // Work items: pieces of runs (long runs are cut so that every thread gets
  // a share even when the whole tensor is one run).
  const int64_t total = w.runs() * run;
  const int64_t threads = pool.num_threads();
  const int64_t piece =
      total < (1 << 15) || threads == 1
          ? run
          : std::min(run, std::max<int64_t>(1 << 12, total / (4 * threads)));
  const int64_t pieces = (run + piece - 1) / std::max<int64_t>(piece, 1);
  auto body = [&](int64_t t0, int64_t t1) {
    int64_t off[2];
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t r = t / pieces, i0 = (t % pieces) * piece;
      const int64_t n = std::min(piece, run - i0);
      w.Offsets(r, off);
      const int64_t ox = off[0] + i0 * sx, oy = off[1] + i0 * sy;
      if (cmp) {
        uint8_t* o = out.data<uint8_t>() + r * run + i0;
        for (int64_t i = 0; i < n; ++i) {
          o[i] = Compare(b, xp[ox + i * sx], yp[oy + i * sy]);
        }
      } else {
        RunArith(b, xp + ox, sx, yp + oy, sy, out.data<T>() + r * run + i0, n);
      }
    }
  };
  const int64_t items = w.runs() * pieces;
  if (total < (1 << 15) || threads == 1 || items < 2) {
    body(0, items);
  } else {
    pool.ParallelFor(items, std::max<int64_t>(1, items / (4 * threads)), body);
  }
}

void BinaryLogic(Bin b, const Tensor& x, const Tensor& y, Tensor& out) {
  const BroadcastWalk w({x.shape(), y.shape()}, out.shape());
  const int64_t run = w.run_length();
  int64_t off[2];
  for (int64_t r = 0; r < w.runs(); ++r) {
    w.Offsets(r, off);
    const uint8_t* xp = x.data<uint8_t>() + off[0];
    const uint8_t* yp = y.data<uint8_t>() + off[1];
    uint8_t* o = out.data<uint8_t>() + r * run;
    for (int64_t i = 0; i < run; ++i) {
      const bool p = xp[i * w.steps()[0]] != 0, q = yp[i * w.steps()[1]] != 0;
      o[i] = b == Bin::kAnd ? (p && q) : b == Bin::kOr ? (p || q) : (p != q);
    }
  }
}

bool NumericType(DType t) {
  return t == DType::kF32 || t == DType::kF64 || t == DType::kI64 ||
         t == DType::kI32;
}

// Opset < 7 (Add, Sub, Mul, Div with broadcast = 1): B's shape is placed at
// `axis` of A (default: aligned to A's last dims).
Shape LegacyShape(const Node& n, int opset, const Shape& a, const Shape& b) {
  if (opset >= 7 || n.Int("broadcast", 0) == 0 || b.size() >= a.size()) {
    return b;
  }
  const int64_t axis = n.Find("axis") != nullptr
                           ? n.Int("axis", 0)
                           : static_cast<int64_t>(a.size() - b.size());
  const int64_t ax = axis < 0 ? axis + static_cast<int64_t>(a.size()) : axis;
  Shape s(a.size(), 1);
  for (size_t i = 0; i < b.size() && ax + static_cast<int64_t>(i) <
                                         static_cast<int64_t>(a.size());
       ++i) {
    s[ax + i] = b[i];
  }
  return s;
}

// PRelu before opset 7 (and as exporters wrote it): a slope of C values for
// an N x C x ... input applies per channel.
Shape PReluSlopeShape(const Shape& x, const Shape& slope) {
  if (slope.size() == 1 && x.size() >= 3 && slope[0] == x[1] &&
      x[1] != x.back()) {
    Shape s(x.size() - 1, 1);
    s[0] = slope[0];
    return s;
  }
  return slope;
}

Shape SecondShape(const InferContext& c, const Shape& a, const Shape& b) {
  if (c.node().op == "PRelu") return PReluSlopeShape(a, b);
  return LegacyShape(c.node(), c.opset(), a, b);
}

Status InferBinary(InferContext& c) {
  const Bin b = BinOf(c.node().op);
  const DType t0 = c.in(0).dtype;
  for (int k = 1; k < c.num_inputs(); ++k) {
    if (c.in(k).dtype != t0 &&
        !(b == Bin::kPow && NumericType(c.in(k).dtype))) {
      return c.Fail("inputs of types " + std::string(DTypeName(t0)) + " and " +
                    std::string(DTypeName(c.in(k).dtype)));
    }
  }
  if (IsLogic(b) ? t0 != DType::kBool : !NumericType(t0)) {
    return c.Fail("element type " + std::string(DTypeName(t0)) +
                  " is not supported");
  }
  std::vector<Shape> shapes = {c.in(0).shape};
  for (int k = 1; k < c.num_inputs(); ++k) {
    shapes.push_back(SecondShape(c, c.in(0).shape, c.in(k).shape));
  }
  const auto out = BroadcastShapes(shapes);
  if (!out) {
    std::string s;
    for (const Shape& x : shapes)
      s += (s.empty() ? "" : " and ") + ShapeString(x);
    return c.Fail("shapes " + s + " do not broadcast");
  }
  c.Set(0, IsCompare(b) || IsLogic(b) ? DType::kBool : t0, *out);
  return Status::Ok();
}

template <typename T>
void Accumulate(Bin b, const Tensor& x, const Tensor& y, Tensor& out,
                ThreadPool& pool) {
  BinaryTyped<T>(b, x, y, out, pool);
}

Status RunBinary(KernelContext& c) {
  const Bin b = BinOf(c.node().op);
  Tensor& out = c.out(0);
  // Variadic (Sum, Mean, Max, Min): fold the inputs pairwise into out.
  Tensor acc = c.in(0);
  for (int k = 1; k < c.num_inputs() || k == 1; ++k) {
    const bool single = c.num_inputs() == 1;
    const Tensor& y0 = single ? c.in(0) : c.in(k);
    Tensor converted;  // Pow: the exponent in the base's type
    if (y0.dtype() != acc.dtype()) {
      converted = Tensor::Zeros(acc.dtype(), y0.shape());
      for (int64_t i = 0; i < y0.numel(); ++i) {
        const double v = y0.GetDouble(i);
        switch (acc.dtype()) {
          case DType::kF32:
            converted.data<float>()[i] = static_cast<float>(v);
            break;
          case DType::kF64:
            converted.data<double>()[i] = v;
            break;
          case DType::kI64:
            converted.data<int64_t>()[i] = TruncateToInt<int64_t>(v);
            break;
          case DType::kI32:
            converted.data<int32_t>()[i] = TruncateToInt<int32_t>(v);
            break;
          default:
            break;
        }
      }
    }
    const Tensor& y = y0.dtype() != acc.dtype() ? converted : y0;
    const Tensor y2 = y.Reshaped(
        single
            ? y.shape()
            : (c.node().op == "PRelu"
                   ? PReluSlopeShape(acc.shape(), y.shape())
                   : LegacyShape(c.node(), c.opset(), acc.shape(), y.shape())));
    if (single) {  // one input: a copy
      std::memcpy(out.bytes(), acc.bytes(), static_cast<size_t>(out.nbytes()));
      break;
    }
    // Broadcast acc (the running result) against y into out.
    Tensor target = out;
    if (k + 1 < c.num_inputs()) {
      // Intermediate results broadcast to the final shape only at the end.
      const auto s = BroadcastShapes({acc.shape(), y2.shape()});
      if (*s != out.shape()) target = Tensor::Zeros(out.dtype(), *s);
    }
    switch (acc.dtype()) {
      case DType::kF32:
        Accumulate<float>(b, acc, y2, target, c.pool());
        break;
      case DType::kF64:
        Accumulate<double>(b, acc, y2, target, c.pool());
        break;
      case DType::kI64:
        Accumulate<int64_t>(b, acc, y2, target, c.pool());
        break;
      case DType::kI32:
        Accumulate<int32_t>(b, acc, y2, target, c.pool());
        break;
      case DType::kBool:
        BinaryLogic(b, acc, y2, target);
        break;
      default:
        return c.Fail("unsupported element type");
    }
    acc = target;
  }
  if (c.node().op == "Mean" && c.num_inputs() > 1) {
    const float inv = 1.0f / static_cast<float>(c.num_inputs());
    if (out.dtype() == DType::kF32) {
      float* o = out.data<float>();
      for (int64_t i = 0; i < out.numel(); ++i) o[i] *= inv;
    } else if (out.dtype() == DType::kF64) {
      double* o = out.data<double>();
      for (int64_t i = 0; i < out.numel(); ++i) o[i] /= c.num_inputs();
    }
  }
  return Status::Ok();
}

Status InferWhere(InferContext& c) {
  if (c.in(0).dtype != DType::kBool) return c.Fail("condition must be bool");
  if (c.in(1).dtype != c.in(2).dtype) return c.Fail("X and Y types differ");
  const auto s = BroadcastShapes({c.in(0).shape, c.in(1).shape, c.in(2).shape});
  if (!s) return c.Fail("shapes do not broadcast");
  c.Set(0, c.in(1).dtype, *s);
  return Status::Ok();
}

Status RunWhere(KernelContext& c) {
  Tensor& out = c.out(0);
  const BroadcastWalk w({c.in(0).shape(), c.in(1).shape(), c.in(2).shape()},
                        out.shape());
  const int64_t es = ElementBytes(out.dtype()), run = w.run_length();
  int64_t off[3];
  for (int64_t r = 0; r < w.runs(); ++r) {
    w.Offsets(r, off);
    const uint8_t* cond = c.in(0).data<uint8_t>() + off[0];
    const uint8_t* x = c.in(1).bytes() + off[1] * es;
    const uint8_t* y = c.in(2).bytes() + off[2] * es;
    uint8_t* o = out.bytes() + r * run * es;
    for (int64_t i = 0; i < run; ++i) {
      const uint8_t* src = cond[i * w.steps()[0]] ? x + i * w.steps()[1] * es
                                                  : y + i * w.steps()[2] * es;
      std::memcpy(o + i * es, src, static_cast<size_t>(es));
    }
  }
  return Status::Ok();
}

OpSchema Binary(const char* name, bool shape_math) {
  OpSchema s;
  s.name = name;
  s.min_inputs = s.max_inputs = 2;
  s.infer = InferBinary;
  s.run = RunBinary;
  s.plan_time = shape_math;
  s.inplace = true;  // comparisons change the type: never matched
  return s;
}

}  // namespace

void AddElementwiseOps(std::vector<OpSchema>& t) {
  for (const char* op :
       {"Add", "Sub", "Mul", "Div", "Equal", "Greater", "GreaterOrEqual",
        "Less", "LessOrEqual", "And", "Or", "Xor", "Mod"}) {
    t.push_back(Binary(op, true));
  }
  t.push_back(Binary("Pow", false));
  t.push_back(Binary("PRelu", false));
  for (const char* op : {"Max", "Min", "Sum", "Mean"}) {
    OpSchema s = Binary(op, true);
    s.min_inputs = 1;
    s.max_inputs = 1 << 20;
    t.push_back(s);
  }
  OpSchema w;
  w.name = "Where";
  w.min_inputs = w.max_inputs = 3;
  w.infer = InferWhere;
  w.run = RunWhere;
  w.plan_time = true;
  t.push_back(w);
}

}  // namespace lowbit::graph
