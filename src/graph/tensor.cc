#include "graph/tensor.h"

#include <cstdlib>
#include <new>

#include "core/half.h"
#include "core/round.h"
#include "core/status.h"

namespace lowbit::graph {

std::shared_ptr<uint8_t> AllocateBytes(int64_t n) {
  const size_t size =
      static_cast<size_t>((std::max<int64_t>(n, 1) + 63) / 64 * 64);
  void* p = std::aligned_alloc(64, size);
  if (p == nullptr) throw std::bad_alloc();
  return std::shared_ptr<uint8_t>(static_cast<uint8_t*>(p),
                                  [](uint8_t* q) { std::free(q); });
}

Tensor Tensor::Zeros(DType t, Shape shape) {
  const int64_t n = NumElements(shape) * ElementBytes(t);
  std::shared_ptr<uint8_t> buf = AllocateBytes(n);
  std::memset(buf.get(), 0, static_cast<size_t>(n));
  return OnBuffer(t, std::move(shape), std::move(buf));
}

Tensor Tensor::OnBuffer(DType t, Shape shape, std::shared_ptr<uint8_t> buf) {
  Tensor x;
  x.dtype_ = t;
  x.shape_ = std::move(shape);
  x.data_ = buf.get();
  x.keep_ = std::move(buf);
  return x;
}

Tensor Tensor::View(DType t, Shape shape, const void* data,
                    std::shared_ptr<const void> keep) {
  Tensor x;
  x.dtype_ = t;
  x.shape_ = std::move(shape);
  x.data_ = const_cast<uint8_t*>(static_cast<const uint8_t*>(data));
  x.keep_ = std::move(keep);
  return x;
}

Tensor Tensor::Scalar(float v) {
  Tensor x = Zeros(DType::kF32, {});
  *x.data<float>() = v;
  return x;
}

Tensor Tensor::Ints(const std::vector<int64_t>& v) {
  Tensor x = Zeros(DType::kI64, {static_cast<int64_t>(v.size())});
  if (!v.empty()) std::memcpy(x.data<int64_t>(), v.data(), v.size() * 8);
  return x;
}

Tensor Tensor::Reshaped(Shape shape) const {
  LB_CHECK(NumElements(shape) == numel());
  Tensor x = *this;
  x.shape_ = std::move(shape);
  return x;
}

double Tensor::GetDouble(int64_t i) const {
  const uint8_t* p = data_ + i * ElementBytes(dtype_);
  auto get = [p](auto v) {
    std::memcpy(&v, p, sizeof(v));
    return static_cast<double>(v);
  };
  switch (dtype_) {
    case DType::kF64:
      return get(double{});
    case DType::kF32:
      return get(float{});
    case DType::kF16: {
      uint16_t h;
      std::memcpy(&h, p, 2);
      return F16ToF32(h);
    }
    case DType::kBF16: {
      uint16_t h;
      std::memcpy(&h, p, 2);
      return BF16ToF32(h);
    }
    case DType::kI64:
      return get(int64_t{});
    case DType::kI32:
      return get(int32_t{});
    case DType::kI16:
      return get(int16_t{});
    case DType::kI8:
      return get(int8_t{});
    case DType::kU64:
      return get(uint64_t{});
    case DType::kU32:
      return get(uint32_t{});
    case DType::kU16:
      return get(uint16_t{});
    case DType::kU8:
      return get(uint8_t{});
    case DType::kBool:
      return get(uint8_t{}) != 0 ? 1.0 : 0.0;
    default:
      LB_CHECK(false && "GetDouble: not a numeric element type");
  }
  return 0.0;
}

int64_t Tensor::GetInt(int64_t i) const {
  switch (dtype_) {
    case DType::kI64: {
      int64_t v;
      std::memcpy(&v, data_ + 8 * i, 8);
      return v;
    }
    case DType::kI32: {
      int32_t v;
      std::memcpy(&v, data_ + 4 * i, 4);
      return v;
    }
    default:
      return TruncateToInt<int64_t>(GetDouble(i));
  }
}

std::string Tensor::Describe() const {
  return std::string(DTypeName(dtype_)) + ShapeString(shape_);
}

}  // namespace lowbit::graph
