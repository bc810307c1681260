// lowbit's quantized-tensor convention inside safetensors (the lowbit.q.*
// descriptions, codes, scales, zero points, codebooks) and DequantizeRow on
// what it accepts. Invariants: every accepted tensor decodes to its shape's
// number of values; they are finite whenever its scales and levels are small
// enough not to overflow.
#include <algorithm>

#include "formats/quantized_tensor.h"
#include "fuzz/fuzz_util.h"
#include "io/quantized_safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lowbit;
  const std::string path =
      fuzz::WriteFile(fuzz::Scratch() / "in.safetensors", data, size);
  auto m = SafetensorsModel::Open(path);
  if (!m.ok()) return 0;
  fuzz::CheckModel(**m);
  for (const ModelTensor& t : (*m)->tensors()) {
    if (!t.q) continue;
    const QuantizedTensor& q = *t.q;
    float big = 0.0f;
    for (float s : q.scales) big = std::max(big, std::fabs(s));
    for (float c : q.codebook) big = std::max(big, std::fabs(c));
    std::vector<float> row(static_cast<size_t>(q.cols));
    for (int64_t r = 0; r < q.rows; ++r) {
      DequantizeRow(q, r, row.data());
      if (big < 1e30f) {
        for (float v : row) {
          fuzz::Check(std::isfinite(v), t.name + ": decodes to non-finite");
        }
      }
    }
  }
  return 0;
}
