// Tests of the quantizer for every scheme: hand-computed cases, seeded
// properties, and the mse-never-worse-than-minmax relation.
#include "quant/quantize.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/half.h"
#include "eval/error_stats.h"
#include "formats/bitpack.h"

namespace lowbit {
namespace {

ThreadPool& Pool() {
  static ThreadPool pool(2);
  return pool;
}

QuantConfig Config(const std::string& scheme, int gran, int64_t group, int sym,
                   const std::string& method, ScaleType st = ScaleType::kAuto) {
  QuantConfig c;
  c.scheme = *ParseScheme(scheme);
  c.granularity = gran;
  c.group_size = group;
  c.symmetric = sym;
  c.method = ParseMethod(method).value();
  c.scale_type = st;
  return c;
}

QuantizedTensor MustQuantize(const std::vector<float>& x, const Shape& shape,
                             const QuantConfig& c) {
  auto q = Quantize(x.data(), shape, c, Pool());
  EXPECT_TRUE(q.ok()) << q.status().message();
  return std::move(q).value();
}

std::vector<uint8_t> Codes(const QuantizedTensor& q, int64_t row) {
  std::vector<uint8_t> c(static_cast<size_t>(q.cols));
  UnpackBits(q.codes.data() + row * q.code_row_bytes(), q.cols, q.scheme.bits,
             c.data());
  return c;
}

constexpr int kT = static_cast<int>(Granularity::kTensor);
constexpr int kC = static_cast<int>(Granularity::kChannel);
constexpr int kG = static_cast<int>(Granularity::kGroup);

// ---- 1. hand-computed cases
// ------------------------------------------------------------

TEST(QuantizeHand, Int4SymmetricMinMax) {
  // Extreme -8 maps to level -8: scale 1, codes x + 8.
  std::vector<float> x = {-8, -4, 0,  7, 1, 2,  3,  4,
                          -1, -2, -3, 5, 6, -5, -6, -7};
  auto q = MustQuantize(x, {1, 16}, Config("int4", kG, 16, 1, "minmax"));
  ASSERT_EQ(q.scales.size(), 1u);
  EXPECT_EQ(q.scales[0], 1.0f);
  auto c = Codes(q, 0);
  EXPECT_EQ(c[0], 0);
  EXPECT_EQ(c[1], 4);
  EXPECT_EQ(c[2], 8);
  EXPECT_EQ(c[3], 15);
  EXPECT_EQ(Dequantize(q), x);
  EXPECT_EQ(q.codes[0], 0x40);  // codes 0 and 4 packed low nibble first
}

TEST(QuantizeHand, Int4SymmetricPositiveExtremeUsesNegativeScale) {
  // Extreme +16 maps to level -8 through scale -2: codes 8 - x/2.
  std::vector<float> x(16, 0.0f);
  x[0] = 16;
  x[1] = -2;
  auto q = MustQuantize(x, {1, 16}, Config("int4", kG, 16, 1, "minmax"));
  EXPECT_EQ(q.scales[0], -2.0f);
  auto c = Codes(q, 0);
  EXPECT_EQ(c[0], 0);
  EXPECT_EQ(c[1], 9);
  EXPECT_EQ(Dequantize(q), x);
}

TEST(QuantizeHand, Int2AsymmetricMinMax) {
  std::vector<float> x = {0, 1, 2, 3, 3, 2, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0};
  auto q = MustQuantize(x, {1, 16}, Config("int2", kG, 16, 0, "minmax"));
  EXPECT_EQ(q.scales[0], 1.0f);
  ASSERT_EQ(q.zeros.size(), 1u);
  EXPECT_EQ(q.zeros[0], 0);
  auto c = Codes(q, 0);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(c[i], x[i]);
  EXPECT_EQ(q.codes[0], 0xE4);  // 0,1,2,3 -> 00 01 10 11 LSB first
}

TEST(QuantizeHand, BinaryIsSignTimesMeanAbs) {
  std::vector<float> x = {1, -2, 3, -4};
  auto q = MustQuantize(x, {1, 4}, Config("binary", kC, 0, 1, "minmax"));
  EXPECT_EQ(q.scales[0], 2.5f);
  EXPECT_EQ(Dequantize(q), (std::vector<float>{2.5f, -2.5f, 2.5f, -2.5f}));
  EXPECT_NEAR(q.BitsPerWeight(), (8.0 + 16.0) / 4,
              1e-12);  // a padded code byte + f16
}

TEST(QuantizeHand, TernaryTwnRule) {
  // mean|x| = 1.025, threshold 0.7175: 0.1 -> 0, alpha = mean(1, 1, 2) = 4/3.
  std::vector<float> x = {0.1f, -1, 1, 2};
  auto q = MustQuantize(x, {1, 4},
                        Config("ternary", kC, 0, 1, "minmax", ScaleType::kF32));
  EXPECT_FLOAT_EQ(q.scales[0], 4.0f / 3.0f);
  const float a = q.scales[0];
  EXPECT_EQ(Dequantize(q), (std::vector<float>{0, -a, a, a}));
}

TEST(QuantizeHand, Nf4AbsmaxRepresentsTableExactly) {
  std::vector<float> x;
  for (float v : Nf4Levels()) x.push_back(2.0f * v);
  for (float v : Nf4Levels()) x.push_back(-2.0f * v);
  auto q = MustQuantize(x, {1, 32}, Config("nf4", kG, 32, 1, "minmax"));
  EXPECT_EQ(q.scales[0], 2.0f);
  auto y = Dequantize(q);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(y[i], x[i]);
}

TEST(QuantizeHand, Mxfp4SharedExponent) {
  // amax 6 -> exponent floor(log2 6) - 2 = 0: scale 1, E2M1 values exact.
  std::vector<float> x(32, 0.0f);
  const float v[8] = {6, 3, -1.5f, 0.5f, 4, -2, 1, -6};
  for (int i = 0; i < 8; ++i) x[i] = v[i];
  auto q = MustQuantize(x, {1, 32}, Config("mxfp4", kG, 32, 1, "minmax"));
  EXPECT_EQ(q.scale_type, ScaleType::kE8M0);
  EXPECT_EQ(q.scales[0], 1.0f);
  EXPECT_EQ(Dequantize(q), x);
  EXPECT_NEAR(q.BitsPerWeight(), 4.25, 1e-12);
}

TEST(QuantizeHand, BitsPerWeight) {
  std::vector<float> x(64 * 256, 0.5f);
  EXPECT_NEAR(MustQuantize(x, {64, 256}, Config("int4", kG, 32, 1, "minmax"))
                  .BitsPerWeight(),
              4.5, 1e-12);
  EXPECT_NEAR(MustQuantize(x, {64, 256}, Config("int4", kG, 32, 0, "minmax"))
                  .BitsPerWeight(),
              4.625, 1e-12);
  EXPECT_NEAR(MustQuantize(x, {64, 256},
                           Config("int8", kC, 0, 1, "minmax", ScaleType::kF32))
                  .BitsPerWeight(),
              8.0 + 32.0 / 256, 1e-12);
  EXPECT_NEAR(MustQuantize(x, {64, 256}, Config("kmeans3", kC, 0, 1, "mse"))
                  .BitsPerWeight(),
              3.0 + 8 * 16.0 / 256, 1e-12);
}

// ---- 2. seeded properties over every scheme
// --------------------------------------------

struct Case {
  std::string scheme;
  int gran;
  int64_t group;
  int sym;
};

std::vector<Case> AllCases() {
  std::vector<Case> cases;
  for (int b = 2; b <= 8; ++b) {
    const std::string s = "int" + std::to_string(b);
    cases.push_back({s, kG, 32, 1});
    cases.push_back({s, kG, 16, 0});
    cases.push_back({s, kC, 0, 1});
    cases.push_back({s, kT, 0, 0});
  }
  for (const char* s :
       {"nf4", "fp4_e2m1", "fp8_e4m3", "fp8_e5m2", "binary", "ternary"}) {
    cases.push_back({s, kG, 64, 1});
    cases.push_back({s, kC, 0, 1});
    cases.push_back({s, kT, 0, 1});
  }
  cases.push_back({"mxfp4", kG, 32, 1});
  for (int b = 2; b <= 8; ++b) {
    cases.push_back({"kmeans" + std::to_string(b), kC, 0, 1});
  }
  cases.push_back({"kmeans4", kT, 0, 1});
  return cases;
}

std::string Label(const Case& c, const std::string& method) {
  return c.scheme + " gran=" + std::to_string(c.gran) +
         " group=" + std::to_string(c.group) + " sym=" + std::to_string(c.sym) +
         " " + method;
}

std::vector<float> Gaussian(int64_t n, uint32_t seed, float sd = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, sd);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = d(rng);
  return v;
}

double SqErr(const std::vector<float>& x, const std::vector<float>& y) {
  ErrorStats s;
  s.Add(x.data(), y.data(), static_cast<int64_t>(x.size()));
  return s.sum_sq_err;
}

TEST(QuantizeProperty, MseNeverWorseThanMinMax) {
  const Shape shape = {12, 200};  // 200 = 6 groups of 32 + a partial group of 8
  for (uint32_t seed : {1u, 2u}) {
    std::vector<float> x = Gaussian(12 * 200, seed);
    x[17] = 9.0f;  // an outlier
    for (const Case& c : AllCases()) {
      if (c.scheme.rfind("kmeans", 0) == 0) continue;
      const auto a = Dequantize(MustQuantize(
          x, shape, Config(c.scheme, c.gran, c.group, c.sym, "minmax")));
      const auto b = Dequantize(MustQuantize(
          x, shape, Config(c.scheme, c.gran, c.group, c.sym, "mse")));
      EXPECT_LE(SqErr(x, b), SqErr(x, a) * (1 + 1e-9)) << Label(c, "mse");
    }
  }
}

TEST(QuantizeProperty, IntRoundToNearestWithinHalfStep) {
  const std::vector<float> x = Gaussian(8 * 96, 3);
  for (int b = 2; b <= 8; ++b) {
    for (int sym : {0, 1}) {
      auto q = MustQuantize(x, {8, 96},
                            Config("int" + std::to_string(b), kG, 32, sym,
                                   "minmax", ScaleType::kF32));
      const auto y = Dequantize(q);
      for (int64_t i = 0; i < 8 * 96; ++i) {
        const float s = std::fabs(q.scales[(i / 96) * 3 + (i % 96) / 32]);
        // minmax covers the group's range, so every value is within half a
        // step. The symmetric grid -2^(b-1)..2^(b-1)-1 puts the extreme on its
        // longer side; a value beyond the shorter side is within one step.
        const float lim =
            sym ? static_cast<float>((1 << (b - 1)) - 1) * s : 1e30f;
        const float tol = std::fabs(x[i]) <= lim ? 0.5f * s : s;
        ASSERT_LE(std::fabs(x[i] - y[i]), tol * (1 + 1e-5f) + 1e-7f)
            << "int" << b << " sym=" << sym << " i=" << i;
      }
    }
  }
}

// Values that are exactly representable come back exactly (f32 scales).
TEST(QuantizeProperty, RepresentableInputsAreExact) {
  for (const Case& c : AllCases()) {
    const Scheme s = *ParseScheme(c.scheme);
    const int64_t cols = 64;
    std::vector<float> x(static_cast<size_t>(4 * cols));
    std::mt19937 rng(11);
    for (int64_t r = 0; r < 4; ++r) {
      const float scale =
          std::ldexp(1.0f, static_cast<int>(r) - 2);  // 1/4 .. 2
      std::vector<float> lv;
      if (s.kind == SchemeKind::kInt) {
        const int lo = c.sym ? -(1 << (s.bits - 1)) : 0;
        const int hi = c.sym ? (1 << (s.bits - 1)) - 1 : (1 << s.bits) - 1;
        for (int v = lo; v <= hi; ++v) lv.push_back(static_cast<float>(v));
        if (!c.sym) lv[0] = 0;  // asymmetric ranges include 0 at code 0 here
      } else if (s.kind == SchemeKind::kKmeans) {
        for (int v = 0; v < (1 << s.bits) && v < 8; ++v)
          lv.push_back(v * 0.75f - 2.0f);
      } else if (s.kind == SchemeKind::kTernary) {
        lv = {-1, 0, 1};
      } else if (s.kind == SchemeKind::kBinary) {
        lv = {-1, 1};
      } else {
        for (float v : s.Levels()) {
          if (std::isfinite(v)) lv.push_back(v);
        }
      }
      for (int64_t i = 0; i < cols; ++i) {
        // every group contains its table's extremes, so absmax rules find the
        // scale
        const size_t k =
            i % 32 == 0 ? 0 : (i % 32 == 1 ? lv.size() - 1 : rng() % lv.size());
        x[r * cols + i] = (c.gran == kT ? 1.0f : scale) * lv[k];
      }
      if (s.kind == SchemeKind::kTernary)
        x[r * cols + 2] = (c.gran == kT ? 1.0f : scale);
    }
    auto q = MustQuantize(
        x, {4, cols},
        Config(
            c.scheme, c.gran, c.group == 16 ? 32 : c.group, c.sym, "minmax",
            s.kind == SchemeKind::kMxfp4 ? ScaleType::kAuto : ScaleType::kF32));
    EXPECT_EQ(Dequantize(q), x) << Label(c, "minmax");
  }
}

// All-zero, constant, single-outlier, tiny (1e-30) and huge (1e30) inputs.
TEST(QuantizeProperty, EdgeInputs) {
  const int64_t rows = 4, cols = 64, n = rows * cols;
  const std::vector<float> base = Gaussian(n, 5);
  for (const Case& c : AllCases()) {
    for (const char* m : {"minmax", "mse"}) {
      const QuantConfig cfg = Config(c.scheme, c.gran, c.group, c.sym, m);
      // all zero -> exactly zero
      const std::vector<float> zero(n, 0.0f);
      auto y = Dequantize(MustQuantize(zero, {rows, cols}, cfg));
      for (float v : y) ASSERT_EQ(v, 0.0f) << Label(c, m);
      // constant -> within f16 scale rounding of the constant (mxfp4:
      // power-of-two scales put 0.37 between E2M1 levels 4 and 6, so it is
      // within a level step)
      const float tol = c.scheme == "mxfp4" ? 0.37f * 0.1f : 0.37f * 2e-3f;
      const std::vector<float> cst(n, 0.37f);
      y = Dequantize(MustQuantize(cst, {rows, cols}, cfg));
      for (float v : y) ASSERT_NEAR(v, 0.37f, tol) << Label(c, m);
      // one outlier: finite output, the outlier itself within 10% (mxfp4's OCP
      // minmax rule saturates the largest value of a block: within 25%)
      std::vector<float> out = base;
      out[70] = 1000.0f;
      y = Dequantize(MustQuantize(out, {rows, cols}, cfg));
      for (float v : y) ASSERT_TRUE(std::isfinite(v)) << Label(c, m);
      if (c.scheme != "binary" && c.scheme != "ternary") {
        EXPECT_NEAR(y[70], 1000.0f, c.scheme == "mxfp4" ? 250.0f : 100.0f)
            << Label(c, m);
      }
      // tiny and huge: with f32 scales, power-of-two factors 2^-100 (~1e-30)
      // and 2^100
      // (~1e30) give exactly the same codes; 1e-30 and 1e30 themselves give
      // finite values and the same relative error within 5% (mxfp4: 30%, its
      // scales are powers of two)
      QuantConfig f32cfg = cfg;
      if (c.scheme != "mxfp4") f32cfg.scale_type = ScaleType::kF32;
      const auto q1 = MustQuantize(base, {rows, cols}, f32cfg);
      const auto y1 = Dequantize(q1);
      ErrorStats s1;
      s1.Add(base.data(), y1.data(), n);
      for (float f : {0x1p-100f, 0x1p100f}) {
        std::vector<float> xs = base;
        for (float& v : xs) v *= f;
        const auto qs = MustQuantize(xs, {rows, cols}, f32cfg);
        EXPECT_EQ(qs.codes, q1.codes) << Label(c, m) << " factor " << f;
      }
      for (float f : {1e-30f, 1e30f}) {
        std::vector<float> xs = base;
        for (float& v : xs) v *= f;
        const auto ys = Dequantize(MustQuantize(xs, {rows, cols}, cfg));
        ErrorStats ss;
        ss.Add(xs.data(), ys.data(), n);
        for (float v : ys) ASSERT_TRUE(std::isfinite(v)) << Label(c, m);
        const double rtol = c.scheme == "mxfp4" ? 0.3 : 0.05;
        EXPECT_NEAR(ss.rel_rmse(), s1.rel_rmse(), rtol * s1.rel_rmse() + 1e-6)
            << Label(c, m) << " factor " << f;
      }
    }
  }
}

// Quantize(Dequantize(q)) == q for the symmetric minmax rules (codes and
// values); for the searched and clipping rules, requantizing costs at most the
// first error.
TEST(QuantizeProperty, RequantizingIsIdempotent) {
  const std::vector<float> x = Gaussian(6 * 128, 9);
  for (const Case& c : AllCases()) {
    for (const char* m : {"minmax", "percentile:99", "mse"}) {
      const QuantConfig cfg = Config(c.scheme, c.gran, c.group, c.sym, m);
      const auto q1 = MustQuantize(x, {6, 128}, cfg);
      const auto y1 = Dequantize(q1);
      const auto q2 = MustQuantize(y1, {6, 128}, cfg);
      const auto y2 = Dequantize(q2);
      const bool exact_codes = std::string(m) == "minmax" && c.sym == 1 &&
                               c.scheme.rfind("fp", 0) != 0 &&
                               c.scheme.rfind("kmeans", 0) != 0;
      if (exact_codes) {
        EXPECT_EQ(q1.codes, q2.codes) << Label(c, m);
        EXPECT_EQ(y1, y2) << Label(c, m);
      } else {
        // Rules that search or clip may land on another grid for the decoded
        // values, but requantizing never costs more than the first quantization
        // did.
        EXPECT_LE(SqErr(y1, y2), SqErr(x, y1) * (1 + 1e-6) + 1e-12)
            << Label(c, m);
      }
    }
  }
}

TEST(QuantizeProperty, DeterministicForAnyThreadCount) {
  const std::vector<float> x = Gaussian(64 * 256, 13);
  for (const char* s : {"int4", "nf4", "kmeans3", "ternary"}) {
    QuantConfig cfg = Config(s, -1, 0, -1, "mse");
    ThreadPool one(1), two(2);
    auto a = Quantize(x.data(), {64, 256}, cfg, one);
    auto b = Quantize(x.data(), {64, 256}, cfg, two);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->codes, b->codes) << s;
    EXPECT_EQ(a->scales, b->scales) << s;
    EXPECT_EQ(a->codebook, b->codebook) << s;
  }
}

TEST(QuantizeProperty, ImportanceWeightsShiftTheError) {
  // With a heavy weight on column 0, its error must not grow versus unweighted.
  const int64_t rows = 32, cols = 64;
  const std::vector<float> x = Gaussian(rows * cols, 21);
  std::vector<float> imp(cols, 1.0f);
  imp[0] = 1000.0f;
  for (const char* s : {"int3", "kmeans2"}) {
    QuantConfig cfg = Config(s, kC, 0, 1, "mse", ScaleType::kF32);
    auto a = Quantize(x.data(), {rows, cols}, cfg, Pool());
    auto b = Quantize(x.data(), {rows, cols}, cfg, Pool(), imp);
    ASSERT_TRUE(a.ok() && b.ok());
    const auto ya = Dequantize(*a), yb = Dequantize(*b);
    double ea = 0, eb = 0;
    for (int64_t r = 0; r < rows; ++r) {
      ea += std::pow(x[r * cols] - ya[r * cols], 2);
      eb += std::pow(x[r * cols] - yb[r * cols], 2);
    }
    EXPECT_LT(eb, ea) << s;
  }
}

// The importance-weighted search is never worse, under its own weighted error,
// than the unweighted one, for every scheme with fixed levels and every method
// (k-means fits its codebook to the data: a different search).
TEST(QuantizeProperty, WeightedNeverWorseUnderItsOwnError) {
  const int64_t rows = 10, cols = 200;
  std::vector<float> x = Gaussian(rows * cols, 41);
  x[77] = 8.0f;
  std::vector<float> imp(cols);
  for (int64_t i = 0; i < cols; ++i) imp[i] = i % 5 ? 0.5f + (i % 3) : 40.0f;
  for (const Case& c : AllCases()) {
    if (c.scheme.rfind("kmeans", 0) == 0) continue;
    for (const char* method : {"minmax", "percentile:99", "mse", "hqq"}) {
      if (std::string(method) == "hqq" && c.scheme.rfind("int", 0) != 0) {
        continue;
      }
      const QuantConfig cfg = Config(c.scheme, c.gran, c.group, c.sym, method);
      auto a = Quantize(x.data(), {rows, cols}, cfg, Pool());
      auto b = Quantize(x.data(), {rows, cols}, cfg, Pool(), imp);
      ASSERT_TRUE(a.ok() && b.ok()) << Label(c, method);
      const auto ya = Dequantize(*a), yb = Dequantize(*b);
      double ea = 0, eb = 0;
      for (int64_t i = 0; i < rows * cols; ++i) {
        ea += imp[i % cols] * std::pow(double(x[i]) - ya[i], 2);
        eb += imp[i % cols] * std::pow(double(x[i]) - yb[i], 2);
      }
      EXPECT_LE(eb, ea * (1 + 1e-9)) << Label(c, method);
    }
  }
}

// f16 zero points: mse's free-zero search is per group never worse than
// round-to-nearest of the range with the f16 zero point -lo / s, and its sum
// over the tensor stays within 5% of the code zero point's mse search (which
// clips deeper for a lower error, group_fit.cc says why it is not taken);
// each stored zero point is an f16 value, decoding is s (code - z), and the
// least-squares refit leaves the groups' mean error far smaller than code
// zero points do (mse and hqq, weighted or not).
TEST(QuantizeProperty, F16ZeroPointsNeverWorseThanCodeZeroPoints) {
  const int64_t rows = 16, cols = 96;
  std::vector<float> x = Gaussian(rows * cols, 31);
  for (int64_t i = 0; i < cols; ++i) x[3 * cols + i] += 0.8f;  // a biased row
  x[40] = 7.0f;                                                // an outlier
  std::vector<float> imp(cols);
  for (int64_t i = 0; i < cols; ++i) imp[i] = 0.1f + (i % 7);
  for (int b = 2; b <= 8; ++b) {
    for (const char* method : {"mse", "hqq"}) {
      for (int gran : {kG, kC}) {
        for (bool weighted : {false, true}) {
          QuantConfig code = Config("int" + std::to_string(b), gran,
                                    gran == kG ? 32 : 0, 0, method);
          QuantConfig f16 = code;
          f16.zero_type = ZeroType::kF16;
          const std::vector<float> none;
          auto a = Quantize(x.data(), {rows, cols}, code, Pool(),
                            weighted ? imp : none);
          auto c = Quantize(x.data(), {rows, cols}, f16, Pool(),
                            weighted ? imp : none);
          ASSERT_TRUE(a.ok() && c.ok());
          ASSERT_EQ(c->zero_type, ZeroType::kF16);
          ASSERT_TRUE(c->Validate().ok());
          const auto ya = Dequantize(*a), yc = Dequantize(*c);
          const float qmax = static_cast<float>((1 << b) - 1);
          const std::string what = "int" + std::to_string(b) + " " + method +
                                   (gran == kG ? " g32" : " channel") +
                                   (weighted ? " weighted" : "");
          const int64_t g = c->group_size, gpr = c->groups_per_row();
          double mean_a = 0, mean_c = 0, tot_a = 0, tot_c = 0;
          std::vector<uint8_t> codes(static_cast<size_t>(cols));
          for (int64_t r = 0; r < rows; ++r) {
            UnpackBits(c->codes.data() + r * c->code_row_bytes(), cols, b,
                       codes.data());
            for (int64_t k = 0; k < gpr; ++k) {
              const float z = ZeroPointAt(*c, r, k);
              EXPECT_EQ(RoundToF16(z), z) << what;
              double ea = 0, ec = 0, em = 0, sa = 0, sc = 0;
              // Round to nearest of [lo, hi] with the f16 zero point -lo / s.
              const int64_t i0 = r * cols + k * g,
                            i1 = r * cols + std::min(cols, (k + 1) * g);
              float lo = 0.0f, hi = 0.0f;
              for (int64_t i = i0; i < i1; ++i) {
                lo = std::min(lo, x[i]);
                hi = std::max(hi, x[i]);
              }
              const float ms = RoundToF16((hi - lo) / qmax);
              const float mz = RoundToF16(-lo / ms);
              for (int64_t i = k * g; i < std::min(cols, (k + 1) * g); ++i) {
                const double wi = weighted ? imp[i] : 1.0;
                const int64_t at = r * cols + i;
                ASSERT_EQ(yc[at], c->scales[r * gpr + k] * (codes[i] - z));
                ea += wi * std::pow(x[at] - ya[at], 2);
                ec += wi * std::pow(x[at] - yc[at], 2);
                const float mc =
                    std::clamp(std::nearbyint(x[at] / ms + mz), 0.0f, qmax);
                em += wi * std::pow(x[at] - ms * (mc - mz), 2);
                sa += wi * (x[at] - ya[at]);  // the weighted mean error
                sc += wi * (x[at] - yc[at]);
              }
              if (std::string(method) == "mse") {
                EXPECT_LE(ec, em * (1 + 1e-6) + 1e-12) << what << " row " << r;
              }
              tot_a += ea;
              tot_c += ec;
              mean_a += std::fabs(sa);
              mean_c += std::fabs(sc);
            }
          }
          if (std::string(method) == "mse") {
            EXPECT_LE(tot_c, 1.05 * tot_a) << what;
          }
          if (b <= 4 && std::string(method) == "mse") {
            EXPECT_LT(mean_c, 0.5 * mean_a) << what;
          }
        }
      }
    }
  }
  // f16 zero points need a zero point.
  QuantConfig sym = Config("int4", kG, 32, 1, "mse");
  sym.zero_type = ZeroType::kF16;
  EXPECT_FALSE(Quantize(x.data(), {rows, cols}, sym, Pool()).ok());
  QuantConfig nf4 = Config("nf4", kG, 32, -1, "mse");
  nf4.zero_type = ZeroType::kF16;
  EXPECT_FALSE(Quantize(x.data(), {rows, cols}, nf4, Pool()).ok());
}

// ---- errors a user can cause
// -----------------------------------------------------------

TEST(QuantizeErrors, RejectsNonFiniteAndBadOptions) {
  std::vector<float> x(64, 1.0f);
  x[5] = std::nanf("");
  auto q =
      Quantize(x.data(), {2, 32}, Config("int4", kG, 32, 1, "mse"), Pool());
  ASSERT_FALSE(q.ok());
  EXPECT_NE(q.status().message().find("value 5 is NaN"), std::string::npos);
  x[5] = 1.0f;
  EXPECT_FALSE(
      Quantize(x.data(), {2, 32}, Config("int4", kG, 24, 1, "mse"), Pool())
          .ok());
  EXPECT_FALSE(
      Quantize(x.data(), {2, 32}, Config("nf4", kG, 32, 0, "mse"), Pool())
          .ok());
  EXPECT_FALSE(
      Quantize(x.data(), {2, 32}, Config("kmeans4", kG, 32, 1, "mse"), Pool())
          .ok());
  EXPECT_FALSE(
      Quantize(x.data(), {2, 32}, Config("mxfp4", kG, 64, 1, "mse"), Pool())
          .ok());
  const std::vector<float> imp(7, 1.0f);
  EXPECT_FALSE(
      Quantize(x.data(), {2, 32}, Config("int4", kG, 32, 1, "mse"), Pool(), imp)
          .ok());
  EXPECT_FALSE(ParseMethod("percentile:0").ok());
  EXPECT_FALSE(
      ParseMethod("percentile:30").ok());  // below the median: no range left
  EXPECT_TRUE(ParseMethod("percentile:99.99995").ok());
  EXPECT_EQ(ParseMethod("percentile:99.99995")->Name(), "percentile:99.99995");
  EXPECT_FALSE(ParseMethod("percentile:abc").ok());
  EXPECT_FALSE(ParseMethod("max").ok());
}

}  // namespace
}  // namespace lowbit
