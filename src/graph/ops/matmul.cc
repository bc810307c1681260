// Placeholder: this family's operators are not written yet.
#include "graph/ops/families.h"

namespace lowbit::graph {

void AddMatMulOps(std::vector<OpSchema>& t) { (void)t; }

}  // namespace lowbit::graph
