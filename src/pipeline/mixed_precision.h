// Mixed precision to a size budget (`quantize --target-bpw X`, issue 14),
// internal to src/pipeline/:
//   1. MeasureSensitivity (pipeline/sensitivity.h): every layer quantized
//      alone under every candidate, the model's output error on the first
//      calibration samples.
//   2. Trials: ChooseMixedPrecision, the greedy choice under the additive
//      estimate, over every non-empty subset of the candidates (with more
//      than 6 candidates: each alone, all but one, and all). A subset whose
//      smallest choice exceeds the budget gives no trial; equal choices are
//      tried once. The single-candidate subsets are the uniform schemes
//      within the budget, so the result is never worse than the best of them
//      under the decision error.
//   3. Every trial is written in float form beside -o (removed afterwards)
//      and run on lowbit's engine over the calibration samples (at most
//      --decision-samples); its decision error against the fp32 model's
//      first output, read as rows over its last axis:
//        --calib-task ocr: the edit distance between the greedy CTC decodes
//          (eval/ocr.h), summed over the samples, the lines padded to 320
//          wide as PaddleOCR reads them (pipeline/eval_ocr.h);
//        otherwise: the number of rows whose argmax changes.
//      The squared output error the search estimates does not rank what a
//      reader sees: on the PaddleOCR recognizer, a choice with 25% less
//      estimated error read twice the character errors of the uniform int3
//      (docs/benchmarks.md, "Calibration, third session").
//   4. The trial of least decision error (ties: least estimate) is quantized
//      to -o with the command's own format.
#pragma once

#include "core/status.h"
#include "io/calib_stats_file.h"
#include "pipeline/importance_file.h"
#include "pipeline/quantize_model.h"
#include "pipeline/tensor_selector.h"

namespace lowbit::pipeline_internal {

// o.target_bpw > 0, o.calib set; stats: the calibration statistics.
Result<QuantizeModelResult> QuantizeMixedPrecision(
    const QuantizeModelOptions& o, const TensorSelector& sel,
    const ImportanceFile* importance, const CalibStatsFile* stats);

}  // namespace lowbit::pipeline_internal
