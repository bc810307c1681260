// The quantization operators of the files lowbit writes: DequantizeLinear
// and QuantizeLinear (ai.onnx, per tensor, per axis and, from opset 21, in
// blocks; int8, uint8, int32, int4, uint4 and FP8 codes; also the
// com.microsoft forms older opsets use) and com.microsoft MatMulNBits (2-, 4-
// and 8-bit blocks along K). Exact: (q - zero) * scale in f32, as ONNX
// defines them.

#include <cmath>
#include <cstring>

#include "formats/scheme.h"
#include "graph/ops/families.h"
#include "kernels/sgemm.h"

namespace lowbit::graph {
namespace {

bool CodeType(DType t) {
  return t == DType::kI8 || t == DType::kU8 || t == DType::kI32 ||
         t == DType::kI4 || t == DType::kU4 || t == DType::kF8E4M3 ||
         t == DType::kF8E5M2 || t == DType::kI16 || t == DType::kU16;
}

// Element i of a code tensor as a float (int4/uint4 packed, low nibble
// first; FP8 decoded).
float CodeAt(const Tensor& t, int64_t i) {
  const uint8_t* b = t.bytes();
  switch (t.dtype()) {
    case DType::kI4: {
      const int v = (b[i / 2] >> (4 * (i % 2))) & 15;
      return static_cast<float>(v >= 8 ? v - 16 : v);
    }
    case DType::kU4:
      return static_cast<float>((b[i / 2] >> (4 * (i % 2))) & 15);
    case DType::kF8E4M3:
      return DecodeFp8E4M3(b[i]);
    case DType::kF8E5M2:
      return DecodeFp8E5M2(b[i]);
    case DType::kI8:
      return static_cast<float>(static_cast<int8_t>(b[i]));
    case DType::kU8:
      return static_cast<float>(b[i]);
    default:
      return static_cast<float>(t.GetDouble(i));
  }
}

// Where the scale of element i lives: per tensor, per `axis`, or per block
// of `block` along `axis`.
struct ScaleMap {
  int64_t axis_len = 1, inner = 1, block = 0, groups = 1;
  bool per_tensor = true;
  int64_t Index(int64_t i) const {
    if (per_tensor) return 0;
    const int64_t a = (i / inner) % axis_len;
    if (block == 0) return a;
    const int64_t outer = i / (inner * axis_len);
    return (outer * groups + a / block) * inner + i % inner;
  }
};

Result<ScaleMap> MapOf(const Shape& x, const Shape& scale, int64_t axis,
                       int64_t block) {
  ScaleMap m;
  if (NumElements(scale) == 1 && block == 0) return m;
  const int64_t r = static_cast<int64_t>(x.size());
  if (axis < 0) axis += r;
  if (axis < 0 || axis >= r) return InvalidArgument("axis out of range");
  m.per_tensor = false;
  m.axis_len = x[axis];
  for (int64_t d = axis + 1; d < r; ++d) m.inner *= x[d];
  if (block > 0) {
    m.block = block;
    m.groups = (x[axis] + block - 1) / block;
    Shape want = x;
    want[axis] = m.groups;
    if (scale != want) {
      return InvalidArgument("scale of shape " + ShapeString(scale) +
                             " for blocks of " + std::to_string(block) +
                             " needs " + ShapeString(want));
    }
    return m;
  }
  if (scale.size() != 1 || scale[0] != x[axis]) {
    return InvalidArgument("scale of shape " + ShapeString(scale) +
                           " for axis " + std::to_string(axis) + " of " +
                           ShapeString(x));
  }
  return m;
}

int64_t DefaultAxis(const Node& n) { return n.Int("axis", 1); }

Status InferDequantize(InferContext& c) {
  if (!CodeType(c.in(0).dtype)) return c.Fail("codes of an unsupported type");
  if (c.in(1).dtype != DType::kF32) return c.Fail("scale must be f32");
  auto m = MapOf(c.in(0).shape, c.in(1).shape, DefaultAxis(c.node()),
                 c.node().Int("block_size", 0));
  if (!m.ok()) return c.Fail(m.status().message());
  if (c.has(2) && (c.in(2).dtype != c.in(0).dtype ||
                   NumElements(c.in(2).shape) != NumElements(c.in(1).shape))) {
    return c.Fail(
        "zero point must match the codes' type and the scale's shape");
  }
  c.Set(0, DType::kF32, c.in(0).shape);
  return Status::Ok();
}

Status RunDequantize(KernelContext& c) {
  const Tensor& q = c.in(0);
  const Tensor& s = c.in(1);
  const bool z = c.has(2) && c.in(2).numel() > 0;
  auto m = MapOf(q.shape(), s.shape(), DefaultAxis(c.node()),
                 c.node().Int("block_size", 0));
  if (!m.ok()) return c.Fail(m.status().message());
  float* y = c.out(0).data<float>();
  const float* sc = s.data<float>();
  const int64_t n = q.numel();
  if (q.dtype() == DType::kU8 || q.dtype() == DType::kI8) {  // the common case
    const uint8_t* b = q.bytes();
    const bool sgn = q.dtype() == DType::kI8;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t k = m->Index(i);
      const float zero = z ? CodeAt(c.in(2), k) : 0.0f;
      const float v = sgn ? static_cast<float>(static_cast<int8_t>(b[i]))
                          : static_cast<float>(b[i]);
      y[i] = (v - zero) * sc[k];
    }
    return Status::Ok();
  }
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = m->Index(i);
    const float zero = z ? CodeAt(c.in(2), k) : 0.0f;
    y[i] = (CodeAt(q, i) - zero) * sc[k];
  }
  return Status::Ok();
}

Status InferQuantize(InferContext& c) {
  if (c.in(0).dtype != DType::kF32) return c.Fail("input must be f32");
  auto m = MapOf(c.in(0).shape, c.in(1).shape, DefaultAxis(c.node()),
                 c.node().Int("block_size", 0));
  if (!m.ok()) return c.Fail(m.status().message());
  DType out = DType::kU8;
  if (c.has(2)) out = c.in(2).dtype;
  if (out != DType::kU8 && out != DType::kI8 && out != DType::kI4 &&
      out != DType::kU4 && out != DType::kF8E4M3 && out != DType::kF8E5M2) {
    return c.Fail("zero point of an unsupported type");
  }
  c.Set(0, out, c.in(0).shape);
  return Status::Ok();
}

Status RunQuantize(KernelContext& c) {
  const Tensor& x = c.in(0);
  const Tensor& s = c.in(1);
  const bool z = c.has(2) && c.in(2).numel() > 0;
  auto m = MapOf(x.shape(), s.shape(), DefaultAxis(c.node()),
                 c.node().Int("block_size", 0));
  if (!m.ok()) return c.Fail(m.status().message());
  Tensor& y = c.out(0);
  const DType t = y.dtype();
  std::memset(y.bytes(), 0, static_cast<size_t>(y.nbytes()));
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t k = m->Index(i);
    const float v = x.data<float>()[i] / s.data<float>()[k];
    if (t == DType::kF8E4M3 || t == DType::kF8E5M2) {
      y.bytes()[i] = t == DType::kF8E4M3 ? EncodeFp8E4M3(v) : EncodeFp8E5M2(v);
      continue;
    }
    const float zero = z ? CodeAt(c.in(2), k) : 0.0f;
    const float lo = t == DType::kU8   ? 0
                     : t == DType::kI8 ? -128
                     : t == DType::kU4 ? 0
                                       : -8;
    const float hi = t == DType::kU8   ? 255
                     : t == DType::kI8 ? 127
                     : t == DType::kU4 ? 15
                                       : 7;
    const float q = std::min(hi, std::max(lo, std::nearbyint(v) + zero));
    const int code = static_cast<int>(q);
    if (t == DType::kI4 || t == DType::kU4) {
      y.bytes()[i / 2] |= static_cast<uint8_t>((code & 15) << (4 * (i % 2)));
    } else {
      y.bytes()[i] = static_cast<uint8_t>(code & 255);
    }
  }
  return Status::Ok();
}

// com.microsoft MatMulNBits: Y = A W^T, W [N, K] from B [N, blocks, bytes]
// (b-bit codes along K, LSB first), scales [N * blocks], zero points packed
// like the codes (default 2^(b-1)).
Status CheckNBits(const Graph& g, const Node& n) {
  const int64_t bits = n.Int("bits", 4), bs = n.Int("block_size", 0);
  if ((bits != 2 && bits != 4 && bits != 8) || bs < 16 || (bs & (bs - 1)) ||
      n.Int("K", 0) <= 0 || n.Int("N", 0) <= 0) {
    return InvalidArgument(g.NodeLabel(n) +
                           ": bits 2, 4 or 8, block_size a power of two >= "
                           "16, K and N positive");
  }
  if (n.Has(4)) {
    return InvalidArgument(g.NodeLabel(n) + ": g_idx is not supported");
  }
  return Status::Ok();
}

Status InferNBits(InferContext& c) {
  const int64_t K = c.node().Int("K", 0), N = c.node().Int("N", 0);
  const int64_t bits = c.node().Int("bits", 4),
                bs = c.node().Int("block_size", 0);
  const int64_t blocks = (K + bs - 1) / bs;
  const Shape& a = c.in(0).shape;
  if (a.empty() || a.back() != K) return c.Fail("A's last dimension is not K");
  if (NumElements(c.in(1).shape) != N * blocks * bs * bits / 8) {
    return c.Fail("B holds " + std::to_string(NumElements(c.in(1).shape)) +
                  " bytes; N x blocks x block_size x bits / 8 is " +
                  std::to_string(N * blocks * bs * bits / 8));
  }
  if (NumElements(c.in(2).shape) != N * blocks)
    return c.Fail("scales must have N x blocks values");
  Shape out = a;
  out.back() = N;
  c.Set(0, DType::kF32, out);
  return Status::Ok();
}

Status RunNBits(KernelContext& c) {
  const int64_t K = c.node().Int("K", 0), N = c.node().Int("N", 0);
  const int bits = static_cast<int>(c.node().Int("bits", 4));
  const int64_t bs = c.node().Int("block_size", 0);
  const int64_t blocks = (K + bs - 1) / bs, blob = bs * bits / 8;
  const uint8_t* B = c.in(1).bytes();
  const float* S = c.in(2).data<float>();
  const bool has_zp = c.has(3) && c.in(3).numel() > 0;
  const int64_t zp_row = (blocks * bits + 7) / 8;
  Workspace::Scope scope(c.ws());
  float* w = c.ws().Take<float>(N * K);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t b = 0; b < blocks; ++b) {
      float zp = static_cast<float>(1 << (bits - 1));
      if (has_zp) {
        if (c.in(3).dtype() == DType::kF32) {
          zp = c.in(3).data<float>()[n * blocks + b];
        } else {
          const uint8_t* z = c.in(3).bytes() + n * zp_row;
          const int64_t bit = b * bits;
          zp =
              static_cast<float>((z[bit / 8] >> (bit % 8)) & ((1 << bits) - 1));
        }
      }
      const float s = S[n * blocks + b];
      const uint8_t* q = B + (n * blocks + b) * blob;
      for (int64_t j = 0; j < bs && b * bs + j < K; ++j) {
        const int64_t bit = j * bits;
        const int code = (q[bit / 8] >> (bit % 8)) & ((1 << bits) - 1);
        w[n * K + b * bs + j] = (static_cast<float>(code) - zp) * s;
      }
    }
  }
  const int64_t M = c.in(0).numel() / K;
  float* y = c.out(0).data<float>();
  SgemmParallel(c.pool(), false, true, M, N, K, 1.0f, c.in(0).data<float>(), K,
                w, K, 0.0f, y, N);
  if (c.has(5) && c.in(5).numel() == N) {
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) y[m * N + n] += c.in(5).data<float>()[n];
  }
  return Status::Ok();
}

}  // namespace

void AddQuantOps(std::vector<OpSchema>& t) {
  for (const char* domain : {"", "com.microsoft"}) {
    OpSchema d;
    d.domain = domain;
    d.name = "DequantizeLinear";
    d.min_inputs = 2;
    d.max_inputs = 3;
    d.infer = InferDequantize;
    d.run = RunDequantize;
    t.push_back(d);
    OpSchema q;
    q.domain = domain;
    q.name = "QuantizeLinear";
    q.min_inputs = 2;
    q.max_inputs = 3;
    q.infer = InferQuantize;
    q.run = RunQuantize;
    t.push_back(q);
  }
  OpSchema nb;
  nb.domain = "com.microsoft";
  nb.name = "MatMulNBits";
  nb.min_inputs = 3;
  nb.max_inputs = 6;
  nb.check = CheckNBits;
  nb.infer = InferNBits;
  nb.run = RunNBits;
  t.push_back(nb);
}

}  // namespace lowbit::graph
