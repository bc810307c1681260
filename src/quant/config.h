// QuantConfig: everything that decides how one tensor is quantized (scheme,
// granularity, symmetry, scale-selection method, scale storage), with defaults
// and validation.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "formats/quantized_tensor.h"
#include "formats/scheme.h"

namespace lowbit {

enum class Method : uint8_t {
  kMinMax,      // the range of the data (or the paper's closed-form rule)
  kPercentile,  // clip at the p-th percentile of |x| (or of x at both ends)
  kMse,  // search of the clipping range minimising the (weighted) squared error
  kHqq,  // half-quadratic l_p fit of an integer grid (quant/hqq.h)
};

struct MethodSpec {
  Method method = Method::kMse;
  double percentile = 100.0;  // for kPercentile, in [50, 100]
  // With importance weights: also fit without them and keep, per group, the
  // better under the weighted error (so that weighting never hurts its own
  // objective; twice the search). GPTQ turns it off for its starting scales,
  // whose codes it chooses again anyway.
  bool unweighted_guard = true;
  std::string Name() const;  // "minmax", "percentile:99.9", "mse", "hqq"
};
// Parses "minmax", "percentile:P" (50 <= P <= 100), "mse", "hqq".
Result<MethodSpec> ParseMethod(const std::string& s);

struct QuantConfig {
  Scheme scheme;
  // Unset (<0 / nullopt-like) fields take the scheme's defaults in Resolve().
  int granularity = -1;    // -1: default, else a Granularity value
  int64_t group_size = 0;  // 0: default
  // -1: default (asymmetric for int2 and int4, else symmetric), 0:
  // asymmetric, 1: symmetric.
  int symmetric = -1;
  MethodSpec method;
  ScaleType scale_type = ScaleType::kAuto;
  // Asymmetric int only: how zero points are stored
  // (formats/quantized_tensor.h).
  ZeroType zero_type = ZeroType::kCode;
  uint64_t seed = 0x10b17;  // k-means++ seeding
  int kmeans_iters = 30;

  // Fills defaults for `cols`-long rows and checks the combination; the message
  // names the option at fault.
  Status Resolve(int64_t cols);
  Granularity gran() const { return static_cast<Granularity>(granularity); }
  bool is_symmetric() const { return symmetric != 0; }
};

}  // namespace lowbit
