// Report: per-tensor and total error statistics, bits per weight and bytes,
// comparing an original model with its quantized version (text table or JSON).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "eval/error_stats.h"
#include "io/model.h"

namespace lowbit {

struct TensorReport {
  std::string name;
  std::string
      scheme;  // "int4", ... or the dtype of a tensor kept as is ("f32")
  bool quantized = false;
  Shape shape;
  int64_t numel = 0;
  double bits_per_weight = 0.0;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  std::string granularity;  // "group:32", "channel", "tensor", or "" when kept
  std::string method;
  ErrorStats stats;  // empty (count 0) for non-float tensors
};

struct ModelReport {
  std::string original;
  std::string quantized;
  std::vector<TensorReport> tensors;
  ErrorStats total;            // over every float tensor
  ErrorStats total_quantized;  // over the quantized tensors only
  uint64_t bytes_in = 0;       // file sizes
  uint64_t bytes_out = 0;
  int64_t params = 0;
  int64_t params_quantized = 0;
  double bits_quantized = 0.0;  // stored bits of the quantized tensors
};

// Appends t to r and adds it to the totals (params, quantized bits, error).
void AddTensorReport(ModelReport& r, TensorReport t);

// "group:32", "channel" or "tensor".
std::string GranularityLabel(const QuantizedTensor& q);

// Compares every tensor of `orig` with the same-named tensor of `quant`.
// BadInput when a tensor is missing or its shape differs (naming both files).
Result<ModelReport> CompareModels(const Model& orig, const Model& quant,
                                  ThreadPool& pool);

nlohmann::json ReportToJson(const ModelReport& r);
std::string ReportToText(const ModelReport& r);

}  // namespace lowbit
