#include "core/tensor.h"

#include <cstring>

#include "core/half.h"
#include "core/status.h"

namespace lowbit {

int64_t NumElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string ShapeString(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

void RowsCols(const Shape& shape, int64_t* rows, int64_t* cols) {
  if (shape.empty()) {
    *rows = 1;
    *cols = 1;
  } else if (shape.size() == 1) {
    *rows = 1;
    *cols = shape[0];
  } else {
    *rows = shape[0];
    *cols = 1;
    for (size_t i = 1; i < shape.size(); ++i) *cols *= shape[i];
  }
}

int64_t StorageBytes(DType t, int64_t n) { return (n * DTypeBits(t) + 7) / 8; }

void ToFloat(DType t, const void* src, int64_t n, float* dst) {
  // An empty tensor's buffers may be null, which memcpy must never see.
  if (n <= 0) return;
  switch (t) {
    case DType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return;
    case DType::kF16: {
      const uint8_t* p = static_cast<const uint8_t*>(src);
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        dst[i] = F16ToF32(h);
      }
      return;
    }
    case DType::kBF16: {
      const uint8_t* p = static_cast<const uint8_t*>(src);
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        dst[i] = BF16ToF32(h);
      }
      return;
    }
    default:
      LB_CHECK(false && "ToFloat: not a float weight type");
  }
}

void FromFloat(DType t, const float* src, int64_t n, void* dst) {
  if (n <= 0) return;
  uint8_t* p = static_cast<uint8_t*>(dst);
  switch (t) {
    case DType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return;
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = F32ToF16(src[i]);
        std::memcpy(p + 2 * i, &h, 2);
      }
      return;
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = F32ToBF16(src[i]);
        std::memcpy(p + 2 * i, &h, 2);
      }
      return;
    default:
      LB_CHECK(false && "FromFloat: not a float weight type");
  }
}

}  // namespace lowbit
