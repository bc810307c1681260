// RunModel: `lowbit run`: an ONNX model on lowbit's engine, inputs from .npy
// files, every graph output written as <output name>.npy (characters other
// than letters, digits, '_', '.' and '-' replaced by '_').
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"
#include "graph/tensor.h"

namespace lowbit {

struct RunModelOptions {
  std::string model;
  std::map<std::string, std::string> inputs;  // input name -> .npy path
  std::string output_dir = ".";
  int threads = 0;
  bool fast = false;
  int repeat = 1;        // runs (the outputs of the last are written)
  bool profile = false;  // time per operator type in the report
};

struct RunModelResult {
  nlohmann::json report;  // outputs (name, file, dtype, shape), timings, memory
  std::string text;
};

Result<RunModelResult> RunModel(const RunModelOptions& o);

// The file name an output is written to: "<sanitized name>.npy".
std::string OutputFileName(const std::string& output_name);

}  // namespace lowbit
