#include "graph/ir.h"

#include <algorithm>
#include <functional>

#include "graph/qweight.h"

namespace lowbit::graph {

int64_t Node::Int(const std::string& a, int64_t def) const {
  const Attribute* x = Find(a);
  return x != nullptr && x->kind == Attribute::Kind::kInt ? x->i : def;
}

float Node::Float(const std::string& a, float def) const {
  const Attribute* x = Find(a);
  if (x == nullptr) return def;
  if (x->kind == Attribute::Kind::kFloat) return x->f;
  if (x->kind == Attribute::Kind::kInt) return static_cast<float>(x->i);
  return def;
}

std::string Node::String(const std::string& a, const std::string& def) const {
  const Attribute* x = Find(a);
  return x != nullptr && x->kind == Attribute::Kind::kString ? x->s : def;
}

std::vector<int64_t> Node::Ints(const std::string& a,
                                std::vector<int64_t> def) const {
  const Attribute* x = Find(a);
  return x != nullptr && x->kind == Attribute::Kind::kInts ? x->ints : def;
}

int Graph::ValueId(const std::string& name) {
  const int found = Find(name);
  if (found >= 0) return found;
  value_names.push_back(name);
  const int id = static_cast<int>(value_names.size()) - 1;
  name_index[name] = id;
  return id;
}

void Graph::DropUnread() {
  std::vector<char> read(value_names.size(), 0);
  for (const Node& n : nodes) {
    for (int v : n.inputs) {
      if (v >= 0) read[v] = 1;
    }
  }
  for (int v : output_ids) read[v] = 1;
  for (auto it = constants.begin(); it != constants.end();) {
    it = read[it->first] ? std::next(it) : constants.erase(it);
  }
  for (auto it = qweights.begin(); it != qweights.end();) {
    it = read[it->first] ? std::next(it) : qweights.erase(it);
  }
}

int Graph::Find(const std::string& name) const {
  auto it = name_index.find(name);
  return it == name_index.end() ? -1 : it->second;
}

Result<std::vector<int>> TopologicalOrder(const Graph& g) {
  const size_t nv = g.value_names.size();
  std::vector<int> producer(nv, -1);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    for (int o : g.nodes[i].outputs) {
      if (o >= 0) producer[o] = static_cast<int>(i);
    }
  }
  std::vector<int> pending(g.nodes.size(), 0);
  std::vector<std::vector<int>> users(nv);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    for (int v : g.nodes[i].inputs) {
      if (v >= 0 && producer[v] >= 0) {
        ++pending[i];
        users[v].push_back(static_cast<int>(i));
      }
    }
  }
  std::vector<int> ready, order;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (pending[i] == 0) ready.push_back(static_cast<int>(i));
  }
  std::make_heap(ready.begin(), ready.end(), std::greater<int>());
  while (!ready.empty()) {
    std::pop_heap(ready.begin(), ready.end(), std::greater<int>());
    const int i = ready.back();
    ready.pop_back();
    order.push_back(i);
    for (int v : g.nodes[i].outputs) {
      if (v < 0) continue;
      for (int u : users[v]) {
        if (--pending[u] == 0) {
          ready.push_back(u);
          std::push_heap(ready.begin(), ready.end(), std::greater<int>());
        }
      }
    }
  }
  if (order.size() != g.nodes.size()) {
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      if (pending[i] > 0) {
        return InvalidArgument(g.NodeLabel(g.nodes[i]) +
                               ": the graph has a cycle through this node");
      }
    }
  }
  return order;
}

}  // namespace lowbit::graph
