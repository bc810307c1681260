// Model: a model file of any supported format (safetensors, GGUF) seen as named
// tensors that read as f32, so that report, convert and inspect work on every
// format alike.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "formats/quantized_tensor.h"

namespace lowbit {

struct SafetensorsEntry;
struct GgufTensorInfo;

// One logical tensor. Shapes are row-major, outermost first (a GGUF tensor's ne
// reversed), so that rows = shape[0] .. and the last dimension is contiguous in
// every format.
struct ModelTensor {
  std::string name;
  DType dtype =
      DType::kF32;  // plain: the stored dtype; quantized: the source dtype
  Shape shape;
  uint64_t stored_bytes =
      0;  // bytes on disk (all components of a quantized tensor)
  const SafetensorsEntry* plain = nullptr;   // safetensors, stored as is
  std::shared_ptr<const QuantizedTensor> q;  // safetensors, lowbit-quantized
  const GgufTensorInfo* gguf = nullptr;      // GGUF tensors
  bool ggml_block = false;  // GGUF tensor in a ggml block format
  bool decodable =
      true;  // false for ggml block types lowbit has no decoder for

  bool quantized() const { return q != nullptr || ggml_block; }
  // Float data (quantized or f32/f16/bf16): what ReadFloat can return.
  bool is_float() const {
    return decodable && (quantized() || IsFloatWeight(dtype));
  }
  // "int4", "q4_K", or the dtype name of a plain tensor.
  std::string SchemeName() const;
  double BitsPerWeight() const;
};

class Model {
 public:
  virtual ~Model() = default;
  virtual const std::string& path() const = 0;
  virtual uint64_t file_size() const = 0;
  // "safetensors", "gguf" or "onnx".
  virtual std::string format() const = 0;
  // Logical tensors in file order.
  const std::vector<ModelTensor>& tensors() const { return tensors_; }
  const ModelTensor* Find(const std::string& name) const;
  // String metadata: safetensors __metadata__ (without lowbit.q.*); GGUF
  // key/values rendered as text.
  const std::map<std::string, std::string>& metadata() const {
    return metadata_;
  }
  // The tensor as f32 values, dequantized or converted. InvalidArgument for
  // tensors that are not float data.
  virtual Result<std::vector<float>> ReadFloat(const ModelTensor& t) const = 0;
  // The tensor's stored bytes (little-endian elements), for tensors that are
  // copied as they are.
  virtual Result<std::vector<uint8_t>> ReadBytes(const ModelTensor& t) const;
  // Hints that the tensor's bytes will not be read again soon: their pages of
  // the mapped file are dropped from this process's resident memory (they are
  // re-read if needed).
  void Release(const ModelTensor& t) const;

 protected:
  void AddTensor(ModelTensor t);
  std::vector<ModelTensor> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// True when the file at `path` starts with the GGUF magic.
bool LooksLikeGguf(const std::string& path);

// Opens an ONNX (by the .onnx extension), GGUF or safetensors file (by its
// first bytes).
Result<std::unique_ptr<Model>> OpenModel(const std::string& path);

}  // namespace lowbit
