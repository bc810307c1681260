// The three format paths of QuantizeModel (internal to src/pipeline/).
#pragma once

#include <filesystem>
#include <string>

#include "core/status.h"
#include "io/calib_stats_file.h"
#include "io/onnx_model.h"
#include "io/onnx_quantized.h"
#include "pipeline/importance_file.h"
#include "pipeline/quantize_layer.h"
#include "pipeline/quantize_model.h"
#include "pipeline/tensor_selector.h"

namespace lowbit::pipeline_internal {

// Removes a file when it goes out of scope (intermediate models written
// beside the output: sequential calibration's passes, --target-bpw's trials).
struct RemoveOnExit {
  std::string path;
  ~RemoveOnExit() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
};

Result<QuantizeModelResult> QuantizeSafetensorsModel(
    const QuantizeModelOptions& o, const TensorSelector& sel,
    const ImportanceFile* importance);
// stats (--stats, by tensor name), or null: GPTQ for --method gptq, else the
// blocks' search weighted by each tensor's E[x^2].
Result<QuantizeModelResult> QuantizeGgufModel(const QuantizeModelOptions& o,
                                              const TensorSelector& sel,
                                              const ImportanceFile* importance,
                                              const CalibStatsFile* stats);
// stats: calibration statistics (--calib / --stats), or null.
Result<QuantizeModelResult> QuantizeOnnxModel(const QuantizeModelOptions& o,
                                              const TensorSelector& sel,
                                              const ImportanceFile* importance,
                                              const CalibStatsFile* stats);

// QuantizeLayer's options for one ONNX weight of `cols` columns per row
// under the command's options and its config.
LayerOptions LayerOptionsFor(const QuantizeModelOptions& o,
                             const OnnxWeightUse& use, const QuantConfig& cfg,
                             int64_t cols);

// How a weight is written for --onnx-format `format` (auto, qdq, decode,
// float, matmulnbits), and the bytes that takes in the file.
OnnxEncoding ChooseOnnxEncoding(const std::string& format,
                                const QuantizedTensor& q, int64_t opset,
                                const Shape& shape, int axis,
                                const std::string& op);
Result<int64_t> OnnxStoredBytes(const std::string& format,
                                const QuantizedTensor& q, int64_t opset,
                                const Shape& shape, int axis,
                                const std::string& op);

}  // namespace lowbit::pipeline_internal
