// The operator families of the engine, one file each under graph/ops/; each
// appends its OpSchemas to the table that graph/ops/registry.cc builds once.
#pragma once

#include <vector>

#include "graph/op.h"

namespace lowbit::graph {

void AddElementwiseOps(std::vector<OpSchema>& t);  // elementwise.cc
void AddUnaryOps(std::vector<OpSchema>& t);        // unary.cc
void AddShapeOps(std::vector<OpSchema>& t);        // shape_ops.cc
void AddMatMulOps(std::vector<OpSchema>& t);       // matmul.cc
void AddConvOps(std::vector<OpSchema>& t);         // conv.cc
void AddPoolOps(std::vector<OpSchema>& t);         // pool.cc
void AddNormOps(std::vector<OpSchema>& t);         // norm.cc
void AddReduceOps(std::vector<OpSchema>& t);       // reduce.cc
void AddResizeOps(std::vector<OpSchema>& t);       // resize.cc
void AddQuantOps(std::vector<OpSchema>& t);        // quant.cc
void AddRnnOps(std::vector<OpSchema>& t);          // rnn.cc: LSTM, GRU
void AddControlFlowOps(std::vector<OpSchema>& t);  // control_flow.cc: If

}  // namespace lowbit::graph
