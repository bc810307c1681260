// Control flow (If): the graph rewrites the Session makes before running
// subgraphs. Each If node gets the enclosing values its branches read
// (Graph::outer_names) as explicit inputs after the condition, so that the
// executor orders, keeps alive, folds and frees them like any input; an If
// whose condition is a constant is replaced by its chosen branch.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "graph/ir.h"

namespace lowbit::graph {

// The outer names an If node's branches read, sorted and without repeats:
// input 1 + k of a bound If is the value of name k.
std::vector<std::string> IfOuterNames(const Node& n);

// Binds every If node of g (and of its subgraphs, which are copied before
// they change: graphs may be shared) to its outer values. A subgraph reading
// a name its enclosing graph lacks passes the name on in its own
// outer_names; the top graph (`top`) refuses it, naming the node.
// Idempotent.
Status BindOuterValues(Graph& g, bool top);

// Whether cond (one element, bool or numeric) is true.
Result<bool> IfCondition(const Graph& g, const Node& n, const Tensor& cond);

// Replaces every If of g whose condition is a constant by the nodes of its
// chosen branch (values renamed "<if node>/<name>", outputs through
// Identity). Returns how many were replaced.
Result<int> InlineConstantIfs(Graph& g);

}  // namespace lowbit::graph
