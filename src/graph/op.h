// The contract of an operator: an attribute check at load time, type and
// shape inference per input shape, and a kernel. Every operator the engine
// runs has one OpSchema in the table of graph/ops/registry.cc (no
// self-registering objects); an operator outside it is refused by name
// before anything runs.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "core/workspace.h"
#include "graph/ir.h"

namespace lowbit::graph {

// What the plan knows about a value: its type and shape, and its contents when
// they are known before running (constants, and shape computations).
struct ValueType {
  DType dtype = DType::kF32;
  Shape shape;
  const Tensor* value = nullptr;
  // The shape depends on data and is known only once the producer has run
  // (an If whose branches give different shapes): `shape` is meaningless.
  bool dynamic = false;
  bool known() const { return value != nullptr; }
};

// The nested sessions of control-flow operators (If), kept by the Session
// that runs the node: one per subgraph, created at load time. `outer` binds
// the subgraph's Graph::outer_names (every one) to values of the enclosing
// graph.
class SubgraphRunner {
 public:
  // Types of body's outputs for these outer types (known values are used).
  virtual Result<std::vector<ValueType>> InferSubgraph(
      const Graph& body, const std::map<std::string, ValueType>& outer) = 0;
  virtual Result<std::vector<Tensor>> RunSubgraph(
      const Graph& body, const std::map<std::string, Tensor>& outer) = 0;

 protected:
  ~SubgraphRunner() = default;
};

class InferContext {
 public:
  InferContext(const Graph& g, const Node& n, std::vector<const ValueType*> in)
      : graph_(g), node_(n), in_(std::move(in)), out_(n.outputs.size()) {}
  const Node& node() const { return node_; }
  const Graph& graph() const { return graph_; }
  int opset() const { return graph_.opset(); }
  int num_inputs() const { return static_cast<int>(in_.size()); }
  bool has(int k) const { return k < num_inputs() && in_[k] != nullptr; }
  const ValueType& in(int k) const { return *in_[k]; }
  int num_outputs() const { return static_cast<int>(out_.size()); }
  void Set(int k, DType t, Shape s) {
    out_[k].dtype = t;
    out_[k].shape = std::move(s);
  }
  // Output k's shape is known only when the node runs (control flow).
  void SetDynamic(int k, DType t) {
    out_[k].dtype = t;
    out_[k].shape.clear();
    out_[k].dynamic = true;
  }
  // Null outside a Session (folding, plan-time evaluation).
  SubgraphRunner* subgraphs() const { return subgraphs_; }
  void set_subgraphs(SubgraphRunner* s) { subgraphs_ = s; }
  const std::vector<ValueType>& outputs() const { return out_; }
  // InvalidArgument "node NAME (Op): message".
  Status Fail(const std::string& message) const {
    return InvalidArgument(graph_.NodeLabel(node_) + ": " + message);
  }

 private:
  const Graph& graph_;
  const Node& node_;
  std::vector<const ValueType*> in_;
  std::vector<ValueType> out_;
  SubgraphRunner* subgraphs_ = nullptr;
};

class KernelContext {
 public:
  KernelContext(const Graph& g, const Node& n, std::vector<const Tensor*> in,
                std::vector<Tensor*> out, ThreadPool& pool, Workspace& ws,
                bool fast)
      : graph_(g),
        node_(n),
        in_(std::move(in)),
        out_(std::move(out)),
        pool_(pool),
        ws_(ws),
        fast_(fast) {}
  const Node& node() const { return node_; }
  const Graph& graph() const { return graph_; }
  int opset() const { return graph_.opset(); }
  int num_inputs() const { return static_cast<int>(in_.size()); }
  bool has(int k) const { return k < num_inputs() && in_[k] != nullptr; }
  const Tensor& in(int k) const { return *in_[k]; }
  // Input k as a quantized constant (graph/qweight.h), or null: then in(k)
  // holds only its shape, no bytes.
  const QuantWeight* qweight(int k) const {
    if (k >= num_inputs() || node_.inputs[k] < 0) return nullptr;
    auto it = graph_.qweights.find(node_.inputs[k]);
    return it == graph_.qweights.end() ? nullptr : it->second.get();
  }
  int num_outputs() const { return static_cast<int>(out_.size()); }
  bool has_out(int k) const { return k < num_outputs() && out_[k] != nullptr; }
  // Allocated by the executor with the inferred type and shape; left
  // undefined when the shape was inferred dynamic: the kernel assigns it.
  Tensor& out(int k) { return *out_[k]; }
  ThreadPool& pool() { return pool_; }
  Workspace& ws() { return ws_; }
  bool fast() const { return fast_; }
  SubgraphRunner* subgraphs() const { return subgraphs_; }
  void set_subgraphs(SubgraphRunner* s) { subgraphs_ = s; }
  Status Fail(const std::string& message) const {
    return InvalidArgument(graph_.NodeLabel(node_) + ": " + message);
  }

 private:
  const Graph& graph_;
  const Node& node_;
  std::vector<const Tensor*> in_;
  std::vector<Tensor*> out_;
  ThreadPool& pool_;
  Workspace& ws_;
  bool fast_;
  SubgraphRunner* subgraphs_ = nullptr;
};

struct OpSchema {
  const char* domain = "";  // "" for ai.onnx
  const char* name = "";
  int min_inputs = 1, max_inputs = 1;
  int min_outputs = 1, max_outputs = 1;
  // Attributes and everything else that can be judged from the node alone
  // (null: nothing to check). Called at load time.
  Status (*check)(const Graph& g, const Node& n) = nullptr;
  Status (*infer)(InferContext& c) = nullptr;
  Status (*run)(KernelContext& c) = nullptr;
  // Cheap on small inputs (shape arithmetic): evaluated while planning when
  // every input is known, so that Reshape / Slice / Expand parameters
  // computed from Shape are known before running.
  bool plan_time = false;
  // Reads only the shapes of its inputs (Shape, Size): evaluated while
  // planning whatever the inputs hold.
  bool shape_only = false;
  // Output 0 is input 0's bytes under the inferred shape (Reshape, Flatten,
  // Squeeze, Unsqueeze, Identity): the executor shares them, no copy, and
  // `run` is only called for plan-time evaluation.
  bool alias = false;
  // Elementwise: output 0 may be written over an input of the same type and
  // shape that nothing reads afterwards (each output element depends only on
  // the input elements at its own index).
  bool inplace = false;
};

// The schema of op in domain ("" or "ai.onnx" for the default), or null.
const OpSchema* FindOp(const std::string& domain, const std::string& op);
// Every supported operator, for --help and error messages.
std::vector<const OpSchema*> AllOps();

}  // namespace lowbit::graph
