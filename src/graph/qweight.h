// Quantized weights kept quantized. A Conv, MatMul or Gemm whose weight input
// is a quantized constant (Graph::qweights: lowbit's own decode subgraph,
// recognised by io/onnx_import.cc; DequantizeLinear of initializers,
// recognised here) reads it through KernelContext::qweight instead of a float
// tensor, so that only the codes stay in memory:
//   exact mode  the kernel decodes the weight into its workspace (the float
//               values DequantizeLinear / lowbit's decode would give) and runs
//               the float product: the outputs are those of the dequantized
//               model.
//   fast mode   integer codes go through kernels/qgemm.h: activations
//               quantized to int8 per row, integer products (VNNI).
// Any other reader of such a value (a Transpose of the weight, a graph
// output) gets the decoded floats as an ordinary constant.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"
#include "formats/quantized_tensor.h"
#include "graph/ir.h"
#include "kernels/qgemm.h"

namespace lowbit::graph {

struct QuantWeight {
  QuantizedTensor q;   // output channels first: q.rows = shape[axis]
  Shape shape;         // the float weight's shape
  int axis = 0;        // the output-channel axis of `shape`
  std::string source;  // "lowbit decode", "DequantizeLinear", ...
  // Fast mode: the QGemm layout, made by the session (null: exact only).
  std::shared_ptr<const QGemmWeight> fast;
  // The float weight, row-major in `shape`.
  void Decode(float* out) const;
  // The float weight with the output channels first: q.rows x q.cols, row
  // major (for axis 0 the same as Decode; for a MatMul weight [K, N], N x K).
  void DecodeRows(float* out) const;
  int64_t StoredBytes() const;
};

// The output-channel axis a weight slot needs for QGemm: Conv input 1 -> 0,
// MatMul input 1 (2-D) -> 1, Gemm input 1 -> transB ? 0 : 1; -1 for any
// other slot (such a reader needs the floats).
int WeightSlotAxis(const Node& n, int input);

// DequantizeLinear nodes (ai.onnx or com.microsoft) whose inputs are int8 or
// uint8 initializers, per tensor or per axis, and whose output only weight
// slots read, become quantized constants (their nodes and initializers are
// removed); com.microsoft MatMulNBits nodes (2-, 4-, 8-bit blocks, uint8 zero
// points or none, no g_idx or bias) become MatMul nodes on a quantized
// constant. Returns how many.
int RecognizeDequantizeLinear(Graph& g);

// Quantized constants that some reader cannot take (not a weight slot, a
// graph output) become float constants. Returns how many.
int MaterializeQuantWeights(Graph& g);

// Fast mode: the QGemm layout for every quantized constant of integer codes
// whose readers all take it on the output-channel axis it has (a Conv of one
// group, a 2-D MatMul weight, Gemm's B); its storage codes are then released,
// so that only the QGemm bytes stay. Returns how many were prepared.
int PrepareFastWeights(Graph& g);

}  // namespace lowbit::graph
