// Load-time rewrites of a graph that keep its outputs and save passes over
// memory (run by Session::Create after constant folding):
//  - Conv or ConvTranspose followed by BatchNormalization, or by a
//    per-channel Mul and/or Add of constants (how PaddleOCR exports a folded
//    BatchNormalization), becomes one Conv (ConvTranspose) with rescaled
//    weights and bias;
//  - x * Clip(x + 3, 0, 6) / 6 becomes HardSwish(x);
//  - Conv or ConvTranspose followed by Relu, Clip, HardSigmoid, HardSwish,
//    Sigmoid or LeakyRelu carries the activation in its `lowbit.activation`
//    attribute (applied to each block of outputs while it is in cache).
// A rewrite applies only where the intermediate values have no other reader
// and are not graph outputs. The results differ from the unfused graph by
// float rounding only (the rescaled weights).
#pragma once

#include "graph/ir.h"

namespace lowbit::graph {

struct FuseStats {
  int folded_affine = 0;  // BatchNormalization, Mul, Add folded into Conv
  int hardswish = 0;      // patterns turned into HardSwish
  int activations = 0;    // activations carried by Conv
  int post_affine = 0;    // scalar Mul / Add after a Conv's activation
};

FuseStats FuseGraph(Graph& g);

}  // namespace lowbit::graph
