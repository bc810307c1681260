// Calibration statistics: a NodeObserver that, while a session runs sample
// inputs, accumulates for every layer with a constant weight (Conv, Gemm,
// MatMul with a constant right operand) what calibration-aware quantizers
// need (issue 14): the input second-moment matrix H = sum x x^T over the
// layer's input rows (a Conv's im2col patches, per group for grouped
// convolutions, in the weight's column order ch * taps + tap), the sum of |x|
// and of x^2 per column, and the sum and sum of squares of each output
// channel. Memory stays that of the sums, whatever the number of samples.
//
// Run the session without fusion (SessionOptions::fuse = false) so that each
// layer reads its weight under the file's initializer name and its outputs
// are the layer's own.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "graph/session.h"

namespace lowbit::graph {

struct LayerStats {
  std::string weight;     // the weight initializer's name
  std::string op;         // Conv, Gemm, MatMul
  std::string node;       // the node's label (first reader)
  int64_t groups = 1;     // H is groups x cols x cols
  int64_t cols = 0;       // the weight's columns (inputs per output)
  int64_t rows = 0;       // input rows (patches) seen, per group
  std::vector<double> h;  // groups x cols x cols, symmetric
  std::vector<double> sum_abs, sum_sq;  // groups x cols
  int64_t outputs = 0;                  // output channels
  int64_t out_count = 0;                // values seen per output channel
  std::vector<double> out_sum, out_sq;  // per output channel
  // The latest rows' x x^T in float (upper triangle), added into h every
  // kFlushRows rows and at Finish: float sums of a bounded number of rows,
  // double across them.
  std::vector<float> pending;
  int64_t pending_rows = 0;
};

class CalibStatsCollector : public NodeObserver {
 public:
  void Before(const Graph& g, const Node& n,
              const std::vector<const Tensor*>& in) override;
  void After(const Graph& g, const Node& n,
             const std::vector<Tensor*>& out) override;

  // By weight name. H holds both triangles after Finish().
  const std::map<std::string, LayerStats>& layers() const { return layers_; }
  // Completes H (the accumulation fills one triangle).
  void Finish();
  // Seconds spent in Before/After (the statistics' own cost).
  double seconds() const { return seconds_; }

 private:
  // The layer of node n, or null when n has no constant weight the
  // collector understands.
  LayerStats* LayerOf(const Graph& g, const Node& n, const Tensor** weight);

  std::map<std::string, LayerStats> layers_;
  std::vector<float> col_;  // im2col scratch, reused
  double seconds_ = 0.0;
};

}  // namespace lowbit::graph
