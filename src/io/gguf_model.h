// GgufModel: a GGUF file seen as a Model (tensors in lowbit's row-major shape
// order, ggml blocks decoded to f32 on read), plus the conversions between GGUF
// and lowbit names and file types.
#pragma once

#include <memory>
#include <string>

#include "io/gguf.h"
#include "io/model.h"

namespace lowbit {

class GgufModel : public Model {
 public:
  // Opens and validates `path` (see GgufFile::Open).
  static Result<std::unique_ptr<GgufModel>> Open(const std::string& path);

  const std::string& path() const override { return file_->path(); }
  uint64_t file_size() const override { return file_->file_size(); }
  std::string format() const override { return "gguf"; }
  Result<std::vector<float>> ReadFloat(const ModelTensor& t) const override;
  const GgufFile& file() const { return *file_; }

 private:
  std::unique_ptr<GgufFile> file_;
};

// A GGUF value as one line of text (arrays abbreviated after 8 elements).
std::string GgufValueText(const GgufValue& v);

// llama.cpp's general.file_type for a file whose weights are mostly `ggml_type`
// (LLAMA_FTYPE_MOSTLY_*); -1 when there is none.
int GgufFileType(uint32_t ggml_type);

}  // namespace lowbit
