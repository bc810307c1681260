// Highway kernels of kernels/error_sums.h: f32 pairs promoted to f64 lanes,
// four running sums and a running maximum per lane; the finiteness check
// compares exponent bits, a vector at a time, and only locates the value when
// a vector has one.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/error_sums.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format off
#include "hwy/highway.h"
// clang-format on

#include <algorithm>

#include "kernels/error_sums.h"

HWY_BEFORE_NAMESPACE();
namespace lowbit {
namespace HWY_NAMESPACE {

namespace hn = hwy::HWY_NAMESPACE;

void AccumulateErrorSumsImpl(const float* x, const float* y, int64_t n,
                             ErrorSums& s) {
  int64_t i = 0;
  ErrorSums tail;
#if HWY_HAVE_FLOAT64
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(dd));
  auto se = hn::Zero(dd), sr = hn::Zero(dd), so = hn::Zero(dd),
       sd = hn::Zero(dd), mx = hn::Zero(dd);
  for (; i + N <= n; i += N) {
    const auto a = hn::PromoteTo(dd, hn::LoadU(df, x + i));
    const auto b = hn::PromoteTo(dd, hn::LoadU(df, y + i));
    const auto d = hn::Sub(a, b);
    se = hn::MulAdd(d, d, se);
    sr = hn::MulAdd(a, a, sr);
    so = hn::MulAdd(b, b, so);
    sd = hn::MulAdd(a, b, sd);
    mx = hn::Max(mx, hn::Abs(d));
  }
  s.sq_err += hn::GetLane(hn::SumOfLanes(dd, se));
  s.sq_ref += hn::GetLane(hn::SumOfLanes(dd, sr));
  s.sq_out += hn::GetLane(hn::SumOfLanes(dd, so));
  s.dot += hn::GetLane(hn::SumOfLanes(dd, sd));
  s.max_abs = std::max(s.max_abs, hn::GetLane(hn::MaxOfLanes(dd, mx)));
#endif
  reference::AccumulateErrorSums(x + i, y + i, n - i, tail);
  s.sq_err += tail.sq_err;
  s.sq_ref += tail.sq_ref;
  s.sq_out += tail.sq_out;
  s.dot += tail.dot;
  s.max_abs = std::max(s.max_abs, tail.max_abs);
}

int64_t FirstNonFiniteImpl(const float* x, int64_t n) {
  const hn::ScalableTag<uint32_t> du;
  const int64_t N = static_cast<int64_t>(hn::Lanes(du));
  const auto exp = hn::Set(du, 0x7f800000u);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto bits = hn::LoadU(du, reinterpret_cast<const uint32_t*>(x + i));
    if (!hn::AllFalse(du, hn::Eq(hn::And(bits, exp), exp))) break;
  }
  const int64_t j = reference::FirstNonFinite(x + i, n - i);
  return j < 0 ? -1 : i + j;
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace lowbit
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lowbit {

HWY_EXPORT(AccumulateErrorSumsImpl);
HWY_EXPORT(FirstNonFiniteImpl);

void AccumulateErrorSums(const float* x, const float* y, int64_t n,
                         ErrorSums& s) {
  HWY_DYNAMIC_DISPATCH(AccumulateErrorSumsImpl)(x, y, n, s);
}

int64_t FirstNonFinite(const float* x, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(FirstNonFiniteImpl)(x, n);
}

}  // namespace lowbit
#endif  // HWY_ONCE
