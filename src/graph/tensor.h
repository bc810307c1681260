// graph::Tensor: a value the engine computes with: an element type (DType),
// a shape and 64-byte aligned bytes that it owns (shared, so that copies are
// cheap and a constant can be held by several nodes) or views (an
// initializer's bytes kept by their owner).
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>

#include "core/dtype.h"
#include "core/tensor.h"

namespace lowbit::graph {

// Storage bytes of n elements of t (whole bytes; packed types rounded up).
inline int64_t ElementBytes(DType t) { return (DTypeBits(t) + 7) / 8; }

class Tensor {
 public:
  Tensor() = default;

  // Owning, zero-filled.
  static Tensor Zeros(DType t, Shape shape);
  // Owning bytes supplied by an allocator (the executor's buffer pool): `buf`
  // must hold at least NumElements(shape) * ElementBytes(t) bytes.
  static Tensor OnBuffer(DType t, Shape shape, std::shared_ptr<uint8_t> buf);
  // A view of bytes that `keep` keeps alive (nullptr: the caller guarantees
  // they outlive every copy).
  static Tensor View(DType t, Shape shape, const void* data,
                     std::shared_ptr<const void> keep = nullptr);
  // A scalar or 1-D tensor of values, owning.
  static Tensor Scalar(float v);
  static Tensor Ints(const std::vector<int64_t>& v);

  bool defined() const { return data_ != nullptr || numel() == 0; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_[static_cast<size_t>(i)]; }
  int64_t numel() const { return NumElements(shape_); }
  int64_t nbytes() const { return numel() * ElementBytes(dtype_); }

  template <typename T>
  T* data() {
    return reinterpret_cast<T*>(data_);
  }
  template <typename T>
  const T* data() const {
    return reinterpret_cast<const T*>(data_);
  }
  uint8_t* bytes() { return data_; }
  const uint8_t* bytes() const { return data_; }

  // The same bytes under another shape of as many elements.
  Tensor Reshaped(Shape shape) const;
  // Element i as a double / int64 (any numeric dtype): for small shape-like
  // tensors, not for kernels.
  double GetDouble(int64_t i) const;
  int64_t GetInt(int64_t i) const;
  // How many tensors share this one's storage (0 for a view without owner).
  long storage_use_count() const { return keep_.use_count(); }
  // "f32[1, 3, 48, 320]".
  std::string Describe() const;

 private:
  DType dtype_ = DType::kF32;
  Shape shape_;
  uint8_t* data_ = nullptr;
  std::shared_ptr<const void> keep_;
};

// A 64-byte aligned, uninitialized byte buffer.
std::shared_ptr<uint8_t> AllocateBytes(int64_t n);

}  // namespace lowbit::graph
