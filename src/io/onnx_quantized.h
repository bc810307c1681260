// How a lowbit QuantizedTensor is written into an ONNX graph, so that ONNX
// Runtime computes exactly lowbit's decoded weights. The weight keeps its name:
// it becomes the output of a small decode subgraph instead of an initializer.
//
//   qdq     integer or FP8 codes + DequantizeLinear (per tensor, per channel
//           along the weight's output axis, or blocks). Standard operator from
//           opset 10 (per tensor) / 13 (per axis) / 19 (FP8) / 21 (int4, uint4,
//           blocks); below that ONNX Runtime's com.microsoft DequantizeLinear,
//           which the report names.
//   decode  standard operators at any opset >= 9: uint8 codes, Cast and
//           Sub(zero) for integers or Gather from the level table (nf4, fp4,
//           fp8, binary, ternary, k-means codebooks), Mul by the scales of each
//           row or group, Reshape/Transpose back to the weight's shape.
//   float   the dequantized weights as f32 (simulated quantization: the
//           reference the others are checked against).
//   matmulnbits  a MatMul whose B is the weight becomes ONNX Runtime's
//           com.microsoft MatMulNBits (2, 4 or 8-bit integers in blocks of a
//           power of two >= 16 along K), which computes from the packed codes.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "core/tensor.h"
#include "formats/quantized_tensor.h"

namespace onnx {
class ModelProto;
}

namespace lowbit {

enum class OnnxEncoding { kQdq, kDecode, kFloat, kMatMulNBits };

// "qdq", "decode", "float", "matmulnbits".
const char* OnnxEncodingName(OnnxEncoding e);

// Whether `q` can be written as QDQ at `opset`: integers of at most 8 bits per
// tensor or per channel (int8/uint8 containers; int4/uint4 from opset 21), FP8
// from opset 19, groups as DequantizeLinear blocks from opset 21 when they run
// along the weight's only other dimension longer than 1.
bool CanWriteQdq(const QuantizedTensor& q, int64_t opset, const Shape& shape,
                 int axis);

struct OnnxWritten {
  OnnxEncoding encoding;
  std::string op;  // "DequantizeLinear", "com.microsoft.DequantizeLinear",
                   // "Gather+Mul", ...
  int64_t stored_bytes = 0;  // bytes of the new initializers
};

// Replaces the float initializer `name` of `m` (original `shape`, output
// channels along `axis`) by `q`, which holds the weight with `axis` moved to
// the front, as rows: q.rows = shape[axis], q.cols = the other dimensions in
// order. `opset` is the model's default-domain opset.
Result<OnnxWritten> WriteOnnxWeight(onnx::ModelProto& m, int64_t opset,
                                    const std::string& name, const Shape& shape,
                                    int axis, const QuantizedTensor& q,
                                    OnnxEncoding encoding);

// AWQ's input scaling (quant/awq.h): every Conv, Gemm or MatMul that reads
// `weight` as input 1 gets its input 0 multiplied by 1/s first, one value
// per input channel (a Conv's channels: [1, C, 1...] for a weight of rank
// `weight_rank`; a MatMul's or Gemm's features: [K]), by a Mul node inserted
// just before it ("<weight>/lowbit_awq_*"). InvalidArgument when a reader is
// another operator or a Gemm with transA. Adds the bytes of the new
// initializers to *stored_bytes.
// Where the graph allows, the scales fold into the input's producer instead
// (io/onnx_awq_fold.h); *placed (if given) says which: "Mul" or "folded into
// ...".
Status InsertInputScale(onnx::ModelProto& m, const std::string& weight,
                        const std::vector<float>& s, int weight_rank,
                        int64_t* stored_bytes, std::string* placed = nullptr);

// The bit planes lowbit's decode form stores codes of `bits` bits in, low
// bits first: one plane of 1, 2, 4 or 8 bits, or 3 = 2 + 1, 5 = 4 + 1,
// 6 = 4 + 2, 7 = 4 + 2 + 1 (docs/formats.md §10).
std::vector<int> CodePlaneWidths(int bits);

// Moves `axis` of row-major `x` (of `shape`) to the front; AxisFromFront is
// the inverse. Both return an empty vector when `axis` is not a dimension of
// `shape`.
std::vector<float> AxisToFront(const float* x, const Shape& shape, int axis);
std::vector<float> AxisFromFront(const float* x, const Shape& shape, int axis);

}  // namespace lowbit
