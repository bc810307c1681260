// BenchModel: `lowbit bench MODEL.onnx`: the latency of lowbit's engine on a
// model, next to ONNX Runtime's on the same inputs in the same run. Rounds
// alternate (lowbit's repeats, then ONNX Runtime's through
// tools/ort/run_npy.js in a Node process), so both see the same machine
// load; the report has each side's per-round medians, their median and
// spread, and ratio_to_ort = lowbit's median / ONNX Runtime's. Peak resident
// memory: this process (lowbit) and the Node process (ONNX Runtime).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"
#include "core/tensor.h"

namespace lowbit {

struct BenchModelOptions {
  std::string model;
  std::map<std::string, std::string> inputs;  // name -> .npy
  std::map<std::string, Shape> shapes;        // name -> random input's shape
  int threads = 1;
  int repeat = 10;  // runs per round (the round's figure is their median)
  int rounds = 3;
  bool fast = false;
  bool ort = true;  // also measure ONNX Runtime when it is found
  // The model ONNX Runtime runs (empty: `model`), e.g. the fp32 original
  // beside a quantized `model` run in fast mode.
  std::string ort_model;
  // tools/ort/run_npy.js and the node_deps it needs; empty: looked for
  // beside the executable's source tree (LOWBIT_SOURCE_DIR, or ../ of it).
  std::string ort_runner;
};

struct BenchModelResult {
  nlohmann::json report;
  std::string text;
};

Result<BenchModelResult> BenchModel(const BenchModelOptions& o);

}  // namespace lowbit
