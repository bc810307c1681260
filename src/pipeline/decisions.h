// What a reader of a model's first output sees, and how far a quantized
// model's decisions are from the fp32 model's: the output read as rows over
// its last axis, each row's argmax;
//   - a CTC recognizer (--calib-task ocr): the greedy CTC text (with the
//     recognizer's dictionary, trimmed as pipeline/eval_ocr.h trims it), and
//     the edit distance between two texts;
//   - otherwise: the rows whose argmax differs.
// Used by --target-bpw's trials (pipeline/mixed_precision.h) and by the
// early stopping of distillation QAT (pipeline/qat_model.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "eval/ocr.h"
#include "graph/tensor.h"

namespace lowbit {

// The argmax of every row over the last axis; InvalidArgument for a tensor
// that is not f32 with a last axis.
Result<std::vector<int64_t>> RowArgmax(const graph::Tensor& t);

// The dictionary of a recognizer with `classes` outputs (DefaultOcrCharset
// of eval_ocr.h), when one is at hand and fits.
std::optional<OcrCharset> RecognizerCharset(const std::string& model,
                                            int64_t classes);

// Decisions of `got` against `ref` (RowArgmax of one sample each): CTC edits
// (cs: the dictionary, or null to compare class sequences) or rows changed.
int64_t DecisionErrors(const std::vector<int64_t>& ref,
                       const std::vector<int64_t>& got, bool ctc,
                       const OcrCharset* cs);

}  // namespace lowbit
