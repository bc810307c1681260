// Tests of Resize and Upsample (resize.cc): hand-computed cases, a naive N-D
// reference (every output element summed over the product of its per-axis
// taps) on random shapes and every mode, the opset forms, and errors.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "tests/support/graph_test_util.h"

namespace lowbit::graph {
namespace {

using testing::AFloat;
using testing::AFloats;
using testing::AInt;
using testing::AInts;
using testing::AString;
using testing::F32;
using testing::I64;
using testing::OpCase;
using testing::RunOp;
using testing::Values;

std::vector<Tensor> RunOk(const OpCase& c) {
  auto r = RunOp(c);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? std::move(r).value() : std::vector<Tensor>{Tensor()};
}

std::string Error(const OpCase& c) {
  auto r = RunOp(c);
  EXPECT_FALSE(r.ok());
  return r.ok() ? "" : r.status().message();
}

void ExpectNear(const std::vector<float>& got, const std::vector<float>& want,
                float tol = 1e-5f) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], tol * (1 + std::fabs(want[i]))) << "at " << i;
  }
}

// Resize at opset 13 with scales (or sizes when `sizes` is non-empty), both
// constants.
OpCase Resize13(const Tensor& x, const std::vector<float>& scales,
                const std::vector<int64_t>& sizes = {}) {
  OpCase c;
  c.op = "Resize";
  c.opset = 13;
  c.inputs = {x, Tensor()};
  if (sizes.empty()) {
    c.inputs.push_back(F32({static_cast<int64_t>(scales.size())}, scales));
    c.constant_inputs = {2};
  } else {
    c.inputs.push_back(Tensor());
    c.inputs.push_back(Tensor::Ints(sizes));
    c.constant_inputs = {3};
  }
  return c;
}

const Tensor k2x2 = F32({1, 1, 2, 2}, {1, 2, 3, 4});
const Tensor k2x4 = F32({1, 1, 2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});

// ---- Hand-computed cases --------------------------------------------------

TEST(ResizeOps, NearestUpAndDown) {
  OpCase c = Resize13(k2x2, {1, 1, 2, 3});
  auto out = RunOk(c);
  EXPECT_EQ(out[0].shape(), (Shape{1, 1, 4, 6}));
  EXPECT_EQ(Values(out[0]),
            (std::vector<float>{1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2,
                                3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4}));
  // 0.6: out [1, 2]; half_pixel x = (o + 0.5) / 0.6 - 0.5 = 0.33, 2.0.
  c = Resize13(k2x4, {1, 1, 0.6f, 0.6f});
  out = RunOk(c);
  EXPECT_EQ(out[0].shape(), (Shape{1, 1, 1, 2}));
  EXPECT_EQ(Values(out[0]), (std::vector<float>{1, 3}));
  // sizes [1, 3]: columns x = 0.17, 1.5 (round_prefer_floor: 1), 2.83.
  c = Resize13(k2x4, {}, {1, 1, 1, 3});
  out = RunOk(c);
  EXPECT_EQ(Values(out[0]), (std::vector<float>{1, 2, 4}));
  // round_prefer_ceil: the row x = 0.5 goes to 1, columns to 0, 2, 3.
  c.attrs["nearest_mode"] = AString("round_prefer_ceil");
  EXPECT_EQ(Values(RunOk(c)[0]), (std::vector<float>{5, 7, 8}));
}

TEST(ResizeOps, NearestModesOneDimension) {
  // 1-D [0..4] -> 8 with asymmetric x = o * 5 / 8: 0, .625, 1.25, 1.875,
  // 2.5, 3.125, 3.75, 4.375.
  const Tensor x = F32({5}, {0, 1, 2, 3, 4});
  const std::vector<std::pair<const char*, std::vector<float>>> want = {
      {"round_prefer_floor", {0, 1, 1, 2, 2, 3, 4, 4}},
      {"round_prefer_ceil", {0, 1, 1, 2, 3, 3, 4, 4}},
      {"floor", {0, 0, 1, 1, 2, 3, 3, 4}},
      {"ceil", {0, 1, 2, 2, 3, 4, 4, 4}}};
  for (const auto& [mode, v] : want) {
    OpCase c = Resize13(x, {}, {8});
    c.attrs["coordinate_transformation_mode"] = AString("asymmetric");
    c.attrs["nearest_mode"] = AString(mode);
    EXPECT_EQ(Values(RunOk(c)[0]), v) << mode;
  }
  // tf_half_pixel_for_nearest: x = (o + 0.5) * 5 / 8 = .3125, .9375, ...
  OpCase c = Resize13(x, {}, {8});
  c.attrs["coordinate_transformation_mode"] =
      AString("tf_half_pixel_for_nearest");
  c.attrs["nearest_mode"] = AString("floor");
  EXPECT_EQ(Values(RunOk(c)[0]), (std::vector<float>{0, 0, 1, 2, 2, 3, 4, 4}));
  // align_corners 5 -> 3: x = 0, 2, 4.
  c = Resize13(x, {}, {3});
  c.attrs["coordinate_transformation_mode"] = AString("align_corners");
  EXPECT_EQ(Values(RunOk(c)[0]), (std::vector<float>{0, 2, 4}));
}

TEST(ResizeOps, LinearHandComputed) {
  // half_pixel, x2: x = -0.25, 0.25, 0.75, 1.25 (clamped at the edges).
  OpCase c = Resize13(k2x2, {1, 1, 2, 2});
  c.attrs["mode"] = AString("linear");
  ExpectNear(Values(RunOk(c)[0]),
             {1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f, 2.75f, 3.25f,
              3.5f, 3, 3.25f, 3.75f, 4});
  c.attrs["coordinate_transformation_mode"] = AString("align_corners");
  const float t = 1.0f / 3;
  ExpectNear(Values(RunOk(c)[0]),
             {1, 1 + t, 1 + 2 * t, 2, 1 + 2 * t, 2, 2 + t, 2 + 2 * t, 2 + t,
              2 + 2 * t, 3, 3 + t, 3, 3 + t, 3 + 2 * t, 4});
  // Down 0.6: rows x = 0.333 (between 1..4 and 5..8), cols 0.333, 2.0.
  c = Resize13(k2x4, {1, 1, 0.6f, 0.6f});
  c.attrs["mode"] = AString("linear");
  ExpectNear(Values(RunOk(c)[0]), {2.6666665f, 4.3333331f});
  // pytorch_half_pixel to a single row / column: x = 0.
  c = Resize13(k2x4, {}, {1, 1, 1, 1});
  c.attrs["mode"] = AString("linear");
  c.attrs["coordinate_transformation_mode"] = AString("pytorch_half_pixel");
  ExpectNear(Values(RunOk(c)[0]), {1});
  c.attrs["coordinate_transformation_mode"] = AString("half_pixel");
  ExpectNear(Values(RunOk(c)[0]), {4.5f});
}

TEST(ResizeOps, CubicHandComputed) {
  // Published ONNX example values (A = -0.75, half_pixel, 4x4 -> 3x3).
  std::vector<float> v(16);
  for (int i = 0; i < 16; ++i) v[i] = static_cast<float>(i + 1);
  OpCase c = Resize13(F32({1, 1, 4, 4}, v), {1, 1, 0.8f, 0.8f});
  c.attrs["mode"] = AString("cubic");
  ExpectNear(Values(RunOk(c)[0]),
             {1.47119141f, 2.78125f, 4.08251953f, 6.71142578f, 8.02148438f,
              9.32275391f, 11.91650391f, 13.2265625f, 14.52783203f});
  // align_corners with the output length 3: x = 0, 1.5, 3, where the cubic
  // reproduces the ramp. (ONNX's reference divides by the unrounded length
  // 4 * 0.8 - 1 instead and publishes 2.3951916...; ONNX Runtime and this
  // engine use the length of the output.)
  c.attrs["coordinate_transformation_mode"] = AString("align_corners");
  ExpectNear(Values(RunOk(c)[0]), {1, 2.5f, 4, 7, 8.5f, 10, 13, 14.5f, 16});
}

TEST(ResizeOps, TfCropAndResizeWithExtrapolation) {
  std::vector<float> v(16);
  for (int i = 0; i < 16; ++i) v[i] = static_cast<float>(i + 1);
  OpCase c;
  c.op = "Resize";
  c.opset = 13;
  c.inputs = {F32({1, 1, 4, 4}, v),
              F32({8}, {0, 0, 0.4f, 0.6f, 1, 1, 0.6f, 0.8f}), Tensor(),
              Tensor::Ints({1, 1, 3, 3})};
  c.constant_inputs = {1, 3};
  c.attrs["mode"] = AString("linear");
  c.attrs["coordinate_transformation_mode"] = AString("tf_crop_and_resize");
  // Rows x = 1.2, 1.5, 1.8; columns x = 1.8, 2.1, 2.4 of the 4x4 ramp.
  ExpectNear(Values(RunOk(c)[0]),
             {7.6f, 7.9f, 8.2f, 8.8f, 9.1f, 9.4f, 10.0f, 10.3f, 10.6f});
  // Past the input: rows 1.2, 2.4, 3.6; columns 1.8, 3.9, 6.0.
  c.inputs[1] = F32({8}, {0, 0, 0.4f, 0.6f, 1, 1, 1.2f, 1.7f});
  c.attrs["extrapolation_value"] = AFloat(10.0f);
  ExpectNear(Values(RunOk(c)[0]), {7.6f, 10, 10, 12.4f, 10, 10, 10, 10, 10});
  c.attrs["mode"] = AString("nearest");
  // Nearest (round_prefer_floor): rows 1, 2, 4 -> out; columns 2, 4 -> out.
  ExpectNear(Values(RunOk(c)[0]), {7, 10, 10, 11, 10, 10, 10, 10, 10});
}

// ---- A naive reference ----------------------------------------------------

struct RefSpec {
  std::string mode = "nearest", coord = "half_pixel",
              nearest = "round_prefer_floor";
  double cubic_a = -0.75;
  bool exclude_outside = false;
  float extrapolation = 0.0f;
  bool legacy = false;  // Upsample / Resize-10
  std::vector<double> scale, roi_start, roi_end;
};

// Taps (index into the input, unclamped) and weights of output o along one
// axis; false when the point is outside (tf_crop_and_resize).
bool RefTaps(const RefSpec& s, int axis, int64_t o, int64_t in, int64_t out,
             std::vector<std::pair<int64_t, double>>* taps) {
  const double sc = s.scale[axis];
  double x;
  const std::string coord = s.legacy ? "asymmetric" : s.coord;
  if (coord == "half_pixel") {
    x = (o + 0.5) / sc - 0.5;
  } else if (coord == "pytorch_half_pixel") {
    x = out > 1 ? (o + 0.5) / sc - 0.5 : 0;
  } else if (coord == "align_corners") {
    x = out > 1 ? o * (in - 1.0) / (out - 1.0) : 0;
  } else if (coord == "asymmetric") {
    x = o / sc;
  } else if (coord == "tf_half_pixel_for_nearest") {
    x = (o + 0.5) / sc;
  } else if (coord == "half_pixel_symmetric") {
    const double adj = out / (sc * in);
    x = in / 2.0 * (1 - adj) + (o + 0.5) / sc - 0.5;
  } else {  // tf_crop_and_resize
    const double a = s.roi_start[axis], b = s.roi_end[axis];
    x = out > 1 ? a * (in - 1) + o * (b - a) * (in - 1) / (out - 1)
                : 0.5 * (a + b) * (in - 1);
    if (x < 0 || x > in - 1) return false;
  }
  taps->clear();
  if (s.mode == "nearest") {
    int64_t i;
    const double fl = std::floor(x);
    if (s.legacy) {
      i = static_cast<int64_t>(sc < 1 ? std::ceil(x) : fl);
    } else if (s.nearest == "round_prefer_floor") {
      i = static_cast<int64_t>(x - fl <= 0.5 ? fl : fl + 1);
    } else if (s.nearest == "round_prefer_ceil") {
      i = static_cast<int64_t>(x - fl < 0.5 ? fl : fl + 1);
    } else if (s.nearest == "floor") {
      i = static_cast<int64_t>(fl);
    } else {
      i = static_cast<int64_t>(std::ceil(x));
    }
    taps->push_back({i, 1.0});
  } else if (s.mode == "linear") {
    const double fl = std::floor(x);
    taps->push_back({static_cast<int64_t>(fl), 1 - (x - fl)});
    taps->push_back({static_cast<int64_t>(fl) + 1, x - fl});
  } else {
    const double fl = std::floor(x), r = x - fl, a = s.cubic_a;
    // Keys' kernel at distances 1 + r, r, 1 - r, 2 - r.
    auto k = [a](double d) {
      d = std::fabs(d);
      if (d <= 1) return ((a + 2) * d - (a + 3)) * d * d + 1;
      if (d < 2) return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a;
      return 0.0;
    };
    for (int j = -1; j <= 2; ++j) {
      taps->push_back({static_cast<int64_t>(fl) + j, k(r - j)});
    }
  }
  if (s.exclude_outside) {
    double sum = 0;
    for (auto& [i, w] : *taps) {
      if (i < 0 || i >= in) w = 0;
      sum += w;
    }
    for (auto& t : *taps) t.second /= sum;
  }
  return true;
}

std::vector<float> RefResize(const Tensor& x, const Shape& out,
                             const RefSpec& s) {
  const Shape& in = x.shape();
  const int r = x.rank();
  std::vector<float> y(NumElements(out));
  std::vector<std::vector<std::pair<int64_t, double>>> taps(r);
  for (int64_t e = 0; e < static_cast<int64_t>(y.size()); ++e) {
    int64_t rest = e;
    bool inside = true;
    for (int d = r - 1; d >= 0; --d) {
      const int64_t o = rest % out[d];
      rest /= out[d];
      inside = RefTaps(s, d, o, in[d], out[d], &taps[d]) && inside;
    }
    if (!inside) {
      y[e] = s.extrapolation;
      continue;
    }
    // Sum over every combination of taps.
    double sum = 0;
    std::vector<size_t> pick(r, 0);
    while (true) {
      double w = 1;
      int64_t off = 0;
      for (int d = 0; d < r; ++d) {
        const auto& [i, wd] = taps[d][pick[d]];
        w *= wd;
        off = off * in[d] + std::clamp<int64_t>(i, 0, in[d] - 1);
      }
      sum += w * x.data<float>()[off];
      int d = r - 1;
      while (d >= 0 && ++pick[d] == taps[d].size()) pick[d--] = 0;
      if (d < 0) break;
    }
    y[e] = static_cast<float>(sum);
  }
  return y;
}

Tensor RandomTensor(const Shape& s, std::mt19937& rng) {
  Tensor t = Tensor::Zeros(DType::kF32, s);
  std::uniform_real_distribution<float> u(-4, 4);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
  return t;
}

TEST(ResizeOps, MatchesReferenceOnRandomCases) {
  std::mt19937 rng(11);
  const char* coords[] = {
      "half_pixel",        "pytorch_half_pixel",        "align_corners",
      "asymmetric",        "tf_half_pixel_for_nearest", "half_pixel_symmetric",
      "tf_crop_and_resize"};
  const char* nearest[] = {"round_prefer_floor", "round_prefer_ceil", "floor",
                           "ceil"};
  std::uniform_int_distribution<int> dim(1, 6), rank(1, 4), coin(0, 1);
  const float scale_choices[] = {0.5f, 0.6f, 0.75f, 1.0f,
                                 1.5f, 2.0f, 2.5f,  3.0f};
  std::uniform_int_distribution<int> pick_scale(0, 7);
  int cases = 0;
  for (const char* mode : {"nearest", "linear", "cubic"}) {
    for (const char* coord : coords) {
      for (int rep = 0; rep < 6; ++rep) {
        const int r = rank(rng);
        Shape in(r);
        for (int64_t& d : in) d = dim(rng);
        RefSpec s;
        s.mode = mode;
        s.coord = coord;
        s.nearest = nearest[rep % 4];
        s.exclude_outside = std::string(mode) == "cubic" && coin(rng);
        s.cubic_a = rep % 2 ? -0.5 : -0.75;
        s.extrapolation = -7.0f;
        s.scale.assign(r, 1.0);
        s.roi_start.assign(r, 0.0);
        s.roi_end.assign(r, 1.0);
        const bool by_sizes = coin(rng);
        Shape out = in;
        std::vector<float> scales(r);
        std::vector<int64_t> sizes(r);
        std::vector<float> roi(2 * r);
        for (int d = 0; d < r; ++d) {
          // Mostly the last two axes resized, as in images.
          const bool resize = d >= r - 2 || coin(rng);
          if (by_sizes) {
            sizes[d] = resize ? dim(rng) + 1 : in[d];
            out[d] = sizes[d];
            s.scale[d] = static_cast<double>(out[d]) / in[d];
          } else {
            scales[d] = resize ? scale_choices[pick_scale(rng)] : 1.0f;
            s.scale[d] = scales[d];
            out[d] = static_cast<int64_t>(
                std::floor(static_cast<float>(in[d]) * scales[d]));
          }
          roi[d] = coin(rng) ? 0.0f : 0.25f;
          roi[r + d] = coin(rng) ? 1.0f : 1.25f;
          s.roi_start[d] = roi[d];
          s.roi_end[d] = roi[r + d];
        }
        if (NumElements(out) == 0) continue;
        const Tensor x = RandomTensor(in, rng);
        OpCase c;
        c.op = "Resize";
        c.opset = 19;
        c.threads = rep % 3 + 1;
        c.inputs = {x, F32({2 * r}, roi),
                    by_sizes ? Tensor() : F32({r}, scales),
                    by_sizes ? Tensor::Ints(sizes) : Tensor()};
        c.constant_inputs = {1, 2, 3};
        c.attrs["mode"] = AString(mode);
        c.attrs["coordinate_transformation_mode"] = AString(coord);
        c.attrs["nearest_mode"] = AString(s.nearest);
        c.attrs["cubic_coeff_a"] = AFloat(static_cast<float>(s.cubic_a));
        c.attrs["exclude_outside"] = AInt(s.exclude_outside);
        c.attrs["extrapolation_value"] = AFloat(s.extrapolation);
        auto got = RunOk(c);
        ASSERT_EQ(got[0].shape(), out)
            << mode << " " << coord << " in " << ShapeString(in);
        SCOPED_TRACE(std::string(mode) + " " + coord + " " + s.nearest +
                     " in " + ShapeString(in) + " out " + ShapeString(out));
        ExpectNear(Values(got[0]), RefResize(x, out, s), 2e-5f);
        ++cases;
      }
    }
  }
  EXPECT_GT(cases, 100);
}

TEST(ResizeOps, NearestTwiceOnLargeMapsAnyThreads) {
  std::mt19937 rng(12);
  const Tensor x = RandomTensor({2, 16, 40, 56}, rng);
  RefSpec s;
  s.scale = {1, 1, 2, 2};
  const Shape out = {2, 16, 80, 112};
  const std::vector<float> want = RefResize(x, out, s);
  for (int threads : {1, 2, 4}) {
    OpCase c = Resize13(x, {1, 1, 2, 2});
    c.threads = threads;
    EXPECT_EQ(Values(RunOk(c)[0]), want) << threads;
  }
  s.mode = "linear";
  OpCase c = Resize13(x, {1, 1, 2, 2});
  c.attrs["mode"] = AString("linear");
  c.threads = 3;
  ExpectNear(Values(RunOk(c)[0]), RefResize(x, out, s));
}

TEST(ResizeOps, NearestOnIntegers) {
  OpCase c = Resize13(I64({1, 3}, {7, -8, 9}), {1, 2});
  auto out = RunOk(c);
  EXPECT_EQ(out[0].dtype(), DType::kI64);
  EXPECT_EQ(out[0].shape(), (Shape{1, 6}));
  std::vector<int64_t> v(6);
  for (int i = 0; i < 6; ++i) v[i] = out[0].GetInt(i);
  EXPECT_EQ(v, (std::vector<int64_t>{7, 7, -8, -8, 9, 9}));
}

// ---- Opset forms --------------------------------------------------------

TEST(ResizeOps, AxesAndKeepAspectRatio) {
  // Opset 18: sizes for axes [2, 3] only.
  OpCase c;
  c.op = "Resize";
  c.opset = 18;
  c.inputs = {k2x2, Tensor(), Tensor(), Tensor::Ints({7, 8})};
  c.constant_inputs = {3};
  c.attrs["axes"] = AInts({2, -1});
  EXPECT_EQ(RunOk(c)[0].shape(), (Shape{1, 1, 7, 8}));
  c.attrs["keep_aspect_ratio_policy"] = AString("not_larger");
  auto out = RunOk(c);
  EXPECT_EQ(out[0].shape(), (Shape{1, 1, 7, 7}));
  RefSpec s;
  s.scale = {1, 1, 3.5, 3.5};
  ExpectNear(Values(out[0]), RefResize(k2x2, {1, 1, 7, 7}, s));
  c.attrs["keep_aspect_ratio_policy"] = AString("not_smaller");
  EXPECT_EQ(RunOk(c)[0].shape(), (Shape{1, 1, 8, 8}));
  // Scales for one axis.
  c.inputs = {k2x2, Tensor(), F32({1}, {3}), Tensor()};
  c.constant_inputs = {2};
  c.attrs.clear();
  c.attrs["axes"] = AInts({3});
  EXPECT_EQ(Values(RunOk(c)[0]),
            (std::vector<float>{1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4}));
}

TEST(ResizeOps, Opset11TakesEmptyScalesWithSizes) {
  OpCase c;
  c.op = "Resize";
  c.opset = 11;
  c.inputs = {k2x2, F32({0}, {}), F32({0}, {}), Tensor::Ints({1, 1, 4, 4})};
  c.constant_inputs = {1, 2, 3};
  c.attrs["coordinate_transformation_mode"] = AString("asymmetric");
  c.attrs["nearest_mode"] = AString("floor");
  EXPECT_EQ(Values(RunOk(c)[0]), (std::vector<float>{1, 1, 2, 2, 1, 1, 2, 2, 3,
                                                     3, 4, 4, 3, 3, 4, 4}));
}

TEST(ResizeOps, Opset10IsAsymmetric) {
  OpCase c;
  c.op = "Resize";
  c.opset = 10;
  c.inputs = {k2x2, F32({4}, {1, 1, 2, 2})};
  c.constant_inputs = {1};
  c.attrs["mode"] = AString("linear");
  ExpectNear(Values(RunOk(c)[0]),
             {1, 1.5f, 2, 2, 2, 2.5f, 3, 3, 3, 3.5f, 4, 4, 3, 3.5f, 4, 4});
  // Shrinking nearest rounds up: columns x = 0, 1.67 -> 0, 2.
  c.inputs = {k2x4, F32({4}, {1, 1, 0.6f, 0.6f})};
  c.attrs["mode"] = AString("nearest");
  EXPECT_EQ(Values(RunOk(c)[0]), (std::vector<float>{1, 3}));
  // Modes of later opsets are unknown here.
  c.attrs["mode"] = AString("cubic");
  const std::string e = Error(c);
  EXPECT_NE(e.find("node n0 (Resize)"), std::string::npos) << e;
  EXPECT_NE(e.find("cubic"), std::string::npos) << e;
}

TEST(ResizeOps, UpsampleScalesAttributeAndInput) {
  const std::vector<float> nearest = {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2,
                                      3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4};
  OpCase c;
  c.op = "Upsample";
  c.opset = 7;
  c.inputs = {k2x2};
  c.attrs["scales"] = AFloats({1, 1, 2, 3});
  EXPECT_EQ(Values(RunOk(c)[0]), nearest);
  c.opset = 9;
  c.attrs.clear();
  c.inputs = {k2x2, F32({4}, {1, 1, 2, 3})};
  c.constant_inputs = {1};
  EXPECT_EQ(Values(RunOk(c)[0]), nearest);
  // Linear, asymmetric, [2, 4] per row as in the ONNX example.
  c.inputs[1] = F32({4}, {1, 1, 2, 4});
  c.attrs["mode"] = AString("linear");
  const std::vector<float> row0 = {1, 1.25f, 1.5f, 1.75f, 2, 2, 2, 2};
  const std::vector<float> row1 = {2, 2.25f, 2.5f, 2.75f, 3, 3, 3, 3};
  const std::vector<float> row2 = {3, 3.25f, 3.5f, 3.75f, 4, 4, 4, 4};
  std::vector<float> want = row0;
  want.insert(want.end(), row1.begin(), row1.end());
  want.insert(want.end(), row2.begin(), row2.end());
  want.insert(want.end(), row2.begin(), row2.end());
  auto out = RunOk(c);
  EXPECT_EQ(out[0].shape(), (Shape{1, 1, 4, 8}));
  ExpectNear(Values(out[0]), want);
  c.attrs["mode"] = AString("bilinear");
  ExpectNear(Values(RunOk(c)[0]), want);
  // bilinear resizes H and W only.
  c.inputs[1] = F32({4}, {1, 2, 2, 4});
  std::string e = Error(c);
  EXPECT_NE(e.find("bilinear"), std::string::npos) << e;
  // Opset 7 needs its scales attribute, >= 1.
  c.opset = 7;
  c.inputs = {k2x2};
  c.constant_inputs.clear();
  c.attrs.clear();
  e = Error(c);
  EXPECT_NE(e.find("node n0 (Upsample)"), std::string::npos) << e;
  EXPECT_NE(e.find("scales"), std::string::npos) << e;
  c.attrs["scales"] = AFloats({1, 1, 0.5f, 1});
  e = Error(c);
  EXPECT_NE(e.find(">= 1"), std::string::npos) << e;
}

// ---- Errors ---------------------------------------------------------------

TEST(ResizeOps, Errors) {
  auto expect = [](OpCase c, const char* what) {
    const std::string e = Error(c);
    EXPECT_NE(e.find("node n0 (Resize)"), std::string::npos) << e;
    EXPECT_NE(e.find(what), std::string::npos) << e;
  };
  OpCase c = Resize13(k2x2, {1, 1, 2, 2});
  OpCase bad = c;
  bad.attrs["mode"] = AString("area");
  expect(bad, "unknown mode 'area'");
  bad = c;
  bad.attrs["coordinate_transformation_mode"] = AString("corners");
  expect(bad, "coordinate_transformation_mode");
  bad = c;
  bad.attrs["nearest_mode"] = AString("round");
  expect(bad, "nearest_mode");
  bad = c;
  bad.attrs["antialias"] = AInt(1);
  expect(bad, "antialias");
  bad = c;
  bad.constant_inputs.clear();  // scales a graph input
  expect(bad, "scales (input) must be known before running");
  bad = Resize13(k2x2, {1, 1, 2});
  expect(bad, "scales has 3 values; expected 4");
  bad = Resize13(k2x2, {1, 1, 0, 2});
  expect(bad, "positive");
  bad = c;
  bad.inputs.push_back(Tensor::Ints({1, 1, 4, 4}));
  bad.constant_inputs = {2, 3};
  expect(bad, "both");
  bad = c;
  bad.inputs[2] = F32({0}, {});
  expect(bad, "one of scales and sizes");
  bad = c;
  bad.opset = 18;
  bad.attrs["axes"] = AInts({2, 2});
  expect(bad, "repeated");
  bad = c;
  bad.attrs["coordinate_transformation_mode"] = AString("tf_crop_and_resize");
  expect(bad, "roi");
}

}  // namespace
}  // namespace lowbit::graph
