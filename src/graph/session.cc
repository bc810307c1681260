#include "graph/session.h"

#include <cblas-openblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <functional>

#include "graph/fuse.h"
#include "graph/ops/control_flow.h"
#include "graph/qweight.h"

namespace lowbit::graph {

struct Session::Plan {
  std::vector<ValueType> types;  // by value id
  std::vector<Tensor> known;     // by value id: computed while planning
  std::vector<char> skip;        // by position in order_: precomputed
  // Position in order_ of the first node whose output shape depends on data:
  // from there on nodes are inferred as they run. order_.size(): none.
  size_t dynamic_from = 0;
};

namespace {

// Outputs no larger than this are evaluated while planning when every input
// is known (shape arithmetic and small constants).
constexpr int64_t kPlanTimeElements = 1 << 16;

bool SameShapeOrFree(const ValueInfo& v, const Tensor& t) {
  if (!v.has_shape) return true;
  if (static_cast<int>(v.dims.size()) != t.rank()) return false;
  for (int i = 0; i < t.rank(); ++i) {
    if (v.dims[i] >= 0 && v.dims[i] != t.dim(i)) return false;
  }
  return true;
}

std::string DeclaredShape(const ValueInfo& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.dims.size(); ++i) {
    if (i) s += ", ";
    s += v.dims[i] >= 0 ? std::to_string(v.dims[i])
                        : (v.dim_names[i].empty() ? "?" : v.dim_names[i]);
  }
  return s + "]";
}

}  // namespace

namespace {

// InvalidArgument when an output of n (types inferred) passes the limit.
Status CheckSizes(const Graph& g, const Node& n,
                  const std::vector<ValueType>& out, int64_t limit) {
  for (const ValueType& t : out) {
    // Elements are bounded per dimension first, so the product cannot wrap.
    double elements = 1;
    for (int64_t d : t.shape) elements *= static_cast<double>(d);
    const double bytes = elements * static_cast<double>(ElementBytes(t.dtype));
    if (bytes > static_cast<double>(limit)) {
      return InvalidArgument(g.NodeLabel(n) + ": an output of shape " +
                             ShapeString(t.shape) + " would take " +
                             fmt::format("{:.4g}", bytes / (1 << 20)) +
                             " MiB, more than the limit of " +
                             std::to_string(limit >> 20) + " MiB");
    }
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<Tensor>> EvaluateNode(const Graph& g, const Node& n,
                                         const OpSchema& op,
                                         const std::vector<const Tensor*>& in,
                                         ThreadPool& pool, Workspace& ws,
                                         int64_t max_value_bytes,
                                         const std::vector<Tensor*>& spare) {
  std::vector<ValueType> types(in.size());
  std::vector<const ValueType*> tp(in.size(), nullptr);
  for (size_t k = 0; k < in.size(); ++k) {
    if (in[k] == nullptr) continue;
    types[k] = ValueType{in[k]->dtype(), in[k]->shape(), in[k]};
    tp[k] = &types[k];
  }
  InferContext ic(g, n, tp);
  LB_RETURN_IF_ERROR(op.infer(ic));
  LB_RETURN_IF_ERROR(CheckSizes(g, n, ic.outputs(), max_value_bytes));
  std::vector<Tensor> out(n.outputs.size());
  std::vector<Tensor*> op_out(n.outputs.size(), nullptr);
  for (size_t k = 0; k < n.outputs.size(); ++k) {
    if (n.outputs[k] < 0) continue;
    const ValueType& vt = ic.outputs()[k];
    Tensor* s = k < spare.size() ? spare[k] : nullptr;
    if (s != nullptr && s->defined() && s->dtype() == vt.dtype &&
        s->numel() == NumElements(vt.shape) && s->numel() > 0 &&
        s->storage_use_count() == 1) {
      out[k] = s->Reshaped(vt.shape);
      *s = Tensor();
    } else {
      out[k] = Tensor::OnBuffer(
          vt.dtype, vt.shape,
          AllocateBytes(NumElements(vt.shape) * ElementBytes(vt.dtype)));
    }
    op_out[k] = &out[k];
  }
  KernelContext kc(g, n, in, op_out, pool, ws, false);
  LB_RETURN_IF_ERROR(op.run(kc));
  return out;
}

Session::~Session() = default;

Result<std::unique_ptr<Session>> Session::Create(std::shared_ptr<Graph> g,
                                                 const SessionOptions& o) {
  // The engine parallelizes with its own pool and calls OpenBLAS from its
  // threads: OpenBLAS's own threads would only oversubscribe the cores.
  openblas_set_num_threads(1);
  return CreateWithPool(std::move(g), o,
                        std::make_shared<ThreadPool>(o.threads));
}

Result<std::unique_ptr<Session>> Session::CreateWithPool(
    std::shared_ptr<Graph> g, const SessionOptions& o,
    std::shared_ptr<ThreadPool> pool) {
  std::unique_ptr<Session> s(new Session());
  s->g_ = std::move(g);
  s->opts_ = o;
  s->pool_ = std::move(pool);
  LB_RETURN_IF_ERROR(s->Prepare());
  return s;
}

Status Session::PrepareBranches() {
  for (const Node& n : g_->nodes) {
    for (const auto& [name, a] : n.attrs) {
      if (a.kind != Attribute::Kind::kGraph || a.g == nullptr ||
          branches_.count(a.g.get())) {
        continue;
      }
      // The branch's outer values become inputs of its own session.
      auto body = std::make_shared<Graph>(*a.g);
      for (const std::string& outer : body->outer_names) {
        ValueInfo v;
        v.name = outer;
        body->inputs.push_back(v);
        body->input_ids.push_back(body->ValueId(outer));
      }
      body->outer_names.clear();
      if (body->opsets.empty()) body->opsets = g_->opsets;
      auto made = CreateWithPool(body, opts_, pool_);
      if (!made.ok()) {
        return made.status().WithPrefix(g_->NodeLabel(n) + ", " + name);
      }
      branches_[a.g.get()] = std::move(*made);
    }
  }
  return Status::Ok();
}

Result<std::vector<ValueType>> Session::InferSubgraph(
    const Graph& body, const std::map<std::string, ValueType>& outer) {
  auto it = branches_.find(&body);
  LB_CHECK(it != branches_.end());
  Session& s = *it->second;
  std::vector<ValueType> in;
  for (const ValueInfo& v : s.g_->inputs) {
    auto o = outer.find(v.name);
    if (o == outer.end()) {
      return InvalidArgument("a subgraph's outer value '" + v.name +
                             "' is not bound");
    }
    in.push_back(o->second);
  }
  LB_ASSIGN_OR_RETURN(std::unique_ptr<Plan> plan, s.BuildPlan(in));
  std::vector<ValueType> out;
  for (int v : s.g_->output_ids) {
    const int p = s.producer_[v];
    ValueType t = plan->types[v];
    t.value = nullptr;
    if (p >= 0) {
      const size_t pos = static_cast<size_t>(
          std::find(s.order_.begin(), s.order_.end(), p) - s.order_.begin());
      if (pos >= plan->dynamic_from) {  // not inferred ahead
        t = ValueType{};
        t.dynamic = true;
        if (const auto& d = s.g_->outputs[out.size()].dtype) t.dtype = *d;
        // The dtype of a dynamic output: infer needs one; a branch without a
        // declared type leaves f32 and the run checks what comes.
      }
    }
    out.push_back(t);
  }
  return out;
}

Result<std::vector<Tensor>> Session::RunSubgraph(
    const Graph& body, const std::map<std::string, Tensor>& outer) {
  auto it = branches_.find(&body);
  LB_CHECK(it != branches_.end());
  return it->second->Run(outer);
}

Status Session::Validate() {
  Graph& g = *g_;
  const size_t nv = g.value_names.size();
  // Every operator known, every attribute valid.
  schema_.assign(g.nodes.size(), nullptr);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    const OpSchema* op = FindOp(n.domain, n.op);
    if (op == nullptr) {
      return InvalidArgument(g.NodeLabel(n) + ": operator " +
                             (n.domain.empty() ? "" : n.domain + ".") + n.op +
                             " is not supported by lowbit's engine");
    }
    if (n.num_inputs() < op->min_inputs || n.num_inputs() > op->max_inputs) {
      return InvalidArgument(
          g.NodeLabel(n) + ": " + std::to_string(n.num_inputs()) +
          " inputs; the operator takes " + std::to_string(op->min_inputs) +
          " to " + std::to_string(op->max_inputs));
    }
    const int nout = static_cast<int>(n.outputs.size());
    if (nout < op->min_outputs || nout > op->max_outputs) {
      return InvalidArgument(g.NodeLabel(n) + ": " + std::to_string(nout) +
                             " outputs; the operator gives " +
                             std::to_string(op->min_outputs) + " to " +
                             std::to_string(op->max_outputs));
    }
    // Required inputs come first; variadic operators (Concat, Sum, ...) take
    // no optional ones at all.
    const int required =
        op->max_inputs >= (1 << 20) ? n.num_inputs() : op->min_inputs;
    for (int k = 0; k < required; ++k) {
      if (n.inputs[k] < 0) {
        return InvalidArgument(g.NodeLabel(n) + ": input " + std::to_string(k) +
                               " is required but empty");
      }
    }
    if (op->check != nullptr) LB_RETURN_IF_ERROR(op->check(g, n));
    schema_[i] = op;
  }
  // Producers: each value defined once, by an input, a constant or a node.
  producer_.assign(nv, -1);
  std::vector<char> defined(nv, 0);
  for (int id : g.input_ids) defined[id] = 1;
  for (const auto& [id, t] : g.constants) defined[id] = 1;
  for (const auto& [id, w] : g.qweights) defined[id] = 1;
  for (const std::string& name : g.outer_names) {
    const int id = g.Find(name);
    if (id >= 0) defined[id] = 1;
  }
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    for (int v : g.nodes[i].outputs) {
      if (v < 0) continue;
      if (defined[v] || producer_[v] >= 0) {
        return InvalidArgument(g.NodeLabel(g.nodes[i]) + ": output '" +
                               g.value_names[v] + "' is already defined");
      }
      producer_[v] = static_cast<int>(i);
    }
  }
  for (const Node& n : g.nodes) {
    for (int v : n.inputs) {
      if (v >= 0 && !defined[v] && producer_[v] < 0) {
        return InvalidArgument(g.NodeLabel(n) + ": input '" + g.value_names[v] +
                               "' is not a graph input, an initializer or "
                               "any node's output");
      }
    }
  }
  for (size_t k = 0; k < g.output_ids.size(); ++k) {
    const int v = g.output_ids[k];
    if (!defined[v] && producer_[v] < 0) {
      return InvalidArgument("graph output '" + g.value_names[v] +
                             "' is not produced by any node");
    }
  }
  // Topological order, stable in file order; a cycle is named.
  LB_ASSIGN_OR_RETURN(order_, TopologicalOrder(g));
  return Status::Ok();
}

Status Session::Fold() {
  Graph& g = *g_;
  std::vector<char> folded(g.nodes.size(), 0);
  for (int i : order_) {
    const Node& n = g.nodes[i];
    bool all = !n.inputs.empty() || n.op == "Constant";
    std::vector<const Tensor*> in;
    for (int v : n.inputs) {
      if (v < 0) {
        in.push_back(nullptr);
        continue;
      }
      auto it = g.constants.find(v);
      if (it == g.constants.end()) {
        all = false;
        break;
      }
      in.push_back(&it->second);
    }
    // Decode subgraphs of quantized weights stay, so that the packed bytes
    // are what the engine keeps (the quantized operators recognise them).
    const bool keep_packed =
        n.op == "DequantizeLinear" || n.op == "MatMulNBits";
    if (!all || keep_packed || !schema_[i]->run || n.op == "If") continue;
    LB_ASSIGN_OR_RETURN(std::vector<Tensor> out,
                        EvaluateNode(g, n, *schema_[i], in, *pool_, ws_,
                                     opts_.max_value_bytes));
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      if (n.outputs[k] >= 0) g.constants[n.outputs[k]] = std::move(out[k]);
    }
    folded[i] = 1;
  }
  std::vector<Node> kept;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (!folded[i]) kept.push_back(std::move(g.nodes[i]));
  }
  g.nodes = std::move(kept);
  return Status::Ok();
}

Status Session::Prepare() {
  Graph& g = *g_;
  // If nodes read their branches' outer values as inputs (control_flow.h).
  LB_RETURN_IF_ERROR(BindOuterValues(g, true));
  // Quantized weights stay codes (graph/qweight.h); readers that need the
  // floats get them decoded.
  stats_.quantized_weights = RecognizeDequantizeLinear(g);
  MaterializeQuantWeights(g);
  stats_.quantized_weights = static_cast<int64_t>(g.qweights.size());
  LB_RETURN_IF_ERROR(Validate());
  if (opts_.fold_constants) {
    // An If with a constant condition becomes its branch, which may fold
    // further (and hold more such Ifs).
    for (;;) {
      LB_RETURN_IF_ERROR(Fold());
      LB_RETURN_IF_ERROR(Validate());
      LB_ASSIGN_OR_RETURN(int inlined, InlineConstantIfs(g));
      if (inlined == 0) break;
      LB_RETURN_IF_ERROR(Validate());
    }
  }
  if (opts_.fuse) {
    fuse_ = FuseGraph(g);
    LB_RETURN_IF_ERROR(Validate());
  }
  // Constants nothing reads any more (weights replaced by fused ones, inputs
  // of folded nodes) are dropped.
  g.DropUnread();
  if (opts_.fast) stats_.fast_weights = PrepareFastWeights(g);
  for (const auto& [id, w] : g.qweights) {
    stats_.quantized_weight_bytes += w->StoredBytes();
  }
  const size_t nv = g.value_names.size();
  // Last use of each value (position in order_); graph outputs never die.
  last_use_.assign(nv, -1);
  for (size_t p = 0; p < order_.size(); ++p) {
    for (int v : g.nodes[order_[p]].inputs) {
      if (v >= 0) last_use_[v] = static_cast<int>(p);
    }
  }
  for (int v : g.output_ids) last_use_[v] = static_cast<int>(order_.size());
  return PrepareBranches();
}

Result<const Session::Plan*> Session::PlanFor(
    const std::vector<const Tensor*>& feeds) {
  std::vector<int64_t> key;
  for (const Tensor* t : feeds) {
    key.push_back(static_cast<int64_t>(t->dtype()));
    key.push_back(t->rank());
    key.insert(key.end(), t->shape().begin(), t->shape().end());
  }
  auto it = plans_.find(key);
  if (it != plans_.end()) return it->second.get();
  std::vector<ValueType> types;
  for (const Tensor* t : feeds) {
    types.push_back(ValueType{t->dtype(), t->shape(), nullptr});
  }
  LB_ASSIGN_OR_RETURN(std::unique_ptr<Plan> plan, BuildPlan(types));
  ++stats_.plans;
  const Plan* result = plan.get();
  plans_[key] = std::move(plan);
  return result;
}

Result<std::unique_ptr<Session::Plan>> Session::BuildPlan(
    const std::vector<ValueType>& feeds) {
  const Graph& g = *g_;
  auto plan = std::make_unique<Plan>();
  plan->dynamic_from = order_.size();
  plan->types.resize(g.value_names.size());
  plan->known.resize(g.value_names.size());
  plan->skip.assign(order_.size(), 0);
  for (const auto& [id, t] : g.constants) {
    plan->types[id] = ValueType{t.dtype(), t.shape(), &t};
  }
  for (const auto& [id, w] : g.qweights) {
    plan->types[id] = ValueType{DType::kF32, w->shape, nullptr};
  }
  for (size_t k = 0; k < feeds.size(); ++k) {
    plan->types[g.input_ids[k]] = feeds[k];
  }
  for (size_t p = 0; p < order_.size(); ++p) {
    const Node& n = g.nodes[order_[p]];
    const OpSchema& op = *schema_[order_[p]];
    std::vector<const ValueType*> in;
    bool all_known = true;
    for (int v : n.inputs) {
      in.push_back(v >= 0 ? &plan->types[v] : nullptr);
      if (v >= 0 && !plan->types[v].known()) all_known = false;
    }
    InferContext ic(g, n, in);
    ic.set_subgraphs(this);
    LB_RETURN_IF_ERROR(op.infer(ic));
    if (std::any_of(ic.outputs().begin(), ic.outputs().end(),
                    [](const ValueType& t) { return t.dynamic; })) {
      plan->dynamic_from = p;  // the rest is inferred while running
      break;
    }
    LB_RETURN_IF_ERROR(CheckSizes(g, n, ic.outputs(), opts_.max_value_bytes));
    int64_t out_elements = 0;
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      if (n.outputs[k] < 0) continue;
      plan->types[n.outputs[k]] = ic.outputs()[k];
      plan->types[n.outputs[k]].value = nullptr;
      out_elements += NumElements(ic.outputs()[k].shape);
    }
    if ((all_known || op.shape_only) && op.plan_time &&
        out_elements <= kPlanTimeElements) {
      std::vector<const Tensor*> tin;
      std::vector<Tensor> shapes(n.inputs.size());  // shape-only stand-ins
      for (size_t k = 0; k < n.inputs.size(); ++k) {
        const int v = n.inputs[k];
        if (v >= 0 && !plan->types[v].known()) {
          shapes[k] =
              Tensor::View(plan->types[v].dtype, plan->types[v].shape, nullptr);
          tin.push_back(&shapes[k]);
        } else {
          tin.push_back(v >= 0 ? plan->types[v].value : nullptr);
        }
      }
      LB_ASSIGN_OR_RETURN(
          std::vector<Tensor> out,
          EvaluateNode(g, n, op, tin, *pool_, ws_, opts_.max_value_bytes));
      for (size_t k = 0; k < n.outputs.size(); ++k) {
        const int v = n.outputs[k];
        if (v < 0) continue;
        plan->known[v] = std::move(out[k]);
        plan->types[v].value = &plan->known[v];
      }
      plan->skip[p] = 1;
    }
  }
  return plan;
}

std::shared_ptr<uint8_t> Session::Buffer(int64_t bytes) {
  // Best fit among the buffers nobody holds (use_count 1: only the pool).
  PoolBuffer* best = nullptr;
  for (PoolBuffer& b : buffers_) {
    if (b.p.use_count() == 1 && b.bytes >= bytes &&
        (best == nullptr || b.bytes < best->bytes)) {
      best = &b;
    }
  }
  if (best == nullptr) {
    buffers_.push_back(PoolBuffer{AllocateBytes(bytes), bytes});
    best = &buffers_.back();
    ++stats_.buffers;
    stats_.buffer_bytes += bytes;
  }
  std::shared_ptr<uint8_t> p = best->p;
  int64_t held = 0;
  for (const PoolBuffer& b : buffers_) {
    if (b.p.use_count() > 1) held += b.bytes;
  }
  stats_.peak_bytes = std::max(stats_.peak_bytes, held);
  return p;
}

Result<std::vector<Tensor>> Session::Run(
    const std::map<std::string, Tensor>& feeds) {
  const Graph& g = *g_;
  // Feeds: known names, every input given, types and shapes as declared.
  for (const auto& [name, t] : feeds) {
    bool found = false;
    for (const ValueInfo& v : g.inputs) found = found || v.name == name;
    if (!found) {
      std::string names;
      for (const ValueInfo& v : g.inputs) {
        names += (names.empty() ? "" : ", ") + v.name;
      }
      return InvalidArgument(
          "input '" + name +
          "' is not an input of the model (its inputs: " + names + ")");
    }
  }
  std::vector<const Tensor*> in;
  for (const ValueInfo& v : g.inputs) {
    auto it = feeds.find(v.name);
    if (it == feeds.end()) {
      return InvalidArgument("input '" + v.name + "' is missing (" +
                             (v.dtype ? std::string(DTypeName(*v.dtype)) : "") +
                             (v.has_shape ? DeclaredShape(v) : "") + ")");
    }
    const Tensor& t = it->second;
    if (v.dtype && *v.dtype != t.dtype()) {
      return InvalidArgument("input '" + v.name + "' must be " +
                             std::string(DTypeName(*v.dtype)) + ", not " +
                             std::string(DTypeName(t.dtype())));
    }
    if (!SameShapeOrFree(v, t)) {
      return InvalidArgument("input '" + v.name + "' has shape " +
                             ShapeString(t.shape()) + "; the model takes " +
                             DeclaredShape(v));
    }
    in.push_back(&t);
  }
  LB_ASSIGN_OR_RETURN(const Plan* plan, PlanFor(in));
  std::vector<Tensor> values(g.value_names.size());
  for (const auto& [id, t] : g.constants) values[id] = t;
  for (const auto& [id, w] : g.qweights) {  // shape only: kernels decode
    values[id] = Tensor::View(DType::kF32, w->shape, nullptr);
  }
  for (size_t k = 0; k < in.size(); ++k) values[g.input_ids[k]] = *in[k];
  for (size_t v = 0; v < plan->known.size(); ++v) {
    if (plan->known[v].defined() && plan->types[v].known()) {
      values[v] = plan->known[v];
    }
  }
  std::vector<const Tensor*> tin;
  std::vector<Tensor*> tout;
  std::vector<ValueType> in_types;
  std::vector<const ValueType*> in_ptrs;
  for (size_t p = 0; p < order_.size(); ++p) {
    const Node& n = g.nodes[order_[p]];
    // Output types: planned, or (past a data-dependent shape) inferred now
    // from the values at hand, every input known.
    std::vector<ValueType> eager;
    const bool dynamic = p >= plan->dynamic_from;
    if (dynamic) {
      in_types.assign(n.inputs.size(), ValueType{});
      in_ptrs.assign(n.inputs.size(), nullptr);
      for (size_t k = 0; k < n.inputs.size(); ++k) {
        const int v = n.inputs[k];
        if (v < 0) continue;
        const bool bytes = values[v].defined() && !g.qweights.count(v);
        in_types[k] = ValueType{values[v].dtype(), values[v].shape(),
                                bytes ? &values[v] : nullptr};
        in_ptrs[k] = &in_types[k];
      }
      InferContext ic(g, n, in_ptrs);
      ic.set_subgraphs(this);
      LB_RETURN_IF_ERROR(schema_[order_[p]]->infer(ic));
      eager = ic.outputs();
      for (ValueType& t : eager) t.value = nullptr;
      std::vector<ValueType> fixed;
      for (const ValueType& t : eager) {
        if (!t.dynamic) fixed.push_back(t);
      }
      LB_RETURN_IF_ERROR(CheckSizes(g, n, fixed, opts_.max_value_bytes));
    }
    auto type_of = [&](size_t k) -> const ValueType& {
      return dynamic ? eager[k] : plan->types[n.outputs[k]];
    };
    if (!plan->skip[p] && schema_[order_[p]]->alias) {
      const int v = n.outputs[0];
      values[v] = values[n.inputs[0]].Reshaped(type_of(0).shape);
    } else if (!plan->skip[p]) {
      tin.clear();
      tout.clear();
      for (int v : n.inputs) tin.push_back(v >= 0 ? &values[v] : nullptr);
      for (size_t k = 0; k < n.outputs.size(); ++k) {
        const int v = n.outputs[k];
        if (v < 0) {
          tout.push_back(nullptr);
          continue;
        }
        const ValueType& vt = type_of(k);
        if (vt.dynamic) {  // the kernel assigns it
          values[v] = Tensor();
          tout.push_back(&values[v]);
          continue;
        }
        // In place: an input no later node reads, computed here (not a feed
        // or constant), held by nothing else (the pool and this value).
        int reuse = -1;
        if (k == 0 && schema_[order_[p]]->inplace) {
          for (int u : n.inputs) {
            if (u >= 0 && producer_[u] >= 0 &&
                last_use_[u] == static_cast<int>(p) &&
                values[u].dtype() == vt.dtype &&
                values[u].shape() == vt.shape &&
                values[u].storage_use_count() == 2) {
              reuse = u;
              break;
            }
          }
        }
        if (reuse >= 0) {
          values[v] = values[reuse];
        } else {
          const int64_t bytes = NumElements(vt.shape) * ElementBytes(vt.dtype);
          values[v] = Tensor::OnBuffer(vt.dtype, vt.shape, Buffer(bytes));
        }
        tout.push_back(&values[v]);
      }
      KernelContext kc(g, n, tin, tout, *pool_, ws_, opts_.fast);
      kc.set_subgraphs(this);
      const auto t0 = opts_.profile ? std::chrono::steady_clock::now()
                                    : std::chrono::steady_clock::time_point();
      if (opts_.observer != nullptr) opts_.observer->Before(g, n, tin);
      LB_RETURN_IF_ERROR(schema_[order_[p]]->run(kc));
      for (size_t k = 0; k < n.outputs.size(); ++k) {
        if (n.outputs[k] >= 0 && !values[n.outputs[k]].defined()) {
          return InvalidArgument(g.NodeLabel(n) + ": output " +
                                 std::to_string(k) + " was not computed");
        }
      }
      if (opts_.observer != nullptr) opts_.observer->After(g, n, tout);
      if (opts_.profile) {
        std::string key = n.op;
        if (n.op == "Conv" && tin.size() > 1 && tin[1] != nullptr &&
            tin[1]->rank() >= 3) {  // the kind of convolution, for profiles
          const Tensor& w = *tin[1];
          key += w.dim(1) == 1 ? " depthwise" : "";
          for (int d = 2; d < w.rank(); ++d) {
            key += (d == 2 ? " " : "x") + std::to_string(w.dim(d));
          }
          const std::vector<int64_t> st = n.Ints("strides");
          if (!st.empty() && st[0] > 1) key += " /" + std::to_string(st[0]);
        }
        if (const QuantWeight* q = kc.qweight(1)) {  // how it ran
          key += " [" + q->q.scheme.Name() +
                 (opts_.fast && q->fast != nullptr ? ", int8 activations]"
                                                   : ", decoded]");
        }
        auto& e = stats_.op_seconds[key];
        e.first +=
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
                .count();
        ++e.second;
      }
      ++stats_.nodes_run;
    }
    // Values whose last reader this was give their buffers back.
    for (int v : n.inputs) {
      if (v >= 0 && last_use_[v] == static_cast<int>(p) && producer_[v] >= 0) {
        values[v] = Tensor();
      }
    }
  }
  std::vector<Tensor> out;
  for (int v : g.output_ids) out.push_back(values[v]);
  return out;
}

}  // namespace lowbit::graph
