// If (ONNX opsets 1 to 21): the condition chooses then_branch or
// else_branch, which the Session runs as nested sessions (op.h's
// SubgraphRunner); the rewrites of control_flow.h bind the branches' outer
// values and replace an If with a constant condition by its branch.
#include "graph/ops/control_flow.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <map>
#include <set>

#include "graph/ops/families.h"

namespace lowbit::graph {
namespace {

const Graph* Branch(const Node& n, const char* name) {
  const Attribute* a = n.Find(name);
  return a != nullptr && a->kind == Attribute::Kind::kGraph ? a->g.get()
                                                            : nullptr;
}

Status IfCheck(const Graph& g, const Node& n) {
  auto fail = [&](const std::string& m) {
    return InvalidArgument(g.NodeLabel(n) + ": " + m);
  };
  const Graph* br[2] = {Branch(n, "then_branch"), Branch(n, "else_branch")};
  const char* names[2] = {"then_branch", "else_branch"};
  for (int k = 0; k < 2; ++k) {
    if (br[k] == nullptr) return fail(std::string(names[k]) + " is missing");
    if (!br[k]->inputs.empty()) {
      return fail(std::string(names[k]) + " declares " +
                  std::to_string(br[k]->inputs.size()) +
                  " inputs; If branches take none");
    }
  }
  const size_t outs = n.outputs.size();
  if (br[0]->outputs.size() != outs || br[1]->outputs.size() != outs) {
    return fail("then_branch has " + std::to_string(br[0]->outputs.size()) +
                " outputs and else_branch " +
                std::to_string(br[1]->outputs.size()) + "; the node has " +
                std::to_string(outs) + " (all three must agree)");
  }
  for (size_t k = 0; k < outs; ++k) {
    const ValueInfo& a = br[0]->outputs[k];
    const ValueInfo& b = br[1]->outputs[k];
    if (a.dtype && b.dtype && *a.dtype != *b.dtype) {
      return fail("output " + std::to_string(k) + " is " +
                  std::string(DTypeName(*a.dtype)) + " in then_branch and " +
                  std::string(DTypeName(*b.dtype)) + " in else_branch");
    }
    if (a.has_shape && b.has_shape && a.dims.size() != b.dims.size()) {
      return fail("output " + std::to_string(k) + " has rank " +
                  std::to_string(a.dims.size()) + " in then_branch and " +
                  std::to_string(b.dims.size()) + " in else_branch");
    }
  }
  const std::vector<std::string> outer = IfOuterNames(n);
  if (n.inputs.size() != 1 && n.inputs.size() != 1 + outer.size()) {
    return fail(std::to_string(n.inputs.size()) +
                " inputs; If takes one (the condition)");
  }
  return Status::Ok();
}

// The outer types of body, from the node's bound inputs.
std::map<std::string, ValueType> OuterTypes(const InferContext& c,
                                            const std::vector<std::string>& o,
                                            const Graph& body) {
  std::map<std::string, ValueType> m;
  for (const std::string& name : body.outer_names) {
    const auto it = std::lower_bound(o.begin(), o.end(), name);
    const int k = 1 + static_cast<int>(it - o.begin());
    if (c.has(k)) m[name] = c.in(k);
  }
  return m;
}

Status CheckCond(const Shape& s, DType t,
                 const std::function<Status(const std::string&)>& fail) {
  if (NumElements(s) != 1) {
    return fail("the condition has shape " + ShapeString(s) +
                "; it must hold one element");
  }
  if (DTypeBits(t) < 8 || t == DType::kF8E4M3 || t == DType::kF8E5M2) {
    return fail("the condition is " + std::string(DTypeName(t)) +
                "; expected bool or a number");
  }
  return Status::Ok();
}

Status IfInfer(InferContext& c) {
  LB_RETURN_IF_ERROR(
      CheckCond(c.in(0).shape, c.in(0).dtype,
                [&](const std::string& m) { return c.Fail(m); }));
  if (c.subgraphs() == nullptr) return c.Fail("If runs only in a Session");
  const Node& n = c.node();
  const std::vector<std::string> outer = IfOuterNames(n);
  if (c.num_inputs() != 1 + static_cast<int>(outer.size())) {
    return c.Fail("the branches' outer values are not bound");
  }
  const Graph* then_b = Branch(n, "then_branch");
  const Graph* else_b = Branch(n, "else_branch");
  if (c.in(0).known()) {
    LB_ASSIGN_OR_RETURN(bool cond, IfCondition(c.graph(), n, *c.in(0).value));
    const Graph& body = cond ? *then_b : *else_b;
    LB_ASSIGN_OR_RETURN(
        std::vector<ValueType> t,
        c.subgraphs()->InferSubgraph(body, OuterTypes(c, outer, body)));
    for (int k = 0; k < c.num_outputs(); ++k) {
      if (t[k].dynamic) {
        c.SetDynamic(k, t[k].dtype);
      } else {
        c.Set(k, t[k].dtype, t[k].shape);
      }
    }
    return Status::Ok();
  }
  LB_ASSIGN_OR_RETURN(
      std::vector<ValueType> a,
      c.subgraphs()->InferSubgraph(*then_b, OuterTypes(c, outer, *then_b)));
  LB_ASSIGN_OR_RETURN(
      std::vector<ValueType> b,
      c.subgraphs()->InferSubgraph(*else_b, OuterTypes(c, outer, *else_b)));
  for (int k = 0; k < c.num_outputs(); ++k) {
    const std::string out = "output " + std::to_string(k);
    if (a[k].dtype != b[k].dtype) {
      return c.Fail(out + " is " + std::string(DTypeName(a[k].dtype)) +
                    " in then_branch and " +
                    std::string(DTypeName(b[k].dtype)) + " in else_branch");
    }
    if (!a[k].dynamic && !b[k].dynamic &&
        a[k].shape.size() != b[k].shape.size()) {
      return c.Fail(out + " is " + ShapeString(a[k].shape) +
                    " in then_branch and " + ShapeString(b[k].shape) +
                    " in else_branch: the ranks differ");
    }
    if (a[k].dynamic || b[k].dynamic || a[k].shape != b[k].shape) {
      c.SetDynamic(k, a[k].dtype);  // known once the condition is
    } else {
      c.Set(k, a[k].dtype, a[k].shape);
    }
  }
  return Status::Ok();
}

Status IfRun(KernelContext& c) {
  const Node& n = c.node();
  if (c.subgraphs() == nullptr) return c.Fail("If runs only in a Session");
  LB_ASSIGN_OR_RETURN(bool cond, IfCondition(c.graph(), n, c.in(0)));
  const Graph& body = *Branch(n, cond ? "then_branch" : "else_branch");
  const std::vector<std::string> outer = IfOuterNames(n);
  std::map<std::string, Tensor> feeds;
  for (const std::string& name : body.outer_names) {
    const auto it = std::lower_bound(outer.begin(), outer.end(), name);
    feeds[name] = c.in(1 + static_cast<int>(it - outer.begin()));
  }
  LB_ASSIGN_OR_RETURN(std::vector<Tensor> got,
                      c.subgraphs()->RunSubgraph(body, feeds));
  for (int k = 0; k < c.num_outputs(); ++k) {
    if (!c.has_out(k)) continue;
    const Tensor& src = got[k];
    Tensor& dst = c.out(k);
    if (!dst.defined()) {  // dynamic: the branch's shape decides
      dst = Tensor::Zeros(src.dtype(), src.shape());
    } else if (dst.dtype() != src.dtype() || dst.shape() != src.shape()) {
      return c.Fail("the branch gave output " + std::to_string(k) + " as " +
                    src.Describe() + " where " + dst.Describe() +
                    " was planned");
    }
    // A copy: the branch's tensor may be its constant, which a later
    // in-place node must not overwrite.
    if (src.nbytes() > 0) {
      std::memcpy(dst.bytes(), src.bytes(), static_cast<size_t>(src.nbytes()));
    }
  }
  return Status::Ok();
}

// A fresh value name of g for `name` of an inlined branch.
int FreshValue(Graph& g, const std::string& prefix, const std::string& name) {
  std::string s = prefix + name;
  while (g.Find(s) >= 0) s += "'";
  return g.ValueId(s);
}

}  // namespace

std::vector<std::string> IfOuterNames(const Node& n) {
  std::set<std::string> names;
  for (const char* b : {"then_branch", "else_branch"}) {
    if (const Graph* g = Branch(n, b)) {
      names.insert(g->outer_names.begin(), g->outer_names.end());
    }
  }
  return {names.begin(), names.end()};
}

Result<bool> IfCondition(const Graph& g, const Node& n, const Tensor& cond) {
  LB_RETURN_IF_ERROR(
      CheckCond(cond.shape(), cond.dtype(), [&](const std::string& m) {
        return InvalidArgument(g.NodeLabel(n) + ": " + m);
      }));
  return cond.GetDouble(0) != 0.0;
}

Status BindOuterValues(Graph& g, bool top) {
  for (Node& n : g.nodes) {
    if (n.op != "If" || !n.domain.empty()) continue;
    for (auto& [name, a] : n.attrs) {
      if (a.kind != Attribute::Kind::kGraph || a.g == nullptr) continue;
      auto copy = std::make_shared<Graph>(*a.g);
      LB_RETURN_IF_ERROR(BindOuterValues(*copy, false));
      a.g = std::move(copy);
    }
    const std::vector<std::string> outer = IfOuterNames(n);
    if (n.inputs.size() == 1 + outer.size() || n.inputs.size() != 1) {
      continue;  // bound already, or IfCheck refuses it
    }
    for (const std::string& name : outer) {
      if (g.Find(name) < 0) {
        if (top) {
          return InvalidArgument(g.NodeLabel(n) + ": a branch reads '" + name +
                                 "', which no enclosing graph defines");
        }
        g.outer_names.push_back(name);
      }
      n.inputs.push_back(g.ValueId(name));
    }
  }
  if (!top) {  // whatever a subgraph reads and does not define comes from
               // outside (a hand-built graph may not say so)
    std::set<int> defined(g.input_ids.begin(), g.input_ids.end());
    for (const auto& [v, t] : g.constants) defined.insert(v);
    for (const auto& [v, w] : g.qweights) defined.insert(v);
    for (const Node& n : g.nodes)
      defined.insert(n.outputs.begin(), n.outputs.end());
    for (const Node& n : g.nodes) {
      for (int v : n.inputs) {
        if (v >= 0 && !defined.count(v))
          g.outer_names.push_back(g.value_names[v]);
      }
    }
    for (int v : g.output_ids) {
      if (!defined.count(v)) g.outer_names.push_back(g.value_names[v]);
    }
  }
  std::sort(g.outer_names.begin(), g.outer_names.end());
  g.outer_names.erase(std::unique(g.outer_names.begin(), g.outer_names.end()),
                      g.outer_names.end());
  return Status::Ok();
}

Result<int> InlineConstantIfs(Graph& g) {
  int replaced = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node n = g.nodes[i];
    if (n.op != "If" || !n.domain.empty() || n.inputs.empty()) continue;
    auto cit = g.constants.find(n.inputs[0]);
    if (cit == g.constants.end()) continue;
    LB_ASSIGN_OR_RETURN(bool cond, IfCondition(g, n, cit->second));
    const Graph* body = Branch(n, cond ? "then_branch" : "else_branch");
    const std::vector<std::string> outer = IfOuterNames(n);
    if (body == nullptr || n.inputs.size() != 1 + outer.size()) continue;
    std::map<int, int> to;  // body value id -> g value id
    for (size_t k = 0; k < outer.size(); ++k) {
      const int v = body->Find(outer[k]);
      if (v >= 0) to[v] = n.inputs[1 + k];
    }
    const std::string prefix = n.name + "/";
    for (const auto& [v, t] : body->constants) {
      const int id = FreshValue(g, prefix, body->value_names[v]);
      g.constants[id] = t;
      to[v] = id;
    }
    for (const auto& [v, w] : body->qweights) {
      const int id = FreshValue(g, prefix, body->value_names[v]);
      g.qweights[id] = w;
      to[v] = id;
    }
    for (const Node& b : body->nodes) {
      for (int v : b.outputs) {
        if (v >= 0) to[v] = FreshValue(g, prefix, body->value_names[v]);
      }
    }
    std::vector<Node> nodes;
    auto map = [&](int v) -> Result<int> {
      if (v < 0) return -1;
      auto it = to.find(v);
      if (it == to.end()) {
        return InvalidArgument(g.NodeLabel(n) + ": its branch reads '" +
                               body->value_names[v] +
                               "', which nothing defines");
      }
      return it->second;
    };
    for (const Node& b : body->nodes) {
      Node c = b;
      c.name = prefix + b.name;
      for (int& v : c.inputs) {
        LB_ASSIGN_OR_RETURN(v, map(v));
      }
      for (int& v : c.outputs) {
        LB_ASSIGN_OR_RETURN(v, map(v));
      }
      nodes.push_back(std::move(c));
    }
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      if (n.outputs[k] < 0) continue;
      Node id;
      id.op = "Identity";
      id.name = prefix + "output" + std::to_string(k);
      LB_ASSIGN_OR_RETURN(int src, map(body->output_ids[k]));
      id.inputs = {src};
      id.outputs = {n.outputs[k]};
      nodes.push_back(std::move(id));
    }
    g.nodes.erase(g.nodes.begin() + static_cast<std::ptrdiff_t>(i));
    g.nodes.insert(g.nodes.begin() + static_cast<std::ptrdiff_t>(i),
                   nodes.begin(), nodes.end());
    i = i + nodes.size() - 1;  // the loop's ++i steps past them
    ++replaced;
  }
  return replaced;
}

void AddControlFlowOps(std::vector<OpSchema>& t) {
  OpSchema s;
  s.name = "If";
  s.min_inputs = 1;
  s.max_inputs = 1 << 20;  // the condition, then the bound outer values
  s.min_outputs = 1;
  s.max_outputs = 1 << 20;
  s.check = IfCheck;
  s.infer = IfInfer;
  s.run = IfRun;
  t.push_back(s);
}

}  // namespace lowbit::graph
