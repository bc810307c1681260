// Block reconstruction (BRECQ, Li et al., arXiv 2102.05426), `quantize
// --method brecq` on ONNX models. The model is cut into blocks where one
// value alone is carried (graph/blocks.h; a residual structure stays whole;
// blocks without weights join the next). Block by block, in order, the
// rounding of its weights is learned with AdaRound's relaxation
// (quant/soft_rounding.h) so that the block's output on the calibration
// samples matches the fp32 model's:
//   min over V  L(f_b(X~; W~(V)), f_b(X; W)) / L0 + lambda reg(V),
// X~ the block's input from the blocks already quantized, X fp32's, L the
// mean squared error (or BRECQ's Fisher-weighted one), the logits of a
// model ending in a Softmax by the KL of their softmax, L0 the start's,
// reg AdaRound's push of every rounding to one side (beta annealed from 20
// to 2 after a warm-up of a fifth of the steps without it).
//
// The start is GPTQ on the calibration statistics: its scales and zero
// points stay, and by default each weight learns whether to keep its GPTQ
// code or move it one step towards the float weight (--brecq-init codes;
// "weights" starts from the float weight as AdaRound does, measured worse).
// A block's hard codes are kept only where its output error on all the
// samples is lower than the start's and, for a model ending in a Softmax,
// the model's decisions on the samples (the rest of the model as started)
// are no worse than before the block: measured on the recognizer, block
// outputs of lower error could change more decisions. So the model's
// decisions on the samples are never worse than GPTQ's.
//
// Samples are read at their own size (text lines unpadded, as the
// statistics take them). The report has every block's figures, the whole
// model's output error against the start's, and its decisions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "formats/quantized_tensor.h"
#include "pipeline/quantize_model.h"

namespace lowbit {

// A weight of the model as the start quantized it.
struct BrecqWeight {
  std::string name;
  Shape shape;   // as in the model
  int axis = 0;  // the channel axis (the QuantizedTensor's rows)
  const std::vector<float>* front = nullptr;  // fp32, channel first
  QuantizedTensor* q = nullptr;  // in: the start; out: as reconstructed
};

struct BrecqResult {
  nlohmann::json report;  // per block: nodes, weights, errors, kept, seconds
  std::string text;
};

// Reconstructs every block of o.model that holds weights of `ws` on the
// samples of o.calib (o.calib_task, o.calib_samples), with
// o.brecq_iterations Adam steps of o.brecq_batch samples per block. Integer
// schemes only; a weight the soft rounding cannot take (another scheme,
// per tensor) stays as started. InvalidArgument names the model or folder.
Result<BrecqResult> BrecqRefine(const QuantizeModelOptions& o,
                                std::vector<BrecqWeight>& ws, ThreadPool& pool);

}  // namespace lowbit
