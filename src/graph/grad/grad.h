// Reverse-mode gradients of the engine's operators: for a node, given its
// forward inputs and outputs and d(loss)/d(outputs), the gradients of the
// inputs that need one. One GradFn per operator, in the table of
// graph/grad/registry.cc (as graph/ops/registry.cc for the kernels); an
// operator without one has no gradient, and graph/autodiff.h refuses a model
// that would need it, by name, before it runs. Kernels are f32, as the
// forward ones; gradients of integer inputs (shapes, indices) are never asked.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "core/workspace.h"
#include "graph/ir.h"
#include "graph/tensor.h"

namespace lowbit::graph {

class GradContext {
 public:
  GradContext(const Graph& g, const Node& n, std::vector<const Tensor*> in,
              std::vector<const Tensor*> out, std::vector<const Tensor*> dout,
              std::vector<bool> need, ThreadPool& pool, Workspace& ws)
      : graph_(g),
        node_(n),
        in_(std::move(in)),
        out_(std::move(out)),
        dout_(std::move(dout)),
        need_(std::move(need)),
        din_(in_.size()),
        pool_(pool),
        ws_(ws) {}
  const Node& node() const { return node_; }
  const Graph& graph() const { return graph_; }
  int num_inputs() const { return static_cast<int>(in_.size()); }
  bool has(int k) const { return k < num_inputs() && in_[k] != nullptr; }
  const Tensor& in(int k) const { return *in_[k]; }
  const Tensor& out(int k) const { return *out_[k]; }
  // d(loss)/d(output k), or null when no gradient reaches that output.
  const Tensor* dout(int k) const {
    return k < static_cast<int>(dout_.size()) ? dout_[k] : nullptr;
  }
  // Whether input k needs its gradient (it depends on a parameter).
  bool need(int k) const { return k < num_inputs() && need_[k]; }
  // Input k's gradient, zero-filled with the input's shape: the GradFn adds
  // into it.
  Tensor& din(int k) {
    if (!din_[k].defined() || din_[k].numel() != in_[k]->numel()) {
      din_[k] = Tensor::Zeros(DType::kF32, in_[k]->shape());
    }
    return din_[k];
  }
  // Input k's gradient not yet filled, for a GradFn that writes every
  // element of it (=, not +=); before any din(k) of the same input.
  Tensor& DinToWrite(int k) {
    if (!din_[k].defined() || din_[k].numel() != in_[k]->numel()) {
      din_[k] = Tensor::OnBuffer(
          DType::kF32, in_[k]->shape(),
          AllocateBytes(in_[k]->numel() * ElementBytes(DType::kF32)));
    }
    return din_[k];
  }
  Tensor TakeDin(int k) { return std::move(din_[k]); }
  ThreadPool& pool() { return pool_; }
  Workspace& ws() { return ws_; }
  Status Fail(const std::string& message) const {
    return InvalidArgument(graph_.NodeLabel(node_) + ": " + message);
  }

 private:
  const Graph& graph_;
  const Node& node_;
  std::vector<const Tensor*> in_, out_, dout_;
  std::vector<bool> need_;
  std::vector<Tensor> din_;
  ThreadPool& pool_;
  Workspace& ws_;
};

using GradFn = Status (*)(GradContext& c);

struct GradSchema {
  const char* name = "";  // ai.onnx operator
  GradFn fn = nullptr;
  // Inputs that never take a gradient (shapes, axes, indices): a parameter
  // reaching only these is not differentiated through the node.
  std::vector<int> non_differentiable;
};

// The gradient of op (ai.onnx), or null.
const GradSchema* FindGrad(const std::string& domain, const std::string& op);
// Every operator with a gradient, sorted (for --help and messages).
std::vector<std::string> OpsWithGradients();

// The gradient families, one file each under graph/grad/.
void AddLinearGrads(std::vector<GradSchema>& t);       // linear_grad.cc
void AddElementwiseGrads(std::vector<GradSchema>& t);  // elementwise_grad.cc
void AddPoolGrads(std::vector<GradSchema>& t);         // pool_grad.cc
void AddShapeGrads(std::vector<GradSchema>& t);        // shape_grad.cc
void AddNormGrads(std::vector<GradSchema>& t);         // norm_grad.cc
void AddResizeGrads(std::vector<GradSchema>& t);       // resize_grad.cc

// d(loss)/d(input) of an input of shape `in` broadcast to `g`'s shape: g
// summed over the broadcast dimensions, into `out` (in's shape, added to).
void SumToShape(const Tensor& g, const Shape& in, Tensor* out);

}  // namespace lowbit::graph
