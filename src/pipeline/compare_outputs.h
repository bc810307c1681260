// CompareOutputs: `lowbit eval --task compare`: two models (a quantized one
// and its reference) run on lowbit's engine with the same inputs (given .npy
// files, or seeded uniform [0, 1) values of given shapes), and each output
// compared: max |a - b| / max |b| (the relative error the issue tracks),
// cosine similarity, and for probability outputs (non-negative rows summing
// to 1 along the last axis) the mean KL divergence KL(reference || model).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "graph/tensor.h"

namespace lowbit {

struct CompareOptions {
  std::string model, reference;
  std::map<std::string, std::string> inputs;  // name -> .npy
  std::map<std::string, Shape> shapes;        // name -> shape of random input
  uint64_t seed = 1;
  int threads = 0;
  bool fast = false;  // the model (not the reference) in fast mode
};

struct OutputDiff {
  std::string name;
  double max_rel_err = 0, cosine = 1, kl = -1;  // kl < 0: not probabilities
  double max_abs_err = 0, max_abs_ref = 0;
};

// The figures of one pair of tensors (same shape).
OutputDiff DiffTensors(const graph::Tensor& got, const graph::Tensor& ref);

struct CompareResult {
  std::vector<OutputDiff> outputs;
  double max_rel_err = 0;  // over all outputs: max |a - b| / max |b|
  nlohmann::json report;
  std::string text;
};

Result<CompareResult> CompareOutputs(const CompareOptions& o);

}  // namespace lowbit
