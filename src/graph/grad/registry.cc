// The table of every operator gradient.
#include <algorithm>

#include "graph/grad/grad.h"

namespace lowbit::graph {
namespace {

const std::vector<GradSchema>& Table() {
  static const std::vector<GradSchema> table = [] {
    std::vector<GradSchema> t;
    AddLinearGrads(t);
    AddElementwiseGrads(t);
    AddPoolGrads(t);
    AddShapeGrads(t);
    AddNormGrads(t);
    AddResizeGrads(t);
    return t;
  }();
  return table;
}

}  // namespace

const GradSchema* FindGrad(const std::string& domain, const std::string& op) {
  if (!domain.empty() && domain != "ai.onnx") return nullptr;
  for (const GradSchema& s : Table()) {
    if (op == s.name) return &s;
  }
  return nullptr;
}

std::vector<std::string> OpsWithGradients() {
  std::vector<std::string> v;
  for (const GradSchema& s : Table()) v.push_back(s.name);
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace lowbit::graph
