// Tensor (owning, 64-byte aligned, typed storage) and MatView (a non-owning 2-D
// view). Weights are seen as 2-D: rows = shape[0] (output channels), cols =
// product of the rest.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace lowbit {

using Shape = std::vector<int64_t>;

// Number of elements; 1 for a scalar (empty shape).
int64_t NumElements(const Shape& shape);
// "[1024, 4096]".
std::string ShapeString(const Shape& shape);
// rows = shape[0], cols = the product of the rest (1-D: 1 x n; scalar: 1 x 1).
void RowsCols(const Shape& shape, int64_t* rows, int64_t* cols);
// Bytes that n elements of `t` occupy (rounded up to whole bytes for packed
// types).
int64_t StorageBytes(DType t, int64_t n);

// A non-owning row-major 2-D view with a row stride in elements.
template <typename T>
struct MatView {
  T* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t stride = 0;

  MatView() = default;
  MatView(T* d, int64_t r, int64_t c) : data(d), rows(r), cols(c), stride(c) {}
  MatView(T* d, int64_t r, int64_t c, int64_t s)
      : data(d), rows(r), cols(c), stride(s) {}
  T* row(int64_t r) const { return data + r * stride; }
  std::span<T> row_span(int64_t r) const {
    return std::span<T>(row(r), static_cast<size_t>(cols));
  }
  operator MatView<const T>() const {  // NOLINT: views convert to const
    return MatView<const T>(data, rows, cols, stride);
  }
};

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};

// Owning storage: dtype, shape, and 64-byte aligned bytes.
class Tensor {
 public:
  Tensor() = default;
  Tensor(DType dtype, Shape shape);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t numel() const { return NumElements(shape_); }
  size_t nbytes() const { return nbytes_; }
  uint8_t* bytes() { return data_.get(); }
  const uint8_t* bytes() const { return data_.get(); }
  template <typename T>
  T* data() {
    return reinterpret_cast<T*>(data_.get());
  }
  template <typename T>
  const T* data() const {
    return reinterpret_cast<const T*>(data_.get());
  }

 private:
  DType dtype_ = DType::kF32;
  Shape shape_;
  size_t nbytes_ = 0;
  std::unique_ptr<uint8_t, AlignedFree> data_;
};

// Converts n elements of a float weight type (f32, f16, bf16) to f32.
void ToFloat(DType t, const void* src, int64_t n, float* dst);
// Converts n floats to a float weight type (rounding to nearest even).
void FromFloat(DType t, const float* src, int64_t n, void* dst);

}  // namespace lowbit
