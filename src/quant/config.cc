#include "quant/config.h"

#include <cstdlib>

namespace lowbit {

std::string MethodSpec::Name() const {
  switch (method) {
    case Method::kMinMax:
      return "minmax";
    case Method::kMse:
      return "mse";
    case Method::kHqq:
      return "hqq";
    case Method::kPercentile: {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "percentile:%.10g", percentile);
      return buf;
    }
  }
  return "?";
}

Result<MethodSpec> ParseMethod(const std::string& s) {
  MethodSpec m;
  if (s == "minmax") {
    m.method = Method::kMinMax;
  } else if (s == "mse") {
    m.method = Method::kMse;
  } else if (s == "hqq") {
    m.method = Method::kHqq;
  } else if (s.rfind("percentile:", 0) == 0) {
    const std::string num = s.substr(11);
    char* end = nullptr;
    const double p = std::strtod(num.c_str(), &end);
    if (num.empty() || end != num.c_str() + num.size() ||
        !(p >= 50.0 && p <= 100.0)) {
      return InvalidArgument("--method " + s +
                             ": the percentile must be a number in [50, 100]");
    }
    m.method = Method::kPercentile;
    m.percentile = p;
  } else {
    return InvalidArgument("--method " + s +
                           ": expected minmax, percentile:P, mse or hqq (gptq "
                           "with calibration data)");
  }
  return m;
}

Status QuantConfig::Resolve(int64_t cols) {
  const std::string name = scheme.Name();
  if (granularity < 0) {
    granularity = static_cast<int>(
        group_size > 0 ? Granularity::kGroup : scheme.DefaultGranularity());
  }
  // Measured on PaddleOCR's recognizer (docs/benchmarks.md, calibration): at 2
  // and 4 bits a zero point reads far more characters (int4 g32 data-free 86%
  // against 59%, with GPTQ per channel 99.3% against 97.1%); elsewhere
  // symmetric.
  if (symmetric < 0 && zero_type == ZeroType::kF16) symmetric = 0;
  if (symmetric < 0) {
    symmetric = scheme.kind == SchemeKind::kInt &&
                        (scheme.bits == 2 || scheme.bits == 4)
                    ? 0
                    : 1;
  }
  if (method.method == Method::kHqq && scheme.kind != SchemeKind::kInt) {
    return InvalidArgument("--method hqq fits integer grids (int2..int8); " +
                           name + " has a fixed level table");
  }
  if (symmetric == 0 && !scheme.SupportsAsymmetric()) {
    return InvalidArgument("--asymmetric: scheme " + name +
                           " has no zero point (only int2..int8 do)");
  }
  if (zero_type == ZeroType::kF16 && symmetric != 0) {
    return InvalidArgument("--zero-point f16: scheme " + name +
                           " is symmetric here (f16 zero points need "
                           "--asymmetric)");
  }
  if (scheme.kind == SchemeKind::kKmeans && gran() == Granularity::kGroup) {
    return InvalidArgument(
        "scheme " + name +
        " fits one codebook per channel or per tensor, not per "
        "group: use --per-channel or --per-tensor");
  }
  if (scheme.kind == SchemeKind::kMxfp4) {
    if (gran() != Granularity::kGroup ||
        (group_size != 0 && group_size != 32)) {
      return InvalidArgument("scheme mxfp4 has a fixed group of 32 (OCP MX)");
    }
    if (scale_type != ScaleType::kAuto && scale_type != ScaleType::kE8M0) {
      return InvalidArgument("scheme mxfp4 stores E8M0 scales");
    }
    scale_type = ScaleType::kE8M0;
  } else if (scale_type == ScaleType::kE8M0) {
    return InvalidArgument("E8M0 scales are only for mxfp4");
  }
  if (gran() == Granularity::kGroup) {
    if (group_size == 0) group_size = scheme.DefaultGroupSize();
    if (group_size < 16 || (group_size & (group_size - 1)) != 0) {
      return InvalidArgument("--group-size " + std::to_string(group_size) +
                             ": must be a power of two >= 16");
    }
  } else {
    group_size = cols > 0 ? cols : 1;
  }
  if (kmeans_iters < 1)
    return InvalidArgument("k-means needs at least 1 iteration");
  return Status::Ok();
}

}  // namespace lowbit
