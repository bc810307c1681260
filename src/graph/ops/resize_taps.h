// What Resize (and Upsample) read: per axis, for every output index, the
// input indices and weights of its taps (1 for nearest, 2 linear, 4 cubic)
// and whether it lies outside the input (tf_crop_and_resize: the
// extrapolation value). The kernel (graph/ops/resize.cc) and the gradient
// (graph/grad/resize_grad.cc) share them: y = sum over the taps of the
// product of the axes' weights times x at the taps' indices.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "graph/ir.h"
#include "graph/tensor.h"

namespace lowbit::graph {

struct ResizeTaps {
  int taps = 1;
  std::vector<int64_t> idx;      // [out * taps], clamped into the input
  std::vector<float> w;          // [out * taps]
  std::vector<uint8_t> outside;  // [out]
};

// For node `n` (opset) on x, its inputs 1.. given by `get` (null: absent):
// the taps of every axis and the output shape. An error message, or "".
std::string ResizeAxisTaps(const Node& n, int opset, const Tensor& x,
                           const std::function<const Tensor*(int)>& get,
                           std::vector<ResizeTaps>* taps, Shape* out);

}  // namespace lowbit::graph
