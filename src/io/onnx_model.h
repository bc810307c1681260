// OnnxModel: an ONNX file (onnx::ModelProto through Debian's libonnx protobuf
// classes) seen as lowbit's Model: every float initializer is a tensor. On
// opening, tensors held by Constant nodes are lifted into initializers (the
// nodes removed, names kept), external data is read from files beside the
// model, and every stored size is checked against its shape.
//
// Weights are the initializers that operators multiply by: input 1 of Conv,
// ConvTranspose, Gemm and MatMul, and input 0 of Gather (embeddings, on
// request). Each has the axis of its output channels, along which per-channel
// scales run: Conv 0, ConvTranspose 1, Gemm 1 (0 with transB), MatMul the last.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "io/model.h"

namespace onnx {
class ModelProto;
class TensorProto;
}  // namespace onnx

namespace lowbit {

class MappedFile;

struct OnnxWeightUse {
  std::string op;      // "Conv", "MatMul", ...
  int channel_axis;    // axis of the output channels in the weight's shape
  int64_t groups = 1;  // a Conv's `group` attribute
  // Whether a per-input-channel scale can be put on the reader's input (AWQ,
  // equalization): Conv, MatMul, and Gemm without transA.
  bool input_scalable = false;
};

class OnnxModel : public Model {
 public:
  static Result<std::unique_ptr<OnnxModel>> Open(const std::string& path);
  ~OnnxModel() override;

  const std::string& path() const override { return path_; }
  uint64_t file_size() const override { return file_size_; }
  std::string format() const override { return "onnx"; }
  Result<std::vector<float>> ReadFloat(const ModelTensor& t) const override;
  Result<std::vector<uint8_t>> ReadBytes(const ModelTensor& t) const override;

  // The model with Constant tensors lifted into initializers; external data
  // stays external until Materialize().
  onnx::ModelProto& proto() { return *proto_; }
  const onnx::ModelProto& proto() const { return *proto_; }
  // The opset of the default ("" / "ai.onnx") domain.
  int64_t opset() const { return opset_; }
  // Initializers used as weights, by name; Gather tables only with `gather`.
  std::map<std::string, OnnxWeightUse> Weights(bool gather) const;
  // Moves every external tensor's bytes into raw_data (for writing one file).
  Status Materialize();
  // Number of Constant nodes lifted into initializers.
  int lifted_constants() const { return lifted_; }

 private:
  OnnxModel();
  // Where an external tensor's `expect` bytes are, checked: the location is a
  // relative path inside the model's folder and the bytes lie inside the file.
  struct ExternalSlice {
    std::unique_ptr<MappedFile> file;
    uint64_t offset = 0;
  };
  Result<ExternalSlice> ExternalRange(const onnx::TensorProto& t,
                                      uint64_t expect) const;
  Result<std::vector<uint8_t>> ExternalBytes(const onnx::TensorProto& t,
                                             uint64_t expect) const;
  const onnx::TensorProto* Initializer(const std::string& name) const;
  std::string path_, dir_;
  uint64_t file_size_ = 0;
  std::unique_ptr<onnx::ModelProto> proto_;
  std::map<std::string, int> init_index_;  // initializer name -> index
  int64_t opset_ = 0;
  int lifted_ = 0;
};

// The DType of an ONNX TensorProto element type, or nullopt (strings, ...).
std::optional<DType> DTypeOfOnnx(int onnx_type);
// The little-endian element bytes of a tensor stored in the file itself (an
// attribute's tensor, or an initializer without external data), every size
// checked against its shape; BadInput otherwise.
Result<std::vector<uint8_t>> OnnxInFileBytes(const onnx::TensorProto& t);

// Writes `m` to `path` through a temporary file and a rename. Models whose
// serialized size would pass protobuf's 2 GiB limit (or all, with `external`)
// get their initializers of 1 KiB or more written to "<file name>.data" beside
// them (external data, 64-byte aligned).
Status WriteOnnxModel(onnx::ModelProto& m, const std::string& path,
                      bool external = false);

// True when the path ends in ".onnx".
bool HasOnnxExtension(const std::string& path);

}  // namespace lowbit
