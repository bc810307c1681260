#include "quant/quantize.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>

#include "formats/bitpack.h"
#include "kernels/encode.h"
#include "quant/group_fit.h"
#include "quant/kmeans1d.h"

namespace lowbit {
namespace {

constexpr float kF16MinNormal = 6.103515625e-05f;
constexpr float kF16Max = 65504.0f;

// Magnitude of the largest level a scale multiplies (used to size scales for
// kAuto).
float LargestLevel(const Scheme& s, bool symmetric) {
  switch (s.kind) {
    case SchemeKind::kInt:
      return symmetric ? static_cast<float>(1 << (s.bits - 1))
                       : static_cast<float>((1 << s.bits) - 1);
    case SchemeKind::kFp8E4M3:
      return 448.0f;
    case SchemeKind::kFp8E5M2:
      return 57344.0f;
    case SchemeKind::kFp4E2M1:
    case SchemeKind::kMxfp4:
      return 6.0f;
    default:
      return 1.0f;
  }
}

// Picks f16 when every group's scale stays a normal f16 number across the whole
// search range (down to 0.25x of the minmax scale), else f32. Codebooks hold
// values directly.
ScaleType ResolveAuto(const float* data, int64_t rows, int64_t cols,
                      int64_t group, const QuantConfig& cfg, ThreadPool& pool) {
  const float lmax = LargestLevel(cfg.scheme, cfg.is_symmetric());
  std::atomic<bool> fits{true};
  const bool kmeans = cfg.scheme.kind == SchemeKind::kKmeans;
  pool.ParallelFor(rows, 0, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1 && fits.load(std::memory_order_relaxed); ++r) {
      const float* row = data + r * cols;
      for (int64_t g = 0; g < cols; g += group) {
        float amax = 0.0f;
        const int64_t end = std::min(cols, g + group);
        for (int64_t i = g; i < end; ++i)
          amax = std::max(amax, std::fabs(row[i]));
        if (amax == 0.0f) continue;
        const bool ok = kmeans
                            ? (amax <= kF16Max && amax >= kF16MinNormal * 1024)
                            : (amax / lmax * 0.25f >= kF16MinNormal &&
                               amax / lmax * 2.0f <= kF16Max);
        if (!ok) {
          fits = false;
          return;
        }
      }
    }
  });
  return fits ? ScaleType::kF16 : ScaleType::kF32;
}

Status CheckFinite(const float* data, int64_t n, ThreadPool& pool) {
  std::atomic<int64_t> bad{n};
  pool.ParallelFor(n, 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      if (!std::isfinite(data[i])) {
        int64_t cur = bad.load();
        while (i < cur && !bad.compare_exchange_weak(cur, i)) {
        }
        return;
      }
    }
  });
  if (bad.load() < n) {
    const int64_t i = bad.load();
    return InvalidArgument(std::string("value ") + std::to_string(i) + " is " +
                           (std::isnan(data[i]) ? "NaN" : "infinite") +
                           ": only finite weights can be quantized");
  }
  return Status::Ok();
}

// k-means: one codebook per row (or one for the whole tensor), rounded to the
// scale type, then every value takes its nearest level.
void QuantizeKmeans(const float* data, const float* imp, QuantizedTensor& q,
                    const QuantConfig& cfg, ThreadPool& pool) {
  const int64_t k = q.levels();
  const int64_t cols = q.cols;
  auto fit = [&](std::span<const float> x, std::span<const float> w,
                 uint64_t seed, float* out) {
    std::vector<float> lv =
        KMeans1D(x, w, static_cast<int>(k), seed, cfg.kmeans_iters);
    for (float& v : lv) v = RoundScale(v, q.scale_type);
    std::sort(lv.begin(), lv.end());
    std::copy(lv.begin(), lv.end(), out);
  };
  auto encode_row = [&](int64_t r, std::vector<uint8_t>& codes) {
    const float* lv =
        q.codebook.data() + (q.granularity == Granularity::kTensor ? 0 : r) * k;
    if (k <= 16) {  // SIMD (kernels/encode.h), NearestLevel's codes
      NearestLevels(lv, static_cast<int>(k), data + r * cols, cols,
                    codes.data());
    } else {
      const std::span<const float> levels(lv, static_cast<size_t>(k));
      for (int64_t i = 0; i < cols; ++i) {
        codes[i] =
            static_cast<uint8_t>(NearestLevel(levels, data[r * cols + i]));
      }
    }
    PackBits(codes.data(), cols, q.scheme.bits,
             q.codes.data() + r * q.code_row_bytes());
  };
  if (q.granularity == Granularity::kTensor) {
    std::vector<float> w;
    if (imp != nullptr) {
      w.resize(static_cast<size_t>(q.rows * cols));
      for (int64_t r = 0; r < q.rows; ++r)
        std::copy(imp, imp + cols, w.begin() + r * cols);
    }
    fit(std::span<const float>(data, static_cast<size_t>(q.rows * cols)), w,
        cfg.seed, q.codebook.data());
  }
  pool.ParallelFor(q.rows, 0, [&](int64_t r0, int64_t r1) {
    std::vector<uint8_t> codes(static_cast<size_t>(cols));
    for (int64_t r = r0; r < r1; ++r) {
      if (q.granularity != Granularity::kTensor) {
        std::span<const float> w;
        if (imp != nullptr)
          w = std::span<const float>(imp, static_cast<size_t>(cols));
        fit(std::span<const float>(data + r * cols, static_cast<size_t>(cols)),
            w, cfg.seed + static_cast<uint64_t>(r), q.codebook.data() + r * k);
      }
      encode_row(r, codes);
    }
  });
}

// A scale type the user forced (f16) may not hold the scales this tensor needs.
Result<QuantizedTensor> CheckStorable(QuantizedTensor q) {
  for (const std::vector<float>* v : {&q.scales, &q.codebook}) {
    for (float x : *v) {
      if (!std::isfinite(x)) {
        return InvalidArgument("a scale or codebook level overflows " +
                               std::string(ScaleTypeName(q.scale_type)) +
                               ": use --scale-dtype f32 (or auto)");
      }
    }
  }
  return q;
}

}  // namespace

Result<QuantizedTensor> Quantize(const float* data, const Shape& shape,
                                 QuantConfig cfg, ThreadPool& pool,
                                 std::span<const float> importance) {
  int64_t rows, cols;
  RowsCols(shape, &rows, &cols);
  LB_RETURN_IF_ERROR(cfg.Resolve(cols));
  LB_RETURN_IF_ERROR(CheckFinite(data, rows * cols, pool));
  const float* imp = nullptr;
  if (!importance.empty()) {
    if (static_cast<int64_t>(importance.size()) != cols) {
      return InvalidArgument(
          "importance has " + std::to_string(importance.size()) +
          " entries, the tensor has " + std::to_string(cols) + " columns");
    }
    for (float v : importance) {
      if (!(v >= 0.0f) || !std::isfinite(v)) {
        return InvalidArgument("importance weights must be finite and >= 0");
      }
    }
    imp = importance.data();
  }

  QuantizedTensor q;
  q.scheme = cfg.scheme;
  q.granularity = cfg.gran();
  q.group_size = cfg.group_size;
  q.symmetric = cfg.is_symmetric();
  if (!q.symmetric) q.zero_type = cfg.zero_type;
  switch (cfg.scheme.kind) {
    case SchemeKind::kKmeans:
      q.method = "kmeans++/lloyd";
      break;
    case SchemeKind::kBinary:
      q.method = "mean-abs";  // closed form for every method (XNOR-Net)
      break;
    case SchemeKind::kTernary:
      q.method = cfg.method.method == Method::kMse ? "mse" : "twn";
      break;
    default:
      q.method = cfg.method.Name();
  }
  q.shape = shape;
  q.rows = rows;
  q.cols = cols;
  q.scale_type = cfg.scale_type;
  if (q.scale_type == ScaleType::kAuto) {
    const int64_t g =
        q.granularity == Granularity::kTensor ? cols : q.group_size;
    q.scale_type = ResolveAuto(data, rows, cols, g, cfg, pool);
  }
  q.codes.assign(static_cast<size_t>(rows * q.code_row_bytes()), 0);

  if (cfg.scheme.kind == SchemeKind::kKmeans) {
    if (q.granularity == Granularity::kTensor &&
        rows * cols >= (int64_t{1} << 31)) {
      return InvalidArgument(
          "per-tensor k-means takes at most 2^31 values: use --per-channel");
    }
    q.codebook.assign(static_cast<size_t>(q.scale_rows() * q.levels()), 0.0f);
    QuantizeKmeans(data, imp, q, cfg, pool);
    return CheckStorable(std::move(q));
  }

  const int64_t gpr = q.groups_per_row();
  const bool asym = !q.symmetric;
  q.scales.assign(static_cast<size_t>(q.scale_rows() * gpr), 0.0f);
  if (asym)
    q.zeros.assign(static_cast<size_t>(q.scale_rows() * q.zero_row_bytes()), 0);

  if (q.granularity == Granularity::kTensor) {
    // One group spanning every row: fit once, then encode rows in parallel.
    std::vector<float> w;
    if (imp != nullptr) {
      w.resize(static_cast<size_t>(rows * cols));
      for (int64_t r = 0; r < rows; ++r)
        std::copy(imp, imp + cols, w.begin() + r * cols);
    }
    const GroupFit fit =
        FitGroup(data, imp ? w.data() : nullptr, rows * cols, cfg.scheme,
                 q.symmetric, cfg.method, q.scale_type, q.zero_type);
    q.scales[0] = fit.scale;
    if (asym) SetZeroPoint(q, 0, 0, fit.zero_point());
    pool.ParallelFor(rows, 0, [&](int64_t r0, int64_t r1) {
      std::vector<uint8_t> codes(static_cast<size_t>(cols));
      for (int64_t r = r0; r < r1; ++r) {
        EncodeGroup(data + r * cols, cols, cfg.scheme, fit, cfg.method,
                    codes.data());
        PackBits(codes.data(), cols, cfg.scheme.bits,
                 q.codes.data() + r * q.code_row_bytes());
      }
    });
    return CheckStorable(std::move(q));
  }

  pool.ParallelFor(rows, 0, [&](int64_t r0, int64_t r1) {
    std::vector<uint8_t> codes(static_cast<size_t>(cols));
    for (int64_t r = r0; r < r1; ++r) {
      const float* row = data + r * cols;
      for (int64_t g = 0; g < gpr; ++g) {
        const int64_t b = g * q.group_size;
        const int64_t n = std::min(cols, b + q.group_size) - b;
        const GroupFit fit =
            FitGroup(row + b, imp ? imp + b : nullptr, n, cfg.scheme,
                     q.symmetric, cfg.method, q.scale_type, q.zero_type);
        q.scales[r * gpr + g] = fit.scale;
        if (asym) SetZeroPoint(q, r, g, fit.zero_point());
        EncodeGroup(row + b, n, cfg.scheme, fit, cfg.method, codes.data() + b);
      }
      PackBits(codes.data(), cols, cfg.scheme.bits,
               q.codes.data() + r * q.code_row_bytes());
    }
  });
  return CheckStorable(std::move(q));
}

}  // namespace lowbit
