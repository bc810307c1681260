// A deterministic synthetic model: transformer-shaped weights with realistic
// statistics (Gaussian bulk, heavy tails, a few outlier channels), for demos
// and tests until real models are read. The same seed gives the same bytes on
// every platform.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace lowbit {

// Fills n values of N(0, 1) from a splitmix64 stream with the Box-Muller
// transform.
std::vector<float> GaussianValues(int64_t n, uint64_t seed);

// Writes the synthetic model to `path` (safetensors, f32 / f16 / bf16 / i64
// tensors). `layers` transformer blocks of width `dim`.
Status WriteSyntheticModel(const std::string& path, uint64_t seed,
                           int layers = 4, int dim = 256);

}  // namespace lowbit
