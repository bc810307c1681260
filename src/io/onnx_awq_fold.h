// Folding AWQ's input scales (quant/awq.h) into the operator that produces a
// layer's input, where the graph allows it, instead of a Mul before the
// layer: x / s computed by the producer itself.
//   BatchNormalization (constant scale and B) -> Conv: scale / s, B / s;
//   Mul by a constant, then Add of a constant (a LayerNormalization's affine
//   part, as exporters write it) -> MatMul, Gemm or Conv: both constants / s;
//   Conv -> Conv, MatMul or Gemm -> MatMul or Gemm, optionally through an Add
//   of a bias and a Relu: the producing layer's output channels (weight and
//   bias) / s, in place: the weight keeps its name, so a weight quantized
//   after the fold is quantized with it (QuantizeOnnxModel goes through the
//   layers last first); a producer already quantized keeps the Mul;
// each only when the producer's output is read by this layer alone (and is
// no graph output) and the constants are per channel along the layer's input
// channel axis (the last axis for MatMul and Gemm, axis 1 for Conv), or
// scalars (stored per channel once folded). The
// folded constants are new initializers; the old ones go when nothing else
// reads them.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <vector>

namespace lowbit {

// Folds 1 / s (inv, one per input channel) into the producer of node
// `reader`'s input 0 (a Conv's input has weight_rank axes); false (the graph
// unchanged) when no rule applies. Adds the bytes of the new initializers to
// *stored_bytes and sets *how to what was folded into ("BatchNormalization",
// "Mul+Add").
bool FoldInputScale(onnx::GraphProto& g, int reader,
                    const std::vector<float>& inv, int weight_rank,
                    int64_t* stored_bytes, std::string* how);

}  // namespace lowbit
