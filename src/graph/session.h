// Session: runs a Graph on the CPU. Create() refuses, before anything runs,
// an operator outside the supported set, bad attributes, cycles and dangling
// names (each error names the node), sorts the nodes and folds every node
// whose inputs are all constants. Run() checks the feeds against the declared
// inputs (names, element types, ranks, fixed dimensions), then takes the plan
// for their shapes (type and shape inference with shape arithmetic evaluated
// ahead; computed once per distinct set of input shapes and cached), and runs
// the remaining nodes, each output in a buffer reused from values no longer
// needed. Nodes after one whose output shape depends on data (an If whose
// branches differ) are inferred as they run instead. If branches run in
// nested sessions, one per branch, created at load and sharing the pool.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "core/workspace.h"
#include "graph/fuse.h"
#include "graph/ir.h"
#include "graph/op.h"

namespace lowbit::graph {

// Sees every node a session runs (not those folded at load), in order, on
// the calling thread: how calibration collects statistics
// (graph/calib_stats.h). Inputs may be overwritten by the node's outputs
// (in-place operators), so Before is the time to read them.
class NodeObserver {
 public:
  virtual ~NodeObserver() = default;
  // Before node n computes: its inputs (null for omitted ones).
  virtual void Before(const Graph& g, const Node& n,
                      const std::vector<const Tensor*>& in) = 0;
  // After it computed: its outputs (null for omitted ones).
  virtual void After(const Graph& g, const Node& n,
                     const std::vector<Tensor*>& out) = 0;
};

struct SessionOptions {
  int threads = 0;    // 0: all cores
  bool fast = false;  // int8 activations for quantized weights
  bool fold_constants = true;
  bool fuse = true;      // graph/fuse.h: Conv with BN / scale / activation
  bool profile = false;  // time every node (RunStats::op_seconds)
  // A node whose output would take more bytes than this is refused (by
  // name) before anything is allocated: a hostile model cannot claim
  // unbounded memory. Default 16 GiB.
  int64_t max_value_bytes = int64_t{16} << 30;
  NodeObserver* observer = nullptr;  // not owned; outlives the session
};

struct RunStats {
  int64_t peak_bytes = 0;  // most activation bytes held at once (buffers)
  int64_t nodes_run = 0;
  int64_t plans = 0;  // distinct input shapes planned so far
  // Weights kept quantized (graph/qweight.h), those prepared for fast mode,
  // and the bytes they hold.
  int64_t quantized_weights = 0, fast_weights = 0, quantized_weight_bytes = 0;
  int64_t buffers = 0, buffer_bytes = 0;  // the pool: count and bytes held
  // With SessionOptions::profile: seconds and calls per operator type, over
  // every run so far.
  std::map<std::string, std::pair<double, int64_t>> op_seconds;
};

class Session final : private SubgraphRunner {
 public:
  static Result<std::unique_ptr<Session>> Create(std::shared_ptr<Graph> g,
                                                 const SessionOptions& o = {});
  ~Session();

  const std::vector<ValueInfo>& inputs() const { return g_->inputs; }
  const std::vector<ValueInfo>& outputs() const { return g_->outputs; }
  const Graph& graph() const { return *g_; }

  // Feeds by input name; every declared input must be given. Returns the
  // graph outputs in declared order. InvalidArgument names the input or node.
  Result<std::vector<Tensor>> Run(const std::map<std::string, Tensor>& feeds);

  const RunStats& stats() const { return stats_; }
  // Forgets the profile so far (RunStats::op_seconds), e.g. after a warm-up.
  void ResetProfile() { stats_.op_seconds.clear(); }
  ThreadPool& pool() { return *pool_; }

 private:
  struct Plan;
  Session() = default;
  static Result<std::unique_ptr<Session>> CreateWithPool(
      std::shared_ptr<Graph> g, const SessionOptions& o,
      std::shared_ptr<ThreadPool> pool);
  Status Prepare();
  Status PrepareBranches();  // a nested session per If branch
  // The plan for these input types (known values are used, so such a plan
  // must not be cached by shape).
  Result<std::unique_ptr<Plan>> BuildPlan(const std::vector<ValueType>& in);
  Result<std::vector<ValueType>> InferSubgraph(
      const Graph& body,
      const std::map<std::string, ValueType>& outer) override;
  Result<std::vector<Tensor>> RunSubgraph(
      const Graph& body, const std::map<std::string, Tensor>& outer) override;
  Status
  Validate();     // operators, attributes, names; schema_, producer_, order_
  Status Fold();  // constant nodes evaluated and removed
  Result<const Plan*> PlanFor(const std::vector<const Tensor*>& feeds);
  std::shared_ptr<uint8_t> Buffer(int64_t bytes);

  std::shared_ptr<Graph> g_;
  SessionOptions opts_;
  std::shared_ptr<ThreadPool> pool_;
  // Nested sessions by branch (the If node's subgraph attribute).
  std::map<const Graph*, std::unique_ptr<Session>> branches_;
  Workspace ws_;
  std::vector<int> order_;               // node indices in execution order
  std::vector<int> producer_;            // value id -> node index, -1
  std::vector<int> last_use_;            // value id -> position in order_, -1
  std::vector<const OpSchema*> schema_;  // by node index
  std::map<std::vector<int64_t>, std::unique_ptr<Plan>> plans_;
  struct PoolBuffer {
    std::shared_ptr<uint8_t> p;
    int64_t bytes;
  };
  std::vector<PoolBuffer> buffers_;
  RunStats stats_;
  FuseStats fuse_;

 public:
  const FuseStats& fuse_stats() const { return fuse_; }
};

// Runs n's kernel on known inputs (for folding, plan-time evaluation and the
// tape): infers the outputs' types and shapes and computes them into new
// tensors. Kernels write every element of their outputs (the session hands
// them reused buffers), so the outputs are not zero-filled first. `spare`
// (by output index; null entries or a short vector: none) offers tensors
// whose storage an output may take when it has the same dtype and element
// count and nobody else holds it (the tape's last step's values); a taken
// one is left undefined.
Result<std::vector<Tensor>> EvaluateNode(
    const Graph& g, const Node& n, const OpSchema& op,
    const std::vector<const Tensor*>& in, ThreadPool& pool, Workspace& ws,
    int64_t max_value_bytes, const std::vector<Tensor*>& spare = {});

}  // namespace lowbit::graph
