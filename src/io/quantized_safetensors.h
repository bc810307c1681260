// The lowbit convention for quantized tensors inside safetensors files: a
// quantized weight W is stored as W.qcodes, W.qscale, W.qzero, W.qcodebook plus
// a JSON description in
// __metadata__["lowbit.q.W"] (see docs/formats.md), so a file can be read back
// and dequantized exactly.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "formats/quantized_tensor.h"
#include "io/model.h"
#include "io/safetensors.h"

namespace lowbit {

inline constexpr const char* kMetaPrefix = "lowbit.q.";

// A safetensors file seen through the lowbit convention.
class SafetensorsModel : public Model {
 public:
  // Opens and validates `path`, assembling quantized tensors from their
  // components. Errors name the file and the tensor (BadInput, exit status 2 in
  // the CLI).
  static Result<std::unique_ptr<SafetensorsModel>> Open(
      const std::string& path);

  const std::string& path() const override { return file_->path(); }
  uint64_t file_size() const override { return file_->file_size(); }
  std::string format() const override { return "safetensors"; }
  // The tensor as f32 values: dequantized, or converted from a float dtype.
  // InvalidArgument for non-float plain tensors (integer or bool data).
  Result<std::vector<float>> ReadFloat(const ModelTensor& t) const override;

 private:
  std::unique_ptr<SafetensorsFile> file_;
};

// What to write: a plain tensor (bytes of `dtype`, `shape`) or a quantized one.
struct OutputTensor {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;
  const uint8_t* bytes = nullptr;  // plain: borrowed bytes...
  std::vector<uint8_t> owned;      // ...or owned bytes (when bytes == nullptr)
  std::shared_ptr<const QuantizedTensor>
      q;  // quantized: dtype is the source dtype
};

// Writes `tensors` and `metadata` to `path` through a temporary file (no
// partial output on failure). Quantized tensors are written with the lowbit
// convention.
Status WriteSafetensorsModel(const std::string& path,
                             const std::vector<OutputTensor>& tensors,
                             std::map<std::string, std::string> metadata);

}  // namespace lowbit
