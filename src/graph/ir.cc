#include "graph/ir.h"

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

}  // namespace lowbit::graph
