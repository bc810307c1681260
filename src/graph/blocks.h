// A graph cut into blocks at the points where one value alone carries the
// computation forward: block reconstruction (BRECQ, Li et al., arXiv
// 2102.05426) treats each as a unit whose output it matches, and a residual
// structure (a value read again after the branch) stays whole inside one.
//
// Values computed from constants only (a reshape's target shape, a Constant
// node) do not count as carried: a block's subgraph recomputes the ones it
// reads. The order is a stable topological order (file order where the file
// is sorted).
#pragma once

#include <vector>

#include "core/status.h"
#include "graph/ir.h"

namespace lowbit::graph {

struct Block {
  std::vector<int> nodes;  // node indices, in order (no constant-only node)
  int input = -1, output = -1;  // value ids
};

// The finest cut: consecutive blocks from the graph's input to its output,
// every node that depends on the input in exactly one. InvalidArgument for a
// graph with other than one input and one output, or a cycle.
Result<std::vector<Block>> SingleValueBlocks(const Graph& g);

// Blocks a .. b - 1 (consecutive, a < b) as one.
Block JoinBlocks(const std::vector<Block>& blocks, size_t a, size_t b);

// The subgraph that runs `b`: its nodes and the constant-only nodes they
// read, input b.input, output b.output, the constants its nodes read (sharing
// their storage with g's). Value ids are g's.
Graph ExtractBlock(const Graph& g, const Block& b);

}  // namespace lowbit::graph
