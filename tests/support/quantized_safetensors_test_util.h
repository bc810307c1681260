// Shared helpers of the quantized-safetensors and report tests: seeded data,
// the scheme cases, and builders of plain and quantized output tensors.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "eval/synthetic.h"
#include "io/quantized_safetensors.h"
#include "quant/quantize.h"

namespace lowbit::testing_util {

inline ThreadPool& Pool() {
  static ThreadPool pool(2);
  return pool;
}

inline std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "/lowbit_qst_" + std::to_string(::getpid()) +
         "_" + name + ".safetensors";
}

constexpr int kT = static_cast<int>(Granularity::kTensor);
constexpr int kC = static_cast<int>(Granularity::kChannel);
constexpr int kG = static_cast<int>(Granularity::kGroup);

struct SchemeCase {
  std::string label;  // test-name friendly
  std::string scheme;
  int gran;  // -1: the scheme's default
  int64_t group;
  int sym;  // -1: default
  ScaleType scale_type;
  ZeroType zero_type = ZeroType::kCode;
};

// Test names print the label, not the bytes of the struct.
inline void PrintTo(const SchemeCase& c, std::ostream* os) { *os << c.label; }

inline std::vector<SchemeCase> AllSchemeCases() {
  return {
      {"int4_sym_g32", "int4", kG, 32, 1, ScaleType::kAuto},
      {"int3_asym_g16", "int3", kG, 16, 0, ScaleType::kAuto},
      {"int8_channel_f32", "int8", kC, 0, 1, ScaleType::kF32},
      {"int4_tensor_asym", "int4", kT, 0, 0, ScaleType::kAuto},
      {"int2_asym_g16_f32", "int2", kG, 16, 0, ScaleType::kF32},
      {"int4_asym_g32_zf16", "int4", kG, 32, 0, ScaleType::kAuto,
       ZeroType::kF16},
      {"int3_tensor_zf16", "int3", kT, 0, 0, ScaleType::kF32, ZeroType::kF16},
      {"int8_channel_zf16", "int8", kC, 0, 0, ScaleType::kAuto, ZeroType::kF16},
      {"binary", "binary", -1, 0, -1, ScaleType::kAuto},
      {"ternary", "ternary", -1, 0, -1, ScaleType::kAuto},
      {"nf4", "nf4", -1, 0, -1, ScaleType::kAuto},
      {"nf4_f16", "nf4", kG, 16, 1, ScaleType::kF16},
      {"fp8_e4m3", "fp8_e4m3", -1, 0, -1, ScaleType::kAuto},
      {"fp8_e5m2", "fp8_e5m2", -1, 0, -1, ScaleType::kF32},
      {"fp4_e2m1", "fp4_e2m1", -1, 0, -1, ScaleType::kAuto},
      {"mxfp4", "mxfp4", -1, 0, -1, ScaleType::kAuto},
      {"kmeans3_channel", "kmeans3", kC, 0, 1, ScaleType::kAuto},
      {"kmeans4_tensor", "kmeans4", kT, 0, 1, ScaleType::kAuto},
      {"kmeans2_channel_f32", "kmeans2", kC, 0, 1, ScaleType::kF32},
  };
}

inline QuantConfig ConfigFor(const SchemeCase& c) {
  QuantConfig cfg;
  cfg.scheme = *ParseScheme(c.scheme);
  cfg.granularity = c.gran;
  cfg.group_size = c.group;
  cfg.symmetric = c.sym;
  cfg.method = ParseMethod("mse").value();
  cfg.scale_type = c.scale_type;
  cfg.zero_type = c.zero_type;
  return cfg;
}

// Seeded data with an all-zero stretch (the whole of row 1 and 40 values of
// the last row) and one outlier, so groups with a zero scale and extreme
// scales both occur.
inline std::vector<float> TestData(const Shape& shape, uint64_t seed) {
  int64_t rows = 0, cols = 0;
  RowsCols(shape, &rows, &cols);
  std::vector<float> x = GaussianValues(rows * cols, seed);
  for (float& v : x) v *= 0.05f;
  if (rows > 2) {
    for (int64_t i = 0; i < cols; ++i) x[cols + i] = 0.0f;
    for (int64_t i = 0; i < std::min<int64_t>(cols, 40); ++i) {
      x[(rows - 1) * cols + i] = 0.0f;
    }
  }
  x[3] = 1.5f;
  return x;
}

inline std::vector<uint8_t> F32Bytes(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

inline OutputTensor Plain(const std::string& name, DType dt, Shape shape,
                          std::vector<uint8_t> bytes) {
  OutputTensor t;
  t.name = name;
  t.dtype = dt;
  t.shape = std::move(shape);
  t.owned = std::move(bytes);
  return t;
}

inline OutputTensor Quantized(const std::string& name,
                              std::shared_ptr<const QuantizedTensor> q) {
  OutputTensor t;
  t.name = name;
  t.dtype = q->source_dtype;
  t.shape = q->shape;
  t.q = std::move(q);
  return t;
}

inline std::vector<uint8_t> I64Bytes(const std::vector<int64_t>& v) {
  std::vector<uint8_t> b(v.size() * 8);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// Bitwise float vector equality (distinguishes -0 from +0, NaN payloads).
inline ::testing::AssertionResult SameBits(const std::vector<float>& a,
                                           const std::vector<float>& b) {
  if (a.size() != b.size()) {
    return ::testing::AssertionFailure()
           << "sizes differ: " << a.size() << " vs " << b.size();
  }
  for (size_t i = 0; i < a.size(); ++i) {
    uint32_t x, y;
    std::memcpy(&x, &a[i], 4);
    std::memcpy(&y, &b[i], 4);
    if (x != y) {
      return ::testing::AssertionFailure()
             << "element " << i << ": " << a[i] << " vs " << b[i];
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace lowbit::testing_util
