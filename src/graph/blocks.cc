#include "graph/blocks.h"

#include <algorithm>
#include <functional>

namespace lowbit::graph {
namespace {

struct Analysis {
  std::vector<int> producer;       // by value id: node index, -1
  std::vector<bool> static_value;  // by value id: from constants only
  std::vector<int> order;          // every node, topological
};

Result<Analysis> Analyse(const Graph& g) {
  const size_t nv = g.value_names.size();
  Analysis a;
  a.producer.assign(nv, -1);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    for (int o : g.nodes[i].outputs) {
      if (o >= 0) a.producer[o] = static_cast<int>(i);
    }
  }
  LB_ASSIGN_OR_RETURN(a.order, TopologicalOrder(g));
  a.static_value.assign(nv, false);
  for (const auto& [id, t] : g.constants) a.static_value[id] = true;
  for (const auto& [id, q] : g.qweights) a.static_value[id] = true;
  for (int i : a.order) {
    const Node& n = g.nodes[i];
    bool all = true;
    for (int v : n.inputs) all = all && (v < 0 || a.static_value[v]);
    for (const auto& [name, at] : n.attrs) {
      all = all && at.kind != Attribute::Kind::kGraph;
    }
    if (!all) continue;
    for (int o : n.outputs) {
      if (o >= 0) a.static_value[o] = true;
    }
  }
  return a;
}

bool IsStaticNode(const Analysis& a, const Node& n) {
  for (int o : n.outputs) {
    if (o >= 0) return a.static_value[o];
  }
  return true;
}

}  // namespace

Result<std::vector<Block>> SingleValueBlocks(const Graph& g) {
  if (g.input_ids.size() != 1 || g.output_ids.size() != 1) {
    return InvalidArgument(
        "blocks are cut in graphs of one input and one output; this one has " +
        std::to_string(g.input_ids.size()) + " and " +
        std::to_string(g.output_ids.size()));
  }
  LB_ASSIGN_OR_RETURN(Analysis a, Analyse(g));
  std::vector<int> seq;  // the nodes that depend on the input, in order
  for (int i : a.order) {
    if (!IsStaticNode(a, g.nodes[i])) seq.push_back(i);
  }
  const int n = static_cast<int>(seq.size());
  std::vector<int> pos(g.nodes.size(), -1);
  for (int p = 0; p < n; ++p) pos[seq[p]] = p;
  // Value v is carried across the cut before position p when it is defined
  // before p (the input: at -1) and read at p or later (a graph output: at
  // n). Counted, and summed by id, with difference arrays.
  const size_t nv = g.value_names.size();
  std::vector<int> def(nv, -2), last(nv, -2);
  def[g.input_ids[0]] = -1;
  for (int p = 0; p < n; ++p) {
    const Node& node = g.nodes[seq[p]];
    for (int o : node.outputs) {
      if (o >= 0) def[o] = p;
    }
    for (int v : node.inputs) {
      if (v >= 0 && !a.static_value[v]) last[v] = std::max(last[v], p);
    }
  }
  last[g.output_ids[0]] = n;
  std::vector<int64_t> count(n + 2, 0), idsum(n + 2, 0);
  for (size_t v = 0; v < nv; ++v) {
    if (def[v] == -2 || last[v] <= def[v]) continue;
    // Carried across cuts def + 1 .. last.
    const int from = def[v] + 1, to = std::min(last[v], n);
    count[from] += 1;
    count[to + 1] -= 1;
    idsum[from] += static_cast<int64_t>(v);
    idsum[to + 1] -= static_cast<int64_t>(v);
  }
  std::vector<Block> blocks;
  Block cur;
  cur.input = g.input_ids[0];
  int64_t c = 0, s = 0;
  for (int p = 0; p <= n; ++p) {
    c += count[p];
    s += idsum[p];
    // A cut between p - 1 and p, not at the ends.
    if (p > 0 && p < n && c == 1 && !cur.nodes.empty()) {
      cur.output = static_cast<int>(s);
      blocks.push_back(cur);
      cur = Block{};
      cur.input = static_cast<int>(s);
    }
    if (p < n) cur.nodes.push_back(seq[p]);
  }
  cur.output = g.output_ids[0];
  blocks.push_back(cur);
  return blocks;
}

Block JoinBlocks(const std::vector<Block>& blocks, size_t a, size_t b) {
  Block j;
  j.input = blocks[a].input;
  j.output = blocks[b - 1].output;
  for (size_t k = a; k < b; ++k) {
    j.nodes.insert(j.nodes.end(), blocks[k].nodes.begin(),
                   blocks[k].nodes.end());
  }
  return j;
}

Graph ExtractBlock(const Graph& g, const Block& b) {
  std::vector<int> producer(g.value_names.size(), -1);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    for (int o : g.nodes[i].outputs) {
      if (o >= 0) producer[o] = static_cast<int>(i);
    }
  }
  // The block's nodes and, walking back from what they read, the
  // constant-only nodes they need (never past the block's input).
  std::vector<bool> take(g.nodes.size(), false);
  std::vector<int> stack;
  for (int i : b.nodes) {
    take[i] = true;
    stack.push_back(i);
  }
  while (!stack.empty()) {
    const int i = stack.back();
    stack.pop_back();
    for (int v : g.nodes[i].inputs) {
      if (v < 0 || v == b.input) continue;
      const int p = producer[v];
      if (p >= 0 && !take[p]) {
        take[p] = true;
        stack.push_back(p);
      }
    }
  }
  Graph s;
  s.value_names = g.value_names;
  s.name_index = g.name_index;
  s.opsets = g.opsets;
  s.outer_names = g.outer_names;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (!take[i]) continue;
    s.nodes.push_back(g.nodes[i]);
    for (int v : g.nodes[i].inputs) {
      if (v < 0) continue;
      auto c = g.constants.find(v);
      if (c != g.constants.end()) s.constants[v] = c->second;
      auto q = g.qweights.find(v);
      if (q != g.qweights.end()) s.qweights[v] = q->second;
    }
  }
  ValueInfo in;
  in.name = g.value_names[b.input];
  ValueInfo out;
  out.name = g.value_names[b.output];
  for (const ValueInfo& vi : g.inputs) {
    if (vi.name == in.name) in = vi;
  }
  for (const ValueInfo& vi : g.outputs) {
    if (vi.name == out.name) out = vi;
  }
  s.inputs = {in};
  s.input_ids = {b.input};
  s.outputs = {out};
  s.output_ids = {b.output};
  return s;
}

}  // namespace lowbit::graph
