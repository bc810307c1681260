#include "io/model.h"

#include <cstdio>
#include <cstring>

#include "core/mapped_file.h"
#include "formats/ggml/ggml_type.h"
#include "io/gguf.h"
#include "io/gguf_model.h"
#include "io/onnx_model.h"
#include "io/quantized_safetensors.h"
#include "io/safetensors.h"

namespace lowbit {

std::string ModelTensor::SchemeName() const {
  if (q) return q->scheme.Name();
  if (gguf != nullptr) {
    const GgmlTypeInfo* info = FindGgmlTypeInfoById(gguf->ggml_type);
    if (info != nullptr) return std::string(info->ggml_name);
  }
  return std::string(DTypeName(dtype));
}

double ModelTensor::BitsPerWeight() const {
  if (q) return q->BitsPerWeight();
  const int64_t n = NumElements(shape);
  return n > 0 ? 8.0 * static_cast<double>(stored_bytes) / n : 0.0;
}

const ModelTensor* Model::Find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

void Model::AddTensor(ModelTensor t) {
  index_[t.name] = tensors_.size();
  tensors_.push_back(std::move(t));
}

Result<std::vector<uint8_t>> Model::ReadBytes(const ModelTensor& t) const {
  if (t.plain != nullptr) {
    return std::vector<uint8_t>(t.plain->data, t.plain->data + t.plain->nbytes);
  }
  if (t.gguf != nullptr) {
    return std::vector<uint8_t>(t.gguf->data, t.gguf->data + t.gguf->nbytes);
  }
  return InvalidArgument("tensor '" + t.name + "' has no stored bytes");
}

void Model::Release(const ModelTensor& t) const {
  if (t.gguf != nullptr) DropPages(t.gguf->data, t.gguf->nbytes);
  if (t.plain != nullptr) DropPages(t.plain->data, t.plain->nbytes);
}

bool LooksLikeGguf(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  char magic[4] = {};
  const size_t n = std::fread(magic, 1, 4, f);
  std::fclose(f);
  return n == 4 && std::memcmp(magic, "GGUF", 4) == 0;
}

Result<std::unique_ptr<Model>> OpenModel(const std::string& path) {
  if (HasOnnxExtension(path)) {
    LB_ASSIGN_OR_RETURN(std::unique_ptr<OnnxModel> m, OnnxModel::Open(path));
    return std::unique_ptr<Model>(std::move(m));
  }
  if (LooksLikeGguf(path)) {
    LB_ASSIGN_OR_RETURN(std::unique_ptr<GgufModel> m, GgufModel::Open(path));
    return std::unique_ptr<Model>(std::move(m));
  }
  LB_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsModel> m,
                      SafetensorsModel::Open(path));
  return std::unique_ptr<Model>(std::move(m));
}

}  // namespace lowbit
