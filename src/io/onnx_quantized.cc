#include "io/onnx_quantized.h"

#include <onnx/onnx_pb.h>

#include <cstring>
#include <vector>

#include "core/half.h"
#include "formats/bitpack.h"
#include "io/onnx_awq_fold.h"
#include "io/onnx_lowbit_weights.h"
#include "kernels/dequant.h"

namespace lowbit {
namespace {

using Dims = std::vector<int64_t>;

onnx::TensorProto* AddInit(onnx::GraphProto& g, const std::string& name,
                           int type, const Dims& dims, const void* data,
                           size_t bytes, int64_t* stored) {
  onnx::TensorProto* t = g.add_initializer();
  t->set_name(name);
  t->set_data_type(type);
  for (int64_t d : dims) t->add_dims(d);
  t->set_raw_data(data, bytes);
  *stored += static_cast<int64_t>(bytes);
  return t;
}

struct Nodes {
  std::vector<onnx::NodeProto> list;
  onnx::NodeProto& Add(const std::string& op, std::vector<std::string> in,
                       const std::string& out, const std::string& domain = "") {
    onnx::NodeProto& n = list.emplace_back();
    n.set_op_type(op);
    n.set_name(out + "/" + op);
    if (!domain.empty()) n.set_domain(domain);
    for (auto& s : in) n.add_input(s);
    n.add_output(out);
    return n;
  }
};

void AttrInt(onnx::NodeProto& n, const std::string& name, int64_t v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

void AttrInts(onnx::NodeProto& n, const std::string& name, const Dims& v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

void RemoveWeight(onnx::GraphProto& g, const std::string& name) {
  auto* inits = g.mutable_initializer();
  for (int i = 0; i < inits->size(); ++i) {
    if (inits->Get(i).name() == name) {
      inits->DeleteSubrange(i, 1);
      break;
    }
  }
  auto* inputs = g.mutable_input();  // old IR versions list initializers too
  for (int i = 0; i < inputs->size(); ++i) {
    if (inputs->Get(i).name() == name) {
      inputs->DeleteSubrange(i, 1);
      break;
    }
  }
}

void EnsureMicrosoftOpset(onnx::ModelProto& m) {
  for (const auto& op : m.opset_import()) {
    if (op.domain() == "com.microsoft") return;
  }
  auto* op = m.add_opset_import();
  op->set_domain("com.microsoft");
  op->set_version(1);
}

// Prepends the new nodes: they read only initializers, so any position before
// their consumers keeps the graph sorted.
void Prepend(onnx::GraphProto& g, Nodes& nodes) {
  google::protobuf::RepeatedPtrField<onnx::NodeProto> all;
  for (auto& n : nodes.list) *all.Add() = std::move(n);
  for (auto& n : *g.mutable_node()) *all.Add() = std::move(n);
  g.mutable_node()->Swap(&all);
}

std::vector<uint8_t> Codes(const QuantizedTensor& q) {
  std::vector<uint8_t> c(static_cast<size_t>(q.rows * q.cols));
  for (int64_t r = 0; r < q.rows; ++r) {
    UnpackBits(q.codes.data() + r * q.code_row_bytes(), q.cols, q.scheme.bits,
               c.data() + r * q.cols);
  }
  return c;
}

std::vector<uint8_t> Zeros(const QuantizedTensor& q) {
  const int64_t gpr = q.groups_per_row();
  std::vector<uint8_t> z(static_cast<size_t>(q.scale_rows() * gpr));
  for (int64_t r = 0; r < q.scale_rows(); ++r) {
    UnpackBits(q.zeros.data() + r * q.zero_row_bytes(), gpr, q.scheme.bits,
               z.data() + r * gpr);
  }
  return z;
}

// Permutation that turns the axis-first shape back into the original one.
Dims BackPerm(int rank, int axis) {
  Dims p(static_cast<size_t>(rank));
  for (int j = 0; j < rank; ++j) p[j] = j < axis ? j + 1 : (j == axis ? 0 : j);
  return p;
}

Dims FrontShape(const Shape& s, int axis) {
  Dims p{s[axis]};
  for (int j = 0; j < static_cast<int>(s.size()); ++j) {
    if (j != axis) p.push_back(s[j]);
  }
  return p;
}

void Reorder(const float* x, const Shape& shape, int axis, float* out,
             bool to_front) {
  // An empty tensor's buffers may be null: nothing to move (memcpy must not
  // see a null pointer even for zero bytes), and its other dimensions may be
  // too large to multiply.
  for (int64_t d : shape) {
    if (d <= 0) return;
  }
  int64_t outer = 1, inner = 1;
  for (int j = 0; j < axis; ++j) outer *= shape[j];
  for (size_t j = axis + 1; j < shape.size(); ++j) inner *= shape[j];
  const int64_t a = shape[axis];
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t k = 0; k < a; ++k) {
      const float* src =
          to_front ? x + (o * a + k) * inner : x + (k * outer + o) * inner;
      float* dst =
          to_front ? out + (k * outer + o) * inner : out + (o * a + k) * inner;
      std::memcpy(dst, src, static_cast<size_t>(inner) * sizeof(float));
    }
  }
}

// The axis lowbit's groups run along when they can be DequantizeLinear blocks:
// the only other dimension longer than 1 (MatMul's K, Gemm's K, a 1x1 Conv's
// input channels); -1 when there is none or several.
int BlockAxis(const Shape& shape, int axis) {
  int b = -1;
  for (int j = 0; j < static_cast<int>(shape.size()); ++j) {
    if (j == axis || shape[j] == 1) continue;
    if (b >= 0) return -1;
    b = j;
  }
  return b;
}

bool IsFp8(const QuantizedTensor& q) {
  return q.scheme.kind == SchemeKind::kFp8E4M3 ||
         q.scheme.kind == SchemeKind::kFp8E5M2;
}

Result<OnnxWritten> WriteQdq(onnx::ModelProto& m, int64_t opset,
                             const std::string& name, const Shape& shape,
                             int axis, const QuantizedTensor& q) {
  onnx::GraphProto& g = *m.mutable_graph();
  OnnxWritten w{OnnxEncoding::kQdq, "", 0};
  const bool per_tensor = q.granularity == Granularity::kTensor;
  const bool blocked = q.granularity == Granularity::kGroup;
  const bool fp8 = IsFp8(q);
  const bool asym = !fp8 && !q.symmetric;
  const bool nibbles = !fp8 && q.scheme.bits <= 4 && opset >= 21;
  const int64_t half = fp8 ? 0 : int64_t{1} << (q.scheme.bits - 1);
  // Codes back in the original layout: int8/int4 (c - 2^(b-1)), uint8/uint4
  // (c, asymmetric) or the FP8 bytes themselves.
  const std::vector<uint8_t> c = Codes(q);
  std::vector<float> cf(c.begin(), c.end()), back(c.size());
  Reorder(cf.data(), shape, axis, back.data(), /*to_front=*/false);
  std::vector<uint8_t> x(back.size());
  for (size_t i = 0; i < back.size(); ++i) {
    const int v = static_cast<int>(back[i]);
    x[i] = static_cast<uint8_t>(asym || fp8 ? v : v - half);
  }
  int type = asym ? onnx::TensorProto::UINT8 : onnx::TensorProto::INT8;
  if (nibbles) type = asym ? 21 : 22;  // UINT4, INT4
  if (fp8) type = q.scheme.kind == SchemeKind::kFp8E4M3 ? 17 : 19;
  auto pack = [&](const std::vector<uint8_t>& v) {
    if (!nibbles) return v;
    std::vector<uint8_t> p((v.size() + 1) / 2, 0);  // first element low
    for (size_t i = 0; i < v.size(); ++i) {
      p[i / 2] |= static_cast<uint8_t>((v[i] & 15) << (4 * (i % 2)));
    }
    return p;
  };
  const Dims dims(shape.begin(), shape.end());
  RemoveWeight(g, name);
  const std::vector<uint8_t> xp = pack(x);
  AddInit(g, name + "/lowbit_q", type, dims, xp.data(), xp.size(),
          &w.stored_bytes);
  // Scales (and zero points): scalar, [channels], or the weight's shape with
  // the block axis divided into groups.
  Dims sdims;
  std::vector<float> scale = q.scales;
  std::vector<uint8_t> zp(q.scales.size(), 0);
  if (asym) zp = Zeros(q);
  const int b = blocked ? BlockAxis(shape, axis) : -1;
  if (!per_tensor && !blocked) sdims = Dims{q.rows};
  if (blocked) {
    const int64_t G = q.groups_per_row();
    sdims = dims;
    sdims[b] = G;
    // Row-major positions of (channel r, group k) in sdims.
    std::vector<int64_t> stride(sdims.size(), 1);
    for (int j = static_cast<int>(sdims.size()) - 2; j >= 0; --j) {
      stride[j] = stride[j + 1] * sdims[j + 1];
    }
    const int64_t stride_axis = stride[axis], stride_b = stride[b];
    std::vector<float> s2(scale.size());
    std::vector<uint8_t> z2(zp.size());
    for (int64_t r = 0; r < q.rows; ++r) {
      for (int64_t k = 0; k < G; ++k) {
        s2[r * stride_axis + k * stride_b] = scale[r * G + k];
        z2[r * stride_axis + k * stride_b] = zp[r * G + k];
      }
    }
    scale = std::move(s2);
    zp = std::move(z2);
  }
  AddInit(g, name + "/lowbit_scale", onnx::TensorProto::FLOAT, sdims,
          scale.data(), scale.size() * sizeof(float), &w.stored_bytes);
  if (!fp8 && !asym) {
    for (auto& v : zp) v = 0;
  }
  const std::vector<uint8_t> zpp = pack(zp);
  AddInit(g, name + "/lowbit_zero", type, sdims, zpp.data(), zpp.size(),
          &w.stored_bytes);
  const int64_t need = blocked || nibbles ? 21
                       : fp8              ? 19
                       : per_tensor       ? 10
                                          : 13;
  const bool standard = opset >= need;
  Nodes nodes;
  auto& n = nodes.Add(
      "DequantizeLinear",
      {name + "/lowbit_q", name + "/lowbit_scale", name + "/lowbit_zero"}, name,
      standard ? "" : "com.microsoft");
  if (blocked) {
    AttrInt(n, "axis", b);
    AttrInt(n, "block_size", q.group_size);
  } else if (!per_tensor) {
    AttrInt(n, "axis", axis);
  }
  if (!standard) EnsureMicrosoftOpset(m);
  w.op = standard ? "DequantizeLinear" : "com.microsoft.DequantizeLinear";
  if (nibbles) w.op += asym ? " (uint4)" : " (int4)";
  if (fp8) w.op += " (fp8)";
  if (blocked) w.op += " blocked";
  Prepend(g, nodes);
  return w;
}

// MatMul(A, W) with W [K, N] becomes com.microsoft MatMulNBits(A, B, scales
// [, zero_points]): B [N, blocks, block_size * bits / 8] holds each output
// column's codes along K, LSB first, block by block; the default zero point is
// 2^(bits - 1), lowbit's symmetric zero.
Result<OnnxWritten> WriteMatMulNBits(onnx::ModelProto& m,
                                     const std::string& name,
                                     const Shape& shape,
                                     const QuantizedTensor& q) {
  onnx::GraphProto& g = *m.mutable_graph();
  onnx::NodeProto* matmul = nullptr;
  int uses = 0;
  for (auto& n : *g.mutable_node()) {
    for (const auto& in : n.input()) uses += in == name;
    if (n.op_type() == "MatMul" && n.domain().empty() && n.input_size() == 2 &&
        n.input(1) == name) {
      matmul = &n;
    }
  }
  // The rank first: shape[1] exists only for rank-2 weights.
  const bool rank2 = shape.size() == 2;
  const int64_t K = rank2 ? shape[0] : 0, N = rank2 ? shape[1] : 0;
  const int bits = q.scheme.bits;
  const int64_t bs = q.granularity == Granularity::kGroup ? q.group_size : K;
  if (matmul == nullptr || uses != 1 || !rank2 || q.rows != N ||
      q.scheme.kind != SchemeKind::kInt ||
      (bits != 2 && bits != 4 && bits != 8) ||
      q.granularity != Granularity::kGroup || bs < 16 || (bs & (bs - 1)) != 0) {
    return InvalidArgument(
        "weight '" + name +
        "': MatMulNBits takes the B of a single MatMul, 2, 4 or 8-bit "
        "integers in groups of a power of two >= 16 (--group-size)");
  }
  OnnxWritten w{OnnxEncoding::kMatMulNBits, "com.microsoft.MatMulNBits", 0};
  const int64_t blocks = (K + bs - 1) / bs, blob = bs * bits / 8;
  const std::vector<uint8_t> c = Codes(q);
  std::vector<uint8_t> B(static_cast<size_t>(N * blocks * blob), 0);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t k = 0; k < K; ++k) {
      const int64_t bit = (k % bs) * bits;
      B[(n * blocks + k / bs) * blob + bit / 8] |=
          static_cast<uint8_t>(c[n * K + k] << (bit % 8));
    }
  }
  RemoveWeight(g, name);
  const std::string p = name + "/lowbit_";
  AddInit(g, p + "B", onnx::TensorProto::UINT8, Dims{N, blocks, blob}, B.data(),
          B.size(), &w.stored_bytes);
  AddInit(g, p + "scales", onnx::TensorProto::FLOAT, Dims{N * blocks},
          q.scales.data(), q.scales.size() * 4, &w.stored_bytes);
  matmul->set_input(1, p + "B");
  matmul->add_input(p + "scales");
  if (!q.symmetric && q.zero_type == ZeroType::kF16) {
    // Float zero points, one per block (the type of the scales).
    std::vector<float> z(static_cast<size_t>(N * blocks));
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t k = 0; k < blocks; ++k)
        z[n * blocks + k] = ZeroPointAt(q, n, k);
    }
    AddInit(g, p + "zero_points", onnx::TensorProto::FLOAT, Dims{N * blocks},
            z.data(), z.size() * 4, &w.stored_bytes);
    matmul->add_input(p + "zero_points");
  } else if (!q.symmetric) {
    const std::vector<uint8_t> z = Zeros(q);
    const int64_t zrow = (blocks * bits + 7) / 8;
    std::vector<uint8_t> zp(static_cast<size_t>(N * zrow), 0);
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t k = 0; k < blocks; ++k) {
        const int64_t bit = k * bits;
        zp[n * zrow + bit / 8] |=
            static_cast<uint8_t>(z[n * blocks + k] << (bit % 8));
      }
    }
    AddInit(g, p + "zero_points", onnx::TensorProto::UINT8, Dims{N * zrow},
            zp.data(), zp.size(), &w.stored_bytes);
    matmul->add_input(p + "zero_points");
  }
  matmul->set_op_type("MatMulNBits");
  matmul->set_domain("com.microsoft");
  AttrInt(*matmul, "K", K);
  AttrInt(*matmul, "N", N);
  AttrInt(*matmul, "bits", bits);
  AttrInt(*matmul, "block_size", bs);
  EnsureMicrosoftOpset(m);
  return w;
}

Result<OnnxWritten> WriteDecode(onnx::ModelProto& m, int64_t opset,
                                const std::string& name, const Shape& shape,
                                int axis, const QuantizedTensor& q) {
  onnx::GraphProto& g = *m.mutable_graph();
  OnnxWritten w{OnnxEncoding::kDecode, "", 0};
  const int64_t R = q.rows, C = q.cols, G = q.groups_per_row();
  const bool grouped = q.granularity == Granularity::kGroup && G > 1;
  const int64_t gs = grouped ? q.group_size : C;
  const int64_t Cp = grouped ? G * gs : C;  // padded columns
  const bool per_tensor = q.granularity == Granularity::kTensor;
  const std::string p = name + "/lowbit_";
  // Codes, padded to whole groups when the last group is short.
  const std::vector<uint8_t> c = Codes(q);
  std::vector<uint8_t> codes(static_cast<size_t>(R * Cp), 0);
  for (int64_t r = 0; r < R; ++r) {
    std::memcpy(codes.data() + r * Cp, c.data() + r * C,
                static_cast<size_t>(C));
  }
  Dims cdims = grouped ? Dims{R, G, gs} : Dims{R, C};
  const Dims sdims =
      per_tensor ? Dims{} : (grouped ? Dims{R, G, 1} : Dims{R, 1});
  RemoveWeight(g, name);
  Nodes nodes;
  // Slice of the first `end` entries along `axis` (attributes before opset
  // 10, inputs from 10).
  auto slice_first = [&](const std::string& in, int64_t axis, int64_t end,
                         const std::string& out) {
    if (opset >= 10) {
      const int64_t z = 0;
      AddInit(g, out + "_start", onnx::TensorProto::INT64, {1}, &z, 8,
              &w.stored_bytes);
      AddInit(g, out + "_end", onnx::TensorProto::INT64, {1}, &end, 8,
              &w.stored_bytes);
      AddInit(g, out + "_axis", onnx::TensorProto::INT64, {1}, &axis, 8,
              &w.stored_bytes);
      nodes.Add("Slice", {in, out + "_start", out + "_end", out + "_axis"},
                out);
    } else {
      auto& n = nodes.Add("Slice", {in}, out);
      AttrInts(n, "starts", {0});
      AttrInts(n, "ends", {end});
      AttrInts(n, "axes", {axis});
    }
  };
  auto add_shape = [&](const Dims& to, const std::string& out) {
    std::vector<int64_t> v(to.begin(), to.end());
    AddInit(g, out, onnx::TensorProto::INT64,
            Dims{static_cast<int64_t>(v.size())}, v.data(), v.size() * 8,
            &w.stored_bytes);
  };
  // Codes of 1, 2 or 4 bits go 8, 4 or 2 per byte: the flat code array is
  // cut into `per` equal segments (the last one padded), and byte i holds
  // element i of segment j at bits [j*b, (j+1)*b). Opset 9 has no bit
  // operators, so the unpacking is float arithmetic, exact on 0..255:
  // t_0 = byte, t_(j+1) = floor(t_j / 2^b), code_j = t_j - 2^b t_(j+1); the
  // segments are concatenated and the padding sliced off. Codes of 3, 5, 6
  // and 7 bits are split into bit planes of 4, 2 and 1 bits (3 = 2 + 1,
  // 5 = 4 + 1, 6 = 4 + 2, 7 = 4 + 2 + 1, low bits first), each packed so,
  // and summed back with their weights 2^offset: every code takes exactly its
  // bits.
  const int64_t total = static_cast<int64_t>(codes.size());
  // Unpacks plane values (each < 2^width) into the flat float tensor `out`.
  auto unpack_plane = [&](const std::vector<uint8_t>& vals, int width,
                          const std::string& tag) {
    const int per = 8 / width;
    const int64_t seg = (total + per - 1) / per;
    std::vector<uint8_t> packed(static_cast<size_t>(seg), 0);
    for (int64_t i = 0; i < total; ++i) {
      packed[i % seg] |= static_cast<uint8_t>(vals[i] << (width * (i / seg)));
    }
    const std::string pt = p + tag;
    AddInit(g, pt + "codes_packed", onnx::TensorProto::UINT8, Dims{seg},
            packed.data(), packed.size(), &w.stored_bytes);
    std::string t = pt + "unpack_0";
    AttrInt(nodes.Add("Cast", {pt + "codes_packed"}, t), "to",
            onnx::TensorProto::FLOAT);
    const float radix = static_cast<float>(1 << width);
    AddInit(g, pt + "radix", onnx::TensorProto::FLOAT, {}, &radix, 4,
            &w.stored_bytes);
    std::vector<std::string> parts;
    for (int j = 0; j < per; ++j) {
      if (j == per - 1) {
        parts.push_back(t);
        break;
      }
      const std::string k = std::to_string(j);
      nodes.Add("Div", {t, pt + "radix"}, pt + "unpack_div" + k);
      const std::string next = pt + "unpack_" + std::to_string(j + 1);
      nodes.Add("Floor", {pt + "unpack_div" + k}, next);
      nodes.Add("Mul", {next, pt + "radix"}, pt + "unpack_up" + k);
      nodes.Add("Sub", {t, pt + "unpack_up" + k}, pt + "code_seg" + k);
      parts.push_back(pt + "code_seg" + k);
      t = next;
    }
    AttrInt(nodes.Add("Concat", parts, pt + "codes_flat"), "axis", 0);
    std::string flat = pt + "codes_flat";
    if (seg * per != total) {
      slice_first(flat, 0, total, pt + "codes_cut");
      flat = pt + "codes_cut";
    }
    return flat;
  };
  const std::vector<int> widths = CodePlaneWidths(q.scheme.bits);
  if (widths.size() == 1 && widths[0] < 8) {
    const std::string flat = unpack_plane(codes, widths[0], "");
    add_shape(cdims, p + "codes_shape");
    nodes.Add("Reshape", {flat, p + "codes_shape"}, p + "codes_f");
  } else if (widths.size() > 1) {
    std::string sum;
    int offset = 0;
    std::vector<uint8_t> vals(static_cast<size_t>(total));
    for (size_t k = 0; k < widths.size(); ++k) {
      const int wdt = widths[k];
      for (int64_t i = 0; i < total; ++i) {
        vals[i] = static_cast<uint8_t>((codes[i] >> offset) & ((1 << wdt) - 1));
      }
      const std::string tag = "plane" + std::to_string(k) + "_";
      std::string flat = unpack_plane(vals, wdt, tag);
      if (offset > 0) {
        const float weight = static_cast<float>(1 << offset);
        AddInit(g, p + tag + "weight", onnx::TensorProto::FLOAT, {}, &weight, 4,
                &w.stored_bytes);
        nodes.Add("Mul", {flat, p + tag + "weight"}, p + tag + "weighted");
        flat = p + tag + "weighted";
      }
      if (sum.empty()) {
        sum = flat;
      } else {
        nodes.Add("Add", {sum, flat}, p + tag + "sum");
        sum = p + tag + "sum";
      }
      offset += wdt;
    }
    add_shape(cdims, p + "codes_shape");
    nodes.Add("Reshape", {sum, p + "codes_shape"}, p + "codes_f");
  } else {
    AddInit(g, p + "codes", onnx::TensorProto::UINT8, cdims, codes.data(),
            codes.size(), &w.stored_bytes);
    AttrInt(nodes.Add("Cast", {p + "codes"}, p + "codes_f"), "to",
            onnx::TensorProto::FLOAT);
  }
  std::string cur;
  const SchemeKind kind = q.scheme.kind;
  if (kind == SchemeKind::kInt) {
    std::string zero = p + "zero";
    if (q.symmetric) {
      const float z = static_cast<float>(int64_t{1} << (q.scheme.bits - 1));
      AddInit(g, zero, onnx::TensorProto::FLOAT, {}, &z, 4, &w.stored_bytes);
    } else if (q.zero_type == ZeroType::kF16) {  // stored as they are
      AddInit(g, p + "zero_f16", onnx::TensorProto::FLOAT16, sdims,
              q.zeros.data(), q.zeros.size(), &w.stored_bytes);
      AttrInt(nodes.Add("Cast", {p + "zero_f16"}, zero), "to",
              onnx::TensorProto::FLOAT);
    } else {
      const std::vector<uint8_t> z = Zeros(q);
      AddInit(g, p + "zero_u8", onnx::TensorProto::UINT8, sdims, z.data(),
              z.size(), &w.stored_bytes);
      AttrInt(nodes.Add("Cast", {p + "zero_u8"}, zero), "to",
              onnx::TensorProto::FLOAT);
    }
    nodes.Add("Sub", {p + "codes_f", zero}, p + "levels");
    w.op = "Cast+Sub+Mul";
  } else {
    AttrInt(nodes.Add("Cast", {p + "codes_f"}, p + "index"), "to",
            onnx::TensorProto::INT64);
    const int64_t K = q.levels();
    std::string index = p + "index";
    std::vector<float> table;
    if (kind == SchemeKind::kKmeans) {
      table = q.codebook;
      if (q.scale_rows() > 1) {  // one codebook per row: offset the index
        std::vector<int64_t> off(static_cast<size_t>(R));
        for (int64_t r = 0; r < R; ++r) off[r] = r * K;
        AddInit(g, p + "row_offset", onnx::TensorProto::INT64,
                grouped ? Dims{R, 1, 1} : Dims{R, 1}, off.data(),
                off.size() * 8, &w.stored_bytes);
        nodes.Add("Add", {index, p + "row_offset"}, p + "row_index");
        index = p + "row_index";
      }
    } else {
      const auto lv = q.scheme.Levels();
      table.assign(lv.begin(), lv.end());
    }
    AddInit(g, p + "table", onnx::TensorProto::FLOAT,
            Dims{static_cast<int64_t>(table.size())}, table.data(),
            table.size() * 4, &w.stored_bytes);
    nodes.Add("Gather", {p + "table", index}, p + "levels");
    w.op = kind == SchemeKind::kKmeans ? "Gather" : "Gather+Mul";
  }
  cur = p + "levels";
  if (kind != SchemeKind::kKmeans) {
    // Scales: f16 values stay f16 on disk and are cast; others f32.
    std::string scale = p + "scale";
    if (q.scale_type == ScaleType::kF16) {
      std::vector<uint16_t> h(q.scales.size());
      for (size_t i = 0; i < h.size(); ++i) h[i] = F32ToF16(q.scales[i]);
      AddInit(g, p + "scale_f16", onnx::TensorProto::FLOAT16, sdims, h.data(),
              h.size() * 2, &w.stored_bytes);
      AttrInt(nodes.Add("Cast", {p + "scale_f16"}, scale), "to",
              onnx::TensorProto::FLOAT);
    } else {
      AddInit(g, scale, onnx::TensorProto::FLOAT, sdims, q.scales.data(),
              q.scales.size() * 4, &w.stored_bytes);
    }
    nodes.Add("Mul", {cur, scale}, p + "values");
    cur = p + "values";
  }
  auto reshape = [&](const Dims& to, const std::string& out) {
    add_shape(to, out + "_shape");
    nodes.Add("Reshape", {cur, out + "_shape"}, out);
    cur = out;
  };
  if (Cp != C) {  // drop the padding of the last group
    reshape(Dims{R, Cp}, p + "padded");
    slice_first(cur, 1, C, p + "sliced");
    cur = p + "sliced";
  }
  const Dims front = FrontShape(shape, axis);
  const int rank = static_cast<int>(shape.size());
  if (axis == 0) {
    reshape(front, name);
  } else {
    reshape(front, p + "front");
    AttrInts(nodes.Add("Transpose", {cur}, name), "perm", BackPerm(rank, axis));
  }
  Prepend(g, nodes);
  // The record that lets lowbit's engine keep the codes
  // (io/onnx_lowbit_weights.h).
  auto* meta = m.add_metadata_props();
  meta->set_key(LowbitWeightKey(name));
  meta->set_value(LowbitWeightRecord(q, shape, axis));
  return w;
}

}  // namespace

const char* OnnxEncodingName(OnnxEncoding e) {
  switch (e) {
    case OnnxEncoding::kQdq:
      return "qdq";
    case OnnxEncoding::kDecode:
      return "decode";
    case OnnxEncoding::kFloat:
      return "float";
    case OnnxEncoding::kMatMulNBits:
      return "matmulnbits";
  }
  return "?";
}

bool CanWriteQdq(const QuantizedTensor& q, int64_t opset, const Shape& shape,
                 int axis) {
  if (IsFp8(q)) {
    if (q.granularity == Granularity::kGroup) {
      return opset >= 21 && BlockAxis(shape, axis) >= 0;
    }
    return opset >= 19;
  }
  if (q.scheme.kind != SchemeKind::kInt || q.scheme.bits > 8) return false;
  if (!HasCodeZeros(q)) return false;  // DequantizeLinear: integer zero points
  if (q.granularity == Granularity::kGroup) {
    return opset >= 21 && BlockAxis(shape, axis) >= 0;
  }
  return true;
}

std::vector<float> AxisToFront(const float* x, const Shape& shape, int axis) {
  if (axis < 0 || axis >= static_cast<int>(shape.size())) return {};
  std::vector<float> out(static_cast<size_t>(NumElements(shape)));
  Reorder(x, shape, axis, out.data(), true);
  return out;
}

std::vector<float> AxisFromFront(const float* x, const Shape& shape, int axis) {
  if (axis < 0 || axis >= static_cast<int>(shape.size())) return {};
  std::vector<float> out(static_cast<size_t>(NumElements(shape)));
  Reorder(x, shape, axis, out.data(), false);
  return out;
}

Status InsertInputScale(onnx::ModelProto& m, const std::string& weight,
                        const std::vector<float>& s, int weight_rank,
                        int64_t* stored_bytes, std::string* placed) {
  onnx::GraphProto& g = *m.mutable_graph();
  std::vector<float> inv(s.size());
  for (size_t i = 0; i < s.size(); ++i) inv[i] = 1.0f / s[i];
  const int64_t n = static_cast<int64_t>(s.size());
  int readers = 0;
  for (int i = 0; i < g.node_size(); ++i) {
    const onnx::NodeProto& nd = g.node(i);
    if (nd.input_size() < 2 || nd.input(1) != weight) continue;
    bool trans_a = false;
    for (const auto& a : nd.attribute()) {
      if (a.name() == "transA" && a.i() != 0) trans_a = true;
    }
    const std::string& op = nd.op_type();
    if (!nd.domain().empty() ||
        (op != "Conv" && op != "MatMul" && (op != "Gemm" || trans_a))) {
      return InvalidArgument("weight '" + weight + "' is read by " + op +
                             (trans_a ? " with transA" : "") +
                             ": its input cannot take AWQ's scales");
    }
    std::string how;
    if (FoldInputScale(g, i, inv, weight_rank, stored_bytes, &how)) {
      if (placed != nullptr) *placed = "folded into " + how;
      ++readers;
      continue;
    }
    if (placed != nullptr) *placed = "Mul";
    const std::string tag =
        weight + "/lowbit_awq" + (readers > 0 ? std::to_string(readers) : "");
    Dims dims = {n};
    if (op == "Conv") {
      dims = {1, n};
      for (int k = 2; k < weight_rank; ++k) dims.push_back(1);
    }
    AddInit(g, tag + "_inv_scale", onnx::TensorProto::FLOAT, dims, inv.data(),
            inv.size() * 4, stored_bytes);
    onnx::NodeProto mul;
    mul.set_op_type("Mul");
    mul.set_name(tag + "_input/Mul");
    mul.add_input(nd.input(0));
    mul.add_input(tag + "_inv_scale");
    mul.add_output(tag + "_input");
    g.mutable_node(i)->set_input(0, tag + "_input");
    // Insert the Mul just before its reader.
    *g.add_node() = mul;
    for (int k = g.node_size() - 1; k > i; --k) {
      g.mutable_node()->SwapElements(k, k - 1);
    }
    ++i;  // the reader moved one place on
    ++readers;
  }
  if (readers == 0) {
    return InvalidArgument("weight '" + weight +
                           "' has no Conv, Gemm or "
                           "MatMul reader for AWQ's scales");
  }
  return Status::Ok();
}

std::vector<int> CodePlaneWidths(int bits) {
  if (bits == 1 || bits == 2 || bits == 4 || bits >= 8) return {bits};
  std::vector<int> widths;
  for (int left = bits; left > 0;) {
    const int w = left >= 4 ? 4 : left >= 2 ? 2 : 1;
    widths.push_back(w);
    left -= w;
  }
  return widths;
}

Result<OnnxWritten> WriteOnnxWeight(onnx::ModelProto& m, int64_t opset,
                                    const std::string& name, const Shape& shape,
                                    int axis, const QuantizedTensor& q,
                                    OnnxEncoding encoding) {
  if (axis < 0 || axis >= static_cast<int>(shape.size()) ||
      q.rows != shape[axis] || q.rows * q.cols != NumElements(shape)) {
    return InvalidArgument("weight '" + name +
                           "': quantized shape does not match");
  }
  if (encoding == OnnxEncoding::kQdq) {
    if (!CanWriteQdq(q, opset, shape, axis)) {
      return InvalidArgument(
          "weight '" + name + "': " + q.scheme.Name() +
          (q.granularity == Granularity::kGroup ? " in groups" : "") +
          (HasCodeZeros(q) ? "" : " with f16 zero points") +
          " has no DequantizeLinear form at opset " + std::to_string(opset) +
          " (integers per tensor or channel with integer zero points; int4 "
          "and blocks along one axis from opset 21; fp8 from 19); use "
          "--onnx-format decode");
    }
    return WriteQdq(m, opset, name, shape, axis, q);
  }
  if (encoding == OnnxEncoding::kDecode) {
    return WriteDecode(m, opset, name, shape, axis, q);
  }
  if (encoding == OnnxEncoding::kMatMulNBits) {
    return WriteMatMulNBits(m, name, shape, q);
  }
  // float: the dequantized values in the original layout.
  const std::vector<float> front = DequantizeFast(q);
  const std::vector<float> back = AxisFromFront(front.data(), shape, axis);
  onnx::GraphProto& g = *m.mutable_graph();
  RemoveWeight(g, name);
  OnnxWritten w{OnnxEncoding::kFloat, "f32", 0};
  AddInit(g, name, onnx::TensorProto::FLOAT, Dims(shape.begin(), shape.end()),
          back.data(), back.size() * 4, &w.stored_bytes);
  return w;
}

}  // namespace lowbit
