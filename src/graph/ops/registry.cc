// The table of every operator the engine runs.
#include <string>

#include "graph/ops/families.h"

namespace lowbit::graph {
namespace {

const std::vector<OpSchema>& Table() {
  static const std::vector<OpSchema> table = [] {
    std::vector<OpSchema> t;
    AddElementwiseOps(t);
    AddUnaryOps(t);
    AddShapeOps(t);
    AddMatMulOps(t);
    AddConvOps(t);
    AddPoolOps(t);
    AddNormOps(t);
    AddReduceOps(t);
    AddResizeOps(t);
    AddQuantOps(t);
    AddRnnOps(t);
    AddControlFlowOps(t);
    return t;
  }();
  return table;
}

}  // namespace

const OpSchema* FindOp(const std::string& domain, const std::string& op) {
  const std::string d = domain == "ai.onnx" ? "" : domain;
  for (const OpSchema& s : Table()) {
    if (d == s.domain && op == s.name) return &s;
  }
  return nullptr;
}

std::vector<const OpSchema*> AllOps() {
  std::vector<const OpSchema*> v;
  for (const OpSchema& s : Table()) v.push_back(&s);
  return v;
}

}  // namespace lowbit::graph
