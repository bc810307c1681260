#include "pipeline/importance_file.h"

#include <cmath>

#include "core/tensor.h"

namespace lowbit {

Result<std::unique_ptr<ImportanceFile>> ImportanceFile::Open(
    const std::string& path) {
  auto f = std::make_unique<ImportanceFile>();
  LB_ASSIGN_OR_RETURN(f->file_, SafetensorsFile::Open(path));
  return f;
}

Result<std::vector<float>> ImportanceFile::For(const std::string& name,
                                               int64_t cols) const {
  const SafetensorsEntry* e = file_->Find(name);
  if (e == nullptr) return std::vector<float>();
  const std::string where = file_->path() + ": importance '" + name + "'";
  if (e->dtype != DType::kF32 || NumElements(e->shape) != cols) {
    return BadInput(where + " must be " + std::to_string(cols) +
                    " f32 values (one per " + "input column), not " +
                    std::string(DTypeName(e->dtype)) + " " +
                    ShapeString(e->shape));
  }
  std::vector<float> v(static_cast<size_t>(cols));
  ToFloat(DType::kF32, e->data, cols, v.data());
  for (float x : v) {
    if (!std::isfinite(x) || x < 0)
      return BadInput(where + " holds a negative or non-finite value");
  }
  return v;
}

}  // namespace lowbit
