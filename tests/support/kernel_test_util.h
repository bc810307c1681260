// Shared by the kernel tests: N(0,1) weights quantized to a scheme, and N(0,1)
// activations, both from a seed.
#pragma once

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "quant/quantize.h"

namespace lowbit::testing_kernels {

inline std::vector<float> Normal(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = g(rng);
  return v;
}

// One quantized layout a kernel test runs through.
struct LayoutCase {
  std::string scheme;
  Granularity gran;
  int64_t group;  // 0 unless gran is kGroup
  bool asym;
};

inline QuantizedTensor QuantizeNormal(int64_t rows, int64_t cols,
                                      const std::string& scheme,
                                      Granularity gran, int64_t group,
                                      bool asym, uint32_t seed,
                                      ScaleType st = ScaleType::kAuto) {
  const std::vector<float> w = Normal(rows * cols, seed);
  QuantConfig c;
  c.scheme = *ParseScheme(scheme);
  c.granularity = static_cast<int>(gran);
  c.group_size = group;
  c.symmetric = asym ? 0 : 1;
  c.method = MethodSpec{};
  c.scale_type = st;
  ThreadPool pool(1);
  auto q = Quantize(w.data(), Shape{rows, cols}, c, pool);
  EXPECT_TRUE(q.ok()) << q.status().message();
  return q.ok() ? std::move(q).value() : QuantizedTensor{};
}

}  // namespace lowbit::testing_kernels
