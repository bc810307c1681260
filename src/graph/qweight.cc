// Quantized constants (graph/qweight.h): DequantizeLinear recognition,
// decoding, materialization and the fast-mode layout.
#include "graph/qweight.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/half.h"
#include "formats/bitpack.h"
#include "kernels/dequant.h"

namespace lowbit::graph {
namespace {

// Rows (the axis) and the other dimensions of `shape`: sizes before and
// after the axis.
void Split(const Shape& shape, int axis, int64_t* outer, int64_t* len,
           int64_t* inner) {
  *outer = 1;
  *inner = 1;
  for (int d = 0; d < axis; ++d) *outer *= shape[d];
  *len = shape[axis];
  for (size_t d = axis + 1; d < shape.size(); ++d) *inner *= shape[d];
}

// Readers of each value: (node index, input index).
std::vector<std::vector<std::pair<int, int>>> Readers(const Graph& g) {
  std::vector<std::vector<std::pair<int, int>>> r(g.value_names.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    for (int k = 0; k < n.num_inputs(); ++k) {
      if (n.inputs[k] >= 0) r[n.inputs[k]].push_back({static_cast<int>(i), k});
    }
  }
  return r;
}

bool IsGraphOutput(const Graph& g, int v) {
  return std::find(g.output_ids.begin(), g.output_ids.end(), v) !=
         g.output_ids.end();
}

// The QuantizedTensor of DequantizeLinear(x, scale, zero) with x int8/uint8
// of `shape`, per tensor or along `axis` (rows = shape[row_axis]).
bool FromDequantizeLinear(const Tensor& x, const Tensor& scale,
                          const Tensor* zero, int64_t axis, int row_axis,
                          QuantWeight* w) {
  const Shape& shape = x.shape();
  const int rank = static_cast<int>(shape.size());
  if (rank < 1 || row_axis < 0 || row_axis >= rank || x.numel() == 0) {
    return false;
  }
  const bool signed8 = x.dtype() == DType::kI8;
  if (!signed8 && x.dtype() != DType::kU8) return false;
  if (scale.dtype() != DType::kF32) return false;
  if (zero != nullptr && zero->dtype() != x.dtype()) return false;
  const bool per_tensor = scale.numel() == 1;
  if (axis < 0) axis += rank;
  if (!per_tensor) {
    // Per axis: the scale's axis must be the rows.
    if (scale.rank() != 1 || axis != row_axis || scale.numel() != shape[axis]) {
      return false;
    }
  }
  if (zero != nullptr && zero->numel() != scale.numel()) return false;
  int64_t outer, rows, inner;
  Split(shape, row_axis, &outer, &rows, &inner);
  QuantizedTensor& q = w->q;
  q.scheme = *ParseScheme("int8");
  q.granularity = per_tensor ? Granularity::kTensor : Granularity::kChannel;
  q.rows = rows;
  q.cols = outer * inner;
  q.group_size = q.cols;
  q.shape = {q.rows, q.cols};
  q.scale_type = ScaleType::kF32;
  q.method = "DequantizeLinear";
  const int shift = signed8 ? 128 : 0;
  // Codes c = x + 128 (int8) or x (uint8): lowbit's s (c - z) equals ONNX's
  // (x - zero) s, the same float product of the same integers.
  q.codes.resize(static_cast<size_t>(q.rows * q.cols));
  const uint8_t* xb = x.bytes();
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t r = 0; r < rows; ++r) {
      const uint8_t* src = xb + (o * rows + r) * inner;
      uint8_t* dst = q.codes.data() + r * q.cols + o * inner;
      for (int64_t i = 0; i < inner; ++i) {
        dst[i] = static_cast<uint8_t>(
            signed8 ? static_cast<int8_t>(src[i]) + shift : src[i]);
      }
    }
  }
  const int64_t ns = scale.numel();
  q.scales.assign(scale.data<float>(), scale.data<float>() + ns);
  std::vector<uint8_t> z(static_cast<size_t>(ns), signed8 ? 128 : 0);
  if (zero != nullptr) {
    for (int64_t i = 0; i < ns; ++i) {
      z[i] = static_cast<uint8_t>(
          signed8 ? static_cast<int8_t>(zero->bytes()[i]) + shift
                  : zero->bytes()[i]);
    }
  }
  q.symmetric =
      std::all_of(z.begin(), z.end(), [](uint8_t v) { return v == 128; });
  if (!q.symmetric) q.zeros = z;  // 8-bit zeros: one byte each
  w->shape = shape;
  w->axis = row_axis;
  w->source = "DequantizeLinear";
  return q.Validate().ok();
}

// The QuantizedTensor of com.microsoft MatMulNBits' B [N, blocks, blob],
// scales [N * blocks] and optional uint8 zero points: rows N, cols K, groups
// of block_size (the last one short when K is not a multiple).
bool FromMatMulNBits(const Node& n, const Tensor& b, const Tensor& scales,
                     const Tensor* zero, QuantWeight* w) {
  const int64_t K = n.Int("K", 0), N = n.Int("N", 0);
  const int bits = static_cast<int>(n.Int("bits", 4));
  const int64_t bs = n.Int("block_size", 0);
  if (K <= 0 || N <= 0 || (bits != 2 && bits != 4 && bits != 8) || bs < 16 ||
      (bs & (bs - 1)) != 0 || K > QuantizedTensor::kMaxElements / N) {
    return false;
  }
  const int64_t blocks = (K + bs - 1) / bs, blob = bs * bits / 8;
  if (b.dtype() != DType::kU8 || b.numel() != N * blocks * blob ||
      scales.dtype() != DType::kF32 || scales.numel() != N * blocks) {
    return false;
  }
  const int64_t zrow = (blocks * bits + 7) / 8;
  // Zero points packed like the codes, or floats (kept when every one is an
  // f16 value: lowbit's f16 zero points; others run as the operator).
  const bool fzero = zero != nullptr && zero->dtype() == DType::kF32;
  if (zero != nullptr && !fzero &&
      (zero->dtype() != DType::kU8 || zero->numel() != N * zrow)) {
    return false;
  }
  if (fzero) {
    if (zero->numel() != N * blocks) return false;
    for (int64_t i = 0; i < N * blocks; ++i) {
      const float z = zero->data<float>()[i];
      if (!std::isfinite(z) || RoundToF16(z) != z) return false;
    }
  }
  QuantizedTensor& q = w->q;
  q.scheme = *ParseScheme("int" + std::to_string(bits));
  q.granularity = Granularity::kGroup;
  q.group_size = bs;
  q.rows = N;
  q.cols = K;
  q.shape = {N, K};
  q.scale_type = ScaleType::kF32;
  q.method = "MatMulNBits";
  q.symmetric = zero == nullptr;
  q.codes.assign(static_cast<size_t>(N * q.code_row_bytes()), 0);
  std::vector<uint8_t> row(static_cast<size_t>(blocks * bs));
  for (int64_t r = 0; r < N; ++r) {
    UnpackBits(b.bytes() + r * blocks * blob, blocks * bs, bits, row.data());
    PackBits(row.data(), K, bits, q.codes.data() + r * q.code_row_bytes());
  }
  q.scales.assign(scales.data<float>(), scales.data<float>() + N * blocks);
  if (fzero) {
    q.zero_type = ZeroType::kF16;
    q.zeros.assign(static_cast<size_t>(N * q.zero_row_bytes()), 0);
    for (int64_t r = 0; r < N; ++r) {
      for (int64_t k = 0; k < blocks; ++k) {
        SetZeroPoint(q, r, k, zero->data<float>()[r * blocks + k]);
      }
    }
  } else if (zero != nullptr) {
    q.zeros.assign(static_cast<size_t>(N * q.zero_row_bytes()), 0);
    for (int64_t r = 0; r < N; ++r) {
      std::memcpy(q.zeros.data() + r * q.zero_row_bytes(),
                  zero->bytes() + r * zrow,
                  static_cast<size_t>(std::min(zrow, q.zero_row_bytes())));
    }
  }
  w->shape = {K, N};
  w->axis = 1;
  w->source = "MatMulNBits";
  return q.Validate().ok();
}

}  // namespace

void QuantWeight::DecodeRows(float* out) const {
  DequantizeRows(q, 0, q.rows, out);
}

void QuantWeight::Decode(float* out) const {
  int64_t outer, rows, inner;
  Split(shape, axis, &outer, &rows, &inner);
  if (outer == 1) {
    DecodeRows(out);
    return;
  }
  std::vector<float> row(static_cast<size_t>(q.cols));
  for (int64_t r = 0; r < rows; ++r) {
    DequantizeRow(q, r, row.data());
    for (int64_t o = 0; o < outer; ++o) {
      std::memcpy(out + (o * rows + r) * inner, row.data() + o * inner,
                  static_cast<size_t>(inner) * sizeof(float));
    }
  }
}

int64_t QuantWeight::StoredBytes() const {
  return (q.codes.empty() ? 0 : q.StoredBytes()) +
         (fast != nullptr ? fast->StoredBytes() : 0);
}

int WeightSlotAxis(const Node& n, int input) {
  if (input != 1 || !n.domain.empty()) return -1;
  if (n.op == "Conv") return 0;
  if (n.op == "MatMul") return 1;
  if (n.op == "Gemm") return n.Int("transB", 0) != 0 ? 0 : 1;
  return -1;
}

int RecognizeDequantizeLinear(Graph& g) {
  const auto readers = Readers(g);
  std::vector<char> drop(g.nodes.size(), 0);
  int found = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (n.op != "DequantizeLinear" ||
        (!n.domain.empty() && n.domain != "com.microsoft") ||
        n.outputs.size() != 1 || n.outputs[0] < 0 || !n.Has(0) || !n.Has(1) ||
        n.Int("block_size", 0) != 0) {
      continue;
    }
    const int out = n.outputs[0];
    const auto& rd = readers[out];
    if (rd.empty() || IsGraphOutput(g, out)) continue;
    const int row_axis = WeightSlotAxis(g.nodes[rd[0].first], rd[0].second);
    bool ok = row_axis >= 0;
    for (const auto& [node, k] : rd) {
      ok = ok && WeightSlotAxis(g.nodes[node], k) == row_axis;
    }
    auto cx = g.constants.find(n.inputs[0]);
    auto cs = g.constants.find(n.inputs[1]);
    const Tensor* zero = nullptr;
    if (n.Has(2)) {
      auto cz = g.constants.find(n.inputs[2]);
      if (cz == g.constants.end())
        ok = false;
      else
        zero = &cz->second;
    }
    if (!ok || cx == g.constants.end() || cs == g.constants.end()) continue;
    if (g.nodes[rd[0].first].op == "MatMul" && cx->second.rank() != 2) continue;
    auto w = std::make_shared<QuantWeight>();
    if (!FromDequantizeLinear(cx->second, cs->second, zero, n.Int("axis", 1),
                              row_axis, w.get())) {
      continue;
    }
    g.qweights[out] = std::move(w);
    drop[i] = 1;
    ++found;
  }
  // MatMulNBits without g_idx or bias: MatMul(A, W) with W [K, N] quantized.
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& n = g.nodes[i];
    if (n.op != "MatMulNBits" || n.domain != "com.microsoft" || !n.Has(0) ||
        !n.Has(1) || !n.Has(2) || n.Has(4) || n.Has(5) ||
        n.outputs.size() != 1) {
      continue;
    }
    auto cb = g.constants.find(n.inputs[1]);
    auto cs = g.constants.find(n.inputs[2]);
    const Tensor* zero = nullptr;
    bool ok = cb != g.constants.end() && cs != g.constants.end();
    if (ok && n.Has(3)) {
      auto cz = g.constants.find(n.inputs[3]);
      if (cz == g.constants.end())
        ok = false;
      else
        zero = &cz->second;
    }
    auto w = std::make_shared<QuantWeight>();
    if (!ok || !FromMatMulNBits(n, cb->second, cs->second, zero, w.get())) {
      continue;
    }
    const int wid = g.ValueId(g.value_names[n.outputs[0]] + "/lowbit_weight");
    g.qweights[wid] = std::move(w);
    Node mm;
    mm.op = "MatMul";
    mm.name = n.name;
    mm.inputs = {n.inputs[0], wid};
    mm.outputs = n.outputs;
    n = std::move(mm);
    ++found;
  }
  if (found == 0) return 0;
  std::vector<Node> kept;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (!drop[i]) kept.push_back(std::move(g.nodes[i]));
  }
  g.nodes = std::move(kept);
  g.DropUnread();  // the initializers of the nodes replaced
  return found;
}

int MaterializeQuantWeights(Graph& g) {
  const auto readers = Readers(g);
  int made = 0;
  for (auto it = g.qweights.begin(); it != g.qweights.end();) {
    const int v = it->first;
    bool ok = !IsGraphOutput(g, v);
    for (const auto& [node, k] : readers[v]) {
      ok = ok && WeightSlotAxis(g.nodes[node], k) >= 0;
    }
    if (ok) {
      ++it;
      continue;
    }
    Tensor t = Tensor::Zeros(DType::kF32, it->second->shape);
    it->second->Decode(t.data<float>());
    g.constants[v] = std::move(t);
    it = g.qweights.erase(it);
    ++made;
  }
  return made;
}

int PrepareFastWeights(Graph& g) {
  const auto readers = Readers(g);
  int made = 0;
  for (auto& [v, w] : g.qweights) {
    if (w->fast != nullptr || !QGemmSupports(w->q)) continue;
    bool ok = !readers[v].empty();
    for (const auto& [node, k] : readers[v]) {
      const Node& n = g.nodes[node];
      ok = ok && WeightSlotAxis(n, k) == w->axis &&
           (n.op != "Conv" || n.Int("group", 1) == 1) &&
           (n.op != "MatMul" || w->shape.size() == 2);
    }
    if (!ok) continue;
    auto prepared = PrepareQGemm(w->q);
    if (!prepared.ok()) continue;
    w->fast = std::make_shared<const QGemmWeight>(std::move(*prepared));
    w->q.codes.clear();
    w->q.codes.shrink_to_fit();
    ++made;
  }
  return made;
}

}  // namespace lowbit::graph
