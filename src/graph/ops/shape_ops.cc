// Placeholder: this family's operators are not written yet.
#include "graph/ops/families.h"

namespace lowbit::graph {

void AddShapeOps(std::vector<OpSchema>& t) { (void)t; }

}  // namespace lowbit::graph
