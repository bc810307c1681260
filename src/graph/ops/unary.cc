// Elementwise operators of one input: activations (Relu, Sigmoid, Tanh,
// LeakyRelu, Elu, Selu, Softplus, HardSigmoid, HardSwish, Gelu, Erf, Clip),
// math (Exp, Log, Sqrt, Neg, Abs, Reciprocal, Floor, Ceil), Not, Identity,
// Dropout (inference: a copy) and Cast.
#include <cmath>
#include <cstring>
#include <optional>

#include "core/half.h"
#include "core/round.h"
#include "graph/ops/families.h"

namespace lowbit::graph {
namespace {

struct UnaryParams {
  float alpha = 0, beta = 0, gamma = 0, lo = -INFINITY, hi = INFINITY;
  bool tanh_gelu = false;
};

// fn(x) for op; alpha/beta as the op defines them.
template <typename F>
void Map(const float* x, float* y, int64_t n, ThreadPool& pool, F f) {
  auto body = [&](int64_t a, int64_t b) {
    for (int64_t i = a; i < b; ++i) y[i] = f(x[i]);
  };
  if (n < (1 << 15)) {
    body(0, n);
  } else {
    pool.ParallelFor(n, 1 << 14, body);
  }
}

Status RunFloatUnary(KernelContext& c, const UnaryParams& p) {
  const std::string& op = c.node().op;
  const float* x = c.in(0).data<float>();
  float* y = c.out(0).data<float>();
  const int64_t n = c.in(0).numel();
  ThreadPool& pool = c.pool();
  const float a = p.alpha, b = p.beta, g = p.gamma;
  if (op == "Relu")
    Map(x, y, n, pool, [](float v) { return v > 0 ? v : 0.0f; });
  else if (op == "Sigmoid")
    Map(x, y, n, pool, [](float v) { return 1.0f / (1.0f + std::exp(-v)); });
  else if (op == "Tanh")
    Map(x, y, n, pool, [](float v) { return std::tanh(v); });
  else if (op == "Exp")
    Map(x, y, n, pool, [](float v) { return std::exp(v); });
  else if (op == "Log")
    Map(x, y, n, pool, [](float v) { return std::log(v); });
  else if (op == "Sqrt")
    Map(x, y, n, pool, [](float v) { return std::sqrt(v); });
  else if (op == "Neg")
    Map(x, y, n, pool, [](float v) { return -v; });
  else if (op == "Abs")
    Map(x, y, n, pool, [](float v) { return std::fabs(v); });
  else if (op == "Reciprocal")
    Map(x, y, n, pool, [](float v) { return 1.0f / v; });
  else if (op == "Floor")
    Map(x, y, n, pool, [](float v) { return std::floor(v); });
  else if (op == "Ceil")
    Map(x, y, n, pool, [](float v) { return std::ceil(v); });
  else if (op == "Round")
    Map(x, y, n, pool, [](float v) { return std::nearbyint(v); });
  else if (op == "Erf")
    Map(x, y, n, pool, [](float v) { return std::erf(v); });
  else if (op == "Sin")
    Map(x, y, n, pool, [](float v) { return std::sin(v); });
  else if (op == "Cos")
    Map(x, y, n, pool, [](float v) { return std::cos(v); });
  else if (op == "Sign")
    Map(x, y, n, pool, [](float v) {
      return v > 0 ? 1.0f : v < 0 ? -1.0f : 0.0f;
    });
  else if (op == "LeakyRelu")
    Map(x, y, n, pool, [a](float v) { return v < 0 ? a * v : v; });
  else if (op == "Elu")
    Map(x, y, n, pool,
        [a](float v) { return v < 0 ? a * (std::exp(v) - 1.0f) : v; });
  else if (op == "Selu")
    Map(x, y, n, pool,
        [a, g](float v) { return v <= 0 ? g * (a * std::exp(v) - a) : g * v; });
  else if (op == "Softplus")
    Map(x, y, n, pool,
        [](float v) { return v > 20.0f ? v : std::log1p(std::exp(v)); });
  else if (op == "Softsign")
    Map(x, y, n, pool, [](float v) { return v / (1.0f + std::fabs(v)); });
  else if (op == "HardSigmoid")
    Map(x, y, n, pool,
        [a, b](float v) { return std::max(0.0f, std::min(1.0f, a * v + b)); });
  else if (op == "HardSwish")
    Map(x, y, n, pool, [](float v) {
      return v * std::max(0.0f, std::min(1.0f, v / 6.0f + 0.5f));
    });
  else if (op == "Gelu") {
    if (p.tanh_gelu) {
      Map(x, y, n, pool, [](float v) {
        const float k = 0.7978845608028654f;  // sqrt(2 / pi)
        return 0.5f * v * (1.0f + std::tanh(k * (v + 0.044715f * v * v * v)));
      });
    } else {
      Map(x, y, n, pool, [](float v) {
        return 0.5f * v * (1.0f + std::erf(v * 0.7071067811865476f));
      });
    }
  } else if (op == "Clip") {
    const float lo = p.lo, hi = p.hi;
    Map(x, y, n, pool,
        [lo, hi](float v) { return std::min(hi, std::max(lo, v)); });
  } else {
    return c.Fail("no f32 kernel");
  }
  return Status::Ok();
}

const char* const kFloatOps[] = {
    "Relu",     "Sigmoid",     "Tanh",      "Exp",        "Log",
    "Sqrt",     "Neg",         "Abs",       "Reciprocal", "Floor",
    "Ceil",     "Round",       "Erf",       "Sin",        "Cos",
    "Sign",     "LeakyRelu",   "Elu",       "Selu",       "Softplus",
    "Softsign", "HardSigmoid", "HardSwish", "Gelu",       "Clip"};

UnaryParams ParamsOf(const Node& n) {
  UnaryParams p;
  const std::string& op = n.op;
  if (op == "LeakyRelu") p.alpha = n.Float("alpha", 0.01f);
  if (op == "Elu") p.alpha = n.Float("alpha", 1.0f);
  if (op == "Selu") {
    p.alpha = n.Float("alpha", 1.6732632423543772f);
    p.gamma = n.Float("gamma", 1.0507009873554805f);
  }
  if (op == "HardSigmoid") {
    p.alpha = n.Float("alpha", 0.2f);
    p.beta = n.Float("beta", 0.5f);
  }
  if (op == "Gelu") p.tanh_gelu = n.String("approximate", "none") == "tanh";
  if (op == "Clip") {  // opset < 11: attributes
    p.lo = n.Float("min", -INFINITY);
    p.hi = n.Float("max", INFINITY);
  }
  return p;
}

Status CheckUnary(const Graph& g, const Node& n) {
  if (n.op == "Gelu") {
    const std::string a = n.String("approximate", "none");
    if (a != "none" && a != "tanh") {
      return InvalidArgument(g.NodeLabel(n) +
                             ": approximate must be none or tanh, not " + a);
    }
  }
  return Status::Ok();
}

Status InferSame(InferContext& c) {
  const DType t = c.in(0).dtype;
  const std::string& op = c.node().op;
  const bool any_type = op == "Identity" || op == "Dropout" || op == "Neg" ||
                        op == "Abs" || op == "Clip" || op == "Relu" ||
                        op == "Sign";
  if (op == "Not" ? t != DType::kBool
                  : (t != DType::kF32 &&
                     !(any_type && (t == DType::kI64 || t == DType::kI32 ||
                                    t == DType::kF64 || op == "Identity" ||
                                    op == "Dropout")))) {
    return c.Fail("element type " + std::string(DTypeName(t)) +
                  " is not supported");
  }
  if (op == "Clip") {
    for (int k = 1; k < 3; ++k) {
      if (c.has(k) && (c.in(k).dtype != t || NumElements(c.in(k).shape) != 1)) {
        return c.Fail("min and max must be scalars of the input's type");
      }
    }
  }
  c.Set(0, t, c.in(0).shape);
  if (c.num_outputs() > 1)
    c.Set(1, DType::kBool, c.in(0).shape);  // Dropout mask
  return Status::Ok();
}

template <typename T>
void IntUnary(const std::string& op, const Tensor& x, Tensor& y, double lo,
              double hi) {
  const T* a = x.data<T>();
  T* o = y.data<T>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    T v = a[i];
    if (op == "Neg")
      v = -v;
    else if (op == "Abs")
      v = v < 0 ? -v : v;
    else if (op == "Relu")
      v = v < 0 ? T(0) : v;
    else if (op == "Sign")
      v = v > 0 ? T(1) : v < 0 ? T(-1) : T(0);
    else if (op == "Clip") {
      if (static_cast<double>(v) < lo) v = static_cast<T>(lo);
      if (static_cast<double>(v) > hi) v = static_cast<T>(hi);
    }
    o[i] = v;
  }
}

Status RunUnary(KernelContext& c) {
  const std::string& op = c.node().op;
  const Tensor& x = c.in(0);
  Tensor& y = c.out(0);
  if (op == "Identity" || op == "Dropout") {
    std::memcpy(y.bytes(), x.bytes(), static_cast<size_t>(x.nbytes()));
    if (c.has_out(1))
      std::memset(c.out(1).bytes(), 1, static_cast<size_t>(c.out(1).nbytes()));
    return Status::Ok();
  }
  if (op == "Not") {
    for (int64_t i = 0; i < x.numel(); ++i) {
      y.data<uint8_t>()[i] = x.data<uint8_t>()[i] == 0;
    }
    return Status::Ok();
  }
  UnaryParams p = ParamsOf(c.node());
  if (op == "Clip" && c.opset() >= 11) {
    p.lo = c.has(1) ? static_cast<float>(c.in(1).GetDouble(0)) : -INFINITY;
    p.hi = c.has(2) ? static_cast<float>(c.in(2).GetDouble(0)) : INFINITY;
  }
  switch (x.dtype()) {
    case DType::kF32:
      return RunFloatUnary(c, p);
    case DType::kI64:
      IntUnary<int64_t>(op, x, y, p.lo, p.hi);
      return Status::Ok();
    case DType::kI32:
      IntUnary<int32_t>(op, x, y, p.lo, p.hi);
      return Status::Ok();
    case DType::kF64:
      IntUnary<double>(op, x, y, p.lo, p.hi);
      return Status::Ok();
    default:
      return c.Fail("unsupported element type");
  }
}

// Cast: between the numeric types and bool (f16 and bf16 included).
std::optional<DType> CastTarget(int64_t to) {
  switch (to) {
    case 1:
      return DType::kF32;
    case 2:
      return DType::kU8;
    case 3:
      return DType::kI8;
    case 4:
      return DType::kU16;
    case 5:
      return DType::kI16;
    case 6:
      return DType::kI32;
    case 7:
      return DType::kI64;
    case 9:
      return DType::kBool;
    case 10:
      return DType::kF16;
    case 11:
      return DType::kF64;
    case 12:
      return DType::kU32;
    case 13:
      return DType::kU64;
    case 16:
      return DType::kBF16;
    default:
      return std::nullopt;
  }
}

Status CheckCast(const Graph& g, const Node& n) {
  const Attribute* to = n.Find("to");
  if (to == nullptr ||
      !CastTarget(to->kind == Attribute::Kind::kInt ? to->i : -1)) {
    return InvalidArgument(g.NodeLabel(n) +
                           ": `to` must name a numeric or bool element type");
  }
  return Status::Ok();
}

Status InferCast(InferContext& c) {
  c.Set(0, *CastTarget(c.node().Int("to", 1)), c.in(0).shape);
  return Status::Ok();
}

void StoreAs(DType t, double v, uint8_t* p) {
  switch (t) {
    case DType::kF32: {
      const float f = static_cast<float>(v);
      std::memcpy(p, &f, 4);
      break;
    }
    case DType::kF64:
      std::memcpy(p, &v, 8);
      break;
    case DType::kF16: {
      const uint16_t h = F32ToF16(static_cast<float>(v));
      std::memcpy(p, &h, 2);
      break;
    }
    case DType::kBF16: {
      const uint16_t h = F32ToBF16(static_cast<float>(v));
      std::memcpy(p, &h, 2);
      break;
    }
    case DType::kBool:
      *p = v != 0.0;
      break;
    case DType::kI64: {
      const int64_t x = TruncateToInt<int64_t>(v);
      std::memcpy(p, &x, 8);
      break;
    }
    case DType::kI32: {
      const int32_t x = TruncateToInt<int32_t>(v);
      std::memcpy(p, &x, 4);
      break;
    }
    case DType::kI16: {
      const int16_t x = TruncateToInt<int16_t>(v);
      std::memcpy(p, &x, 2);
      break;
    }
    case DType::kI8: {
      const int8_t x = TruncateToInt<int8_t>(v);
      std::memcpy(p, &x, 1);
      break;
    }
    case DType::kU64: {
      const uint64_t x = TruncateToInt<uint64_t>(v);
      std::memcpy(p, &x, 8);
      break;
    }
    case DType::kU32: {
      const uint32_t x = TruncateToInt<uint32_t>(v);
      std::memcpy(p, &x, 4);
      break;
    }
    case DType::kU16: {
      const uint16_t x = TruncateToInt<uint16_t>(v);
      std::memcpy(p, &x, 2);
      break;
    }
    case DType::kU8:
      *p = TruncateToInt<uint8_t>(v);
      break;
    default:
      break;
  }
}

Status RunCast(KernelContext& c) {
  const Tensor& x = c.in(0);
  Tensor& y = c.out(0);
  if (x.dtype() == y.dtype()) {
    std::memcpy(y.bytes(), x.bytes(), static_cast<size_t>(x.nbytes()));
    return Status::Ok();
  }
  const int64_t es = ElementBytes(y.dtype());
  if (x.dtype() == DType::kI64 && y.dtype() == DType::kI32) {
    for (int64_t i = 0; i < x.numel(); ++i)
      y.data<int32_t>()[i] = static_cast<int32_t>(x.data<int64_t>()[i]);
    return Status::Ok();
  }
  auto integer = [](DType t) {
    return t == DType::kI64 || t == DType::kI32 || t == DType::kI16 ||
           t == DType::kI8 || t == DType::kU64 || t == DType::kU32 ||
           t == DType::kU16 || t == DType::kU8;
  };
  if (integer(x.dtype()) && integer(y.dtype())) {
    // Integer to integer wraps (two's complement), as ONNX Runtime does.
    for (int64_t i = 0; i < x.numel(); ++i) {
      const uint64_t v = static_cast<uint64_t>(x.GetInt(i));
      std::memcpy(y.bytes() + i * es, &v, static_cast<size_t>(es));
    }
    return Status::Ok();
  }
  for (int64_t i = 0; i < x.numel(); ++i) {
    // int64 values beyond 2^53 lose bits through double: shapes never are.
    // Floats out of the target's range saturate, NaN gives 0
    // (TruncateToInt: C++ leaves them undefined).
    StoreAs(y.dtype(), x.GetDouble(i), y.bytes() + i * es);
  }
  return Status::Ok();
}

}  // namespace

void AddUnaryOps(std::vector<OpSchema>& t) {
  for (const char* op : kFloatOps) {
    OpSchema s;
    s.name = op;
    s.check = CheckUnary;
    s.infer = InferSame;
    s.run = RunUnary;
    if (std::string(op) == "Clip") s.max_inputs = 3;
    s.plan_time = std::string(op) == "Neg" || std::string(op) == "Abs";
    s.inplace = true;
    t.push_back(s);
  }
  for (const char* op : {"Identity", "Not"}) {
    OpSchema s;
    s.name = op;
    s.infer = InferSame;
    s.run = RunUnary;
    s.plan_time = true;
    s.alias = std::string(op) == "Identity";
    t.push_back(s);
  }
  OpSchema d;
  d.name = "Dropout";
  d.max_inputs = 3;
  d.max_outputs = 2;
  d.infer = InferSame;
  d.run = RunUnary;
  t.push_back(d);
  OpSchema cast;
  cast.name = "Cast";
  cast.check = CheckCast;
  cast.infer = InferCast;
  cast.run = RunCast;
  cast.plan_time = true;
  t.push_back(cast);
}

}  // namespace lowbit::graph
