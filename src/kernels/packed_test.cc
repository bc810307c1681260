// The packed int4 layout against the reference, on every compiled target
// (AVX3_DL's VNNI kernel and the portable walk of the same layout).
#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL
#endif
#include "kernels/packed.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

#include "formats/bitpack.h"
#include "formats/ggml/decode.h"
#include "hwy/targets.h"
#include "kernels/matvec.h"
#include "quant/ggml_quantize.h"
#include "quant/quantize.h"
#include "tests/support/kernel_test_util.h"
#include "tests/support/scoped_target.h"

namespace lowbit {
namespace {

// Scratch of the products, reused by every call in this file.
Workspace& Ws() {
  static thread_local Workspace ws;
  return ws;
}

QuantizedTensor Int4(int64_t rows, int64_t cols, int64_t group, bool asym,
                     uint32_t seed, ScaleType st = ScaleType::kAuto) {
  return testing_kernels::QuantizeNormal(
      rows, cols, "int4", Granularity::kGroup, group, asym, seed, st);
}

// Whole and partial stripes (groups per row not a multiple of 16), group sizes
// 16 to 128, symmetric and asymmetric, 1 and 7 rows, one and several column
// panels, one thread (two rows side by side) and two.
TEST(Packed, Int4EqualsTheReferenceOnEveryTarget) {
  ThreadPool pool1(1), pool2(2);
  int checked = 0;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    const test_support::ScopedTarget scoped(target);
    for (int variant = 0; variant < 3; ++variant) {
      // symmetric, asymmetric, symmetric with f32 scales (kept in the
      // stripes); f16 scales go to the panel rows' f16 header unless asked
      // not to (symmetric, groups of 64)
      const bool asym = variant == 1;
      const ScaleType st = variant == 2 ? ScaleType::kF32 : ScaleType::kF16;
      for (int64_t group :
           {int64_t{16}, int64_t{32}, int64_t{64}, int64_t{128}}) {
        for (int64_t cols :
             {int64_t{128}, int64_t{1024 + 128}, int64_t{4096}}) {
          for (int64_t rows : {int64_t{1}, int64_t{7}}) {
            const QuantizedTensor w =
                Int4(rows, cols, group, asym, 3 + cols, st);
            ASSERT_TRUE(CanPack(w));
            // f32 scales inline by default; the f16 row header on request.
            Int4Groups src;
            src.rows = w.rows;
            src.cols = w.cols;
            src.group_size = w.group_size;
            src.codes = w.codes.data();
            src.scales = w.scales.data();
            const int64_t groups = w.cols / group;
            std::vector<uint8_t> zeros(static_cast<size_t>(w.rows * groups));
            if (asym) {
              for (int64_t r = 0; r < w.rows; ++r) {
                UnpackBits(w.zeros.data() + r * w.zero_row_bytes(), groups, 4,
                           zeros.data() + r * groups);
              }
              src.zeros = zeros.data();
            }
            src.f16_scales = variant != 0 || group != 64;  // (off: f32)
            // Narrow panels on the wide rows: several per row, the last one
            // short.
            PackOptions opts;
            opts.panel_cols = cols == 4096 ? 48 * group : 0;
            auto p = PackInt4Groups(src, opts);
            ASSERT_TRUE(p.ok()) << p.status().message();
            ASSERT_EQ(p->f16_scales, st == ScaleType::kF16 && src.f16_scales);
            ASSERT_EQ(p->panels() > 1, cols == 4096 && group < 128);
            ASSERT_EQ(Pack(w)->f16_scales, st == ScaleType::kF16);
            std::vector<float> x(static_cast<size_t>(cols)), y(rows), ref(rows);
            std::mt19937 rng(7 + group);
            std::normal_distribution<float> g(0.0f, 1.0f);
            for (float& v : x) v = g(rng);
            ThreadPool& pool = rows == 7 ? pool1 : pool2;
            ASSERT_TRUE(MatVecQ8(*p, x.data(), y.data(), pool, Ws()).ok());
            reference::MatVecQ8(w, x.data(), ref.data());
            const std::vector<float> deq = Dequantize(w);
            for (int64_t r = 0; r < rows; ++r) {
              double mag = 0.0;
              for (int64_t k = 0; k < cols; ++k)
                mag += std::fabs(double{deq[r * cols + k]} * x[k]);
              ASSERT_NEAR(y[r], ref[r], 1e-5 * mag + 1e-30)
                  << "g" << group << (asym ? " asym " : " sym ") << rows << "x"
                  << cols << " row " << r << " on " << hwy::TargetName(target);
            }
            ++checked;
          }
        }
      }
    }
  }
  EXPECT_GT(checked, 40);
}

// int8 rows: integer arithmetic, the reference's bits on every target.
TEST(Packed, Int8EqualsTheReferenceExactlyOnEveryTarget) {
  ThreadPool pool1(1), pool2(2);
  int checked = 0;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    const test_support::ScopedTarget scoped(target);
    for (Granularity gran : {Granularity::kChannel, Granularity::kTensor}) {
      for (int64_t cols : {int64_t{1}, int64_t{63}, int64_t{64}, int64_t{97},
                           int64_t{1031}, int64_t{4096}}) {
        const int64_t rows = 9;
        std::mt19937 rng(static_cast<uint32_t>(cols));
        std::normal_distribution<float> g(0.0f, 1.0f);
        std::vector<float> wv(static_cast<size_t>(rows * cols));
        for (float& v : wv) v = g(rng);
        QuantConfig c;
        c.scheme = *ParseScheme("int8");
        c.granularity = static_cast<int>(gran);
        c.method = MethodSpec{};
        auto w = Quantize(wv.data(), Shape{rows, cols}, c, pool2);
        ASSERT_TRUE(w.ok());
        ASSERT_TRUE(CanPack(*w));
        std::vector<float> x(static_cast<size_t>(cols)), y(rows), ref(rows);
        for (float& v : x) v = g(rng);
        reference::MatVecQ8(*w, x.data(), ref.data());
        // One panel and panels of 192 columns; one thread and two.
        for (int64_t panel : {int64_t{0}, int64_t{192}}) {
          auto p = Pack(*w, PackOptions{panel});
          ASSERT_TRUE(p.ok());
          EXPECT_EQ(p->bits, 8);
          EXPECT_EQ(p->panels(), panel == 0 ? 1 : (cols + 191) / 192);
          for (ThreadPool* pool : {&pool1, &pool2}) {
            ASSERT_TRUE(MatVecQ8(*p, x.data(), y.data(), *pool, Ws()).ok());
            for (int64_t r = 0; r < rows; ++r) {
              ASSERT_EQ(y[r], ref[r])
                  << cols << " row " << r << " panels of " << panel << " on "
                  << hwy::TargetName(target);
            }
          }
        }
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 10);
}

// ggml q4_0, q4_K, q8_0 and q6_K blocks (lowbit's encoder, bytes llama.cpp
// reads)
// packed: equal to ggml's own dequantization times the same int8 activations,
// in double, within float rounding.
TEST(Packed, GgmlBlocksEqualTheirDecodingOnEveryTarget) {
  ThreadPool pool1(1), pool2(2);
  int checked = 0;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    const test_support::ScopedTarget scoped(target);
    for (GgmlType t :
         {GgmlType::kQ4_0, GgmlType::kQ4_K, GgmlType::kQ8_0, GgmlType::kQ6_K}) {
      const GgmlTypeInfo& info = GetGgmlTypeInfo(t);
      const bool small = t == GgmlType::kQ4_0 || t == GgmlType::kQ8_0;
      const std::vector<int64_t> widths =
          small ? std::vector<int64_t>{32, 512 + 96, 4096}
                : std::vector<int64_t>{256, 768, 4096};
      for (int64_t cols : widths) {
        const int64_t rows = 5;
        std::mt19937 rng(static_cast<uint32_t>(cols));
        std::normal_distribution<float> g(0.0f, 1.0f);
        std::vector<float> wv(static_cast<size_t>(rows * cols));
        for (float& v : wv) v = g(rng);
        std::vector<uint8_t> blocks(
            static_cast<size_t>(rows * info.RowBytes(cols)));
        QuantizeGgmlRows(t, wv.data(), blocks.data(), rows, cols, nullptr);
        // Two panels on the widest rows; one thread on the middle width.
        PackOptions opts;
        opts.panel_cols = cols == 4096 ? 2048 : 0;
        auto p = PackGgml(static_cast<int>(t), blocks.data(), rows, cols, opts);
        ASSERT_TRUE(p.ok()) << p.status().message();
        ASSERT_EQ(p->panels(), cols == 4096 ? 2 : 1);
        std::vector<float> x(static_cast<size_t>(cols)), y(rows);
        for (float& v : x) v = g(rng);
        ThreadPool& pool = cols == widths[1] ? pool1 : pool2;
        ASSERT_TRUE(MatVecQ8(*p, x.data(), y.data(), pool, Ws()).ok());
        std::vector<int16_t> xq(static_cast<size_t>(cols));
        const float sx = QuantizeActivations(x.data(), cols, xq.data());
        std::vector<float> deq(static_cast<size_t>(cols));
        for (int64_t r = 0; r < rows; ++r) {
          DequantizeGgmlRow(t, blocks.data() + r * info.RowBytes(cols),
                            deq.data(), cols);
          double ref = 0.0, mag = 0.0;
          for (int64_t k = 0; k < cols; ++k) {
            ref += double{deq[k]} * xq[k] * sx;
            mag += std::fabs(double{deq[k]} * xq[k] * sx);
          }
          ASSERT_NEAR(y[r], ref, 1e-5 * mag + 1e-30)
              << info.ggml_name << " " << cols << " row " << r << " on "
              << hwy::TargetName(target);
        }
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 10);
  std::vector<uint8_t> any(64);
  EXPECT_FALSE(
      PackGgml(static_cast<int>(GgmlType::kQ5_K), any.data(), 1, 256).ok());
}

// Batches: row b of MatMulQ8 equals MatVecQ8 on row b bit for bit, for every
// packed kind (int8 rows, int4 symmetric with f16 header and asymmetric, q4_K
// offsets, q8_0 and q6_K int8 stripes), in several panels, odd batch sizes,
// one thread and two, on every target.
TEST(Packed, BatchesEqualRowByRowProductsOnEveryTarget) {
  ThreadPool pool1(1), pool2(2);
  const int64_t rows = 11, cols = 1536;
  const std::vector<float> wv = testing_kernels::Normal(rows * cols, 5);
  std::vector<PackedMatrix> forms;
  const PackOptions opts{512};  // three panels
  for (const char* scheme : {"int8", "int4"}) {
    for (bool asym : {false, true}) {
      if (std::string(scheme) == "int8" && asym) continue;
      const QuantizedTensor w = testing_kernels::QuantizeNormal(
          rows, cols, scheme,
          std::string(scheme) == "int8" ? Granularity::kChannel
                                        : Granularity::kGroup,
          32, asym, 5, ScaleType::kF16);
      auto p = Pack(w, opts);
      ASSERT_TRUE(p.ok()) << p.status().message();
      forms.push_back(std::move(p).value());
    }
  }
  for (GgmlType t : {GgmlType::kQ4_K, GgmlType::kQ8_0, GgmlType::kQ6_K}) {
    std::vector<uint8_t> blocks(
        static_cast<size_t>(rows * GetGgmlTypeInfo(t).RowBytes(cols)));
    QuantizeGgmlRows(t, wv.data(), blocks.data(), rows, cols, nullptr);
    auto p = PackGgml(static_cast<int>(t), blocks.data(), rows, cols, opts);
    ASSERT_TRUE(p.ok()) << p.status().message();
    forms.push_back(std::move(p).value());
  }
  int checked = 0;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    const test_support::ScopedTarget scoped(target);
    for (size_t f = 0; f < forms.size(); ++f) {
      const PackedMatrix& p = forms[f];
      ASSERT_EQ(p.panels(), 3);
      for (int64_t batch : {1, 2, 4, 5, 9}) {
        const std::vector<float> x =
            testing_kernels::Normal(batch * cols, 9 + static_cast<int>(batch));
        std::vector<float> y(static_cast<size_t>(batch * rows)), one(rows);
        for (ThreadPool* pool : {&pool1, &pool2}) {
          ASSERT_TRUE(MatMulQ8(p, x.data(), batch, y.data(), *pool, Ws()).ok());
          for (int64_t b = 0; b < batch; ++b) {
            ASSERT_TRUE(
                MatVecQ8(p, x.data() + b * cols, one.data(), *pool, Ws()).ok());
            for (int64_t r = 0; r < rows; ++r) {
              ASSERT_EQ(y[b * rows + r], one[r])
                  << "form " << f << " batch " << batch << " row " << b << ","
                  << r << " on " << hwy::TargetName(target);
            }
          }
        }
      }
      ++checked;
    }
  }
  EXPECT_GT(checked, 10);
  std::vector<float> x(cols), y(rows);
  EXPECT_FALSE(MatMulQ8(forms[0], x.data(), 0, y.data(), pool1, Ws()).ok());
}

TEST(Packed, RefusesOtherLayouts) {
  QuantizedTensor w = Int4(2, 64, 64, false, 1);
  EXPECT_TRUE(CanPack(w));
  QuantConfig c;
  std::vector<float> v(2 * 64, 0.5f);
  c.scheme = *ParseScheme("nf4");
  c.granularity = static_cast<int>(Granularity::kGroup);
  c.group_size = 64;
  c.method = MethodSpec{};
  ThreadPool pool(1);
  auto nf4 = Quantize(v.data(), Shape{2, 64}, c, pool);
  ASSERT_TRUE(nf4.ok());
  EXPECT_FALSE(CanPack(*nf4));
  EXPECT_FALSE(Pack(*nf4).ok());
}

}  // namespace
}  // namespace lowbit
