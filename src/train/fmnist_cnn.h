// The Fashion-MNIST CNN of issue 15, as an ONNX model: input x f32
// [N, 1, 28, 28] (pixel / 255), normalised in the graph ((x - 0.2860) /
// 0.3530, the training images' mean and deviation), Conv 3x3 (32, no padding)
// -> Relu -> MaxPool 2x2 -> Conv 3x3 (64) -> Relu -> MaxPool 2x2 -> Flatten
// (1600) -> Gemm (128) -> Relu -> Gemm (10): output `logits` [N, 10]. 225,034
// parameters (the initializers named *.weight and *.bias; the normalisation's
// two constants are not trained), initialised as PyTorch initialises Conv2d and
// Linear (uniform in
// +-1/sqrt(fan_in), from `seed`).
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>

namespace lowbit {

// batchnorm: a BatchNormalization after each convolution (before its Relu;
// scale 1, bias 0, running mean 0 and variance 1 to start, momentum 0.9):
// --arch fmnist-cnn-bn, 225,226 parameters.
onnx::ModelProto FashionMnistCnn(uint64_t seed, bool batchnorm = false);

}  // namespace lowbit
