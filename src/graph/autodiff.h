// Tape: reverse-mode differentiation on the engine's graph. Forward() runs
// every node with the engine's kernels (graph/ops/) and keeps every value;
// Backward() takes d(loss)/d(outputs) and returns the gradients of the
// parameters (constants of the graph, by name) through each node's gradient
// (graph/grad/grad.h), summing where a value feeds several nodes. Create()
// refuses, by node name, an operator without a gradient that a parameter's
// influence passes through, before anything runs. The parameters are the
// graph's own constant tensors: an optimiser updating them in place changes
// the next Forward().
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "core/workspace.h"
#include "graph/ir.h"
#include "graph/op.h"

namespace lowbit::graph {

class Tape {
 public:
  static Result<std::unique_ptr<Tape>> Create(
      std::shared_ptr<Graph> g, const std::vector<std::string>& params,
      ThreadPool& pool);

  // Feeds by input name (every declared input). The graph outputs, in
  // declared order.
  Result<std::vector<Tensor>> Forward(
      const std::map<std::string, Tensor>& feeds);
  // d(loss)/d(output k) for each graph output (an undefined tensor: none),
  // after Forward(). The gradient of every parameter (zeros where no
  // gradient reaches it), by name. With `kept`: also the gradients of the
  // values `keep` names (ids) that a node produces and a parameter
  // influences (others are absent), by value id.
  Result<std::map<std::string, Tensor>> Backward(
      const std::vector<Tensor>& output_grads,
      const std::vector<int>& keep = {}, std::map<int, Tensor>* kept = nullptr);

  // BatchNormalization in training mode (off by default: the running
  // statistics frozen, as the model was exported): every BatchNormalization
  // whose mean and var are constants of the graph normalizes with its
  // batch's statistics in Forward() and Backward() (the gradient through
  // them), and each Forward() moves those constants by (1 - momentum)
  // towards the batch's (ONNX's training_mode = 1). Off again: evaluation
  // with the running statistics. Returns how many nodes it covers.
  int SetBatchNormTraining(bool on);
  bool batchnorm_training() const { return bn_training_; }

  const std::vector<std::string>& params() const { return params_; }
  // A parameter's value, to update in place.
  Tensor& param(const std::string& name);
  Graph& graph() { return *g_; }

 private:
  Tape(std::shared_ptr<Graph> g, ThreadPool& pool)
      : g_(std::move(g)), pool_(pool) {}
  Status Prepare(const std::vector<std::string>& params);

  std::shared_ptr<Graph> g_;
  ThreadPool& pool_;
  Workspace ws_;
  std::vector<std::string> params_;
  std::vector<int> param_ids_;
  std::vector<int> order_;               // node indices, topological
  std::vector<const OpSchema*> schema_;  // by node index
  std::vector<bool> requires_;           // by value id
  std::vector<Tensor> values_;           // by value id, after Forward
  bool forward_done_ = false;
  bool bn_training_ = false;
  // By node index: the training-mode form of a BatchNormalization (its
  // running-statistic outputs given placeholder ids).
  std::map<int, Node> bn_train_nodes_;
};

}  // namespace lowbit::graph
