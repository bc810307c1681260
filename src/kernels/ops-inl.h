// Small operations shared by the Highway kernels, included once per target
// (Highway's -inl.h pattern) from inside each kernel file's per-target code.
// Per-target include guard: toggled by foreach_target.h on every pass.
#if defined(LOWBIT_KERNELS_OPS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LOWBIT_KERNELS_OPS_INL_H_
#undef LOWBIT_KERNELS_OPS_INL_H_
#else
#define LOWBIT_KERNELS_OPS_INL_H_
#endif

#include <cstdint>

#include "hwy/highway.h"
#include "kernels/vnni_target.h"

HWY_BEFORE_NAMESPACE();
namespace lowbit {
namespace HWY_NAMESPACE {

// The sum of a vector's lanes through a store. (Highway's SumOfLanes made GCC
// keep the accumulator in memory for the whole loop, a store-to-load round
// trip per iteration.)
template <class D, class V>
HWY_INLINE hwy::HWY_NAMESPACE::TFromD<D> LaneTotal(D d, V v) {
  using T = hwy::HWY_NAMESPACE::TFromD<D>;
  T lanes[HWY_MAX_BYTES / sizeof(T)];
  hwy::HWY_NAMESPACE::StoreU(v, d, lanes);
  T s = 0;
  for (size_t i = 0; i < hwy::HWY_NAMESPACE::Lanes(d); ++i) s += lanes[i];
  return s;
}

#if HWY_TARGET == HWY_AVX3_DL
// The exact dot product of n unsigned code bytes with n signed activations
// over the first multiple of 64 bytes (vpdpbusd, two accumulators); *done gets
// how many bytes that covered. Highway's AVX3_DL flags lack avx512vnni, so
// this function adds it; the target is only chosen on CPUs that have it.
LOWBIT_TARGET_VNNI __attribute__((noinline)) inline int64_t VnniDotBytes(
    const uint8_t* c, const int8_t* x8, int64_t n, int64_t* done) {
  __m512i a0 = _mm512_setzero_si512(), a1 = a0;
  int64_t k = 0;
  for (; k + 128 <= n; k += 128) {
    a0 = _mm512_dpbusd_epi32(a0, _mm512_loadu_si512(c + k),
                             _mm512_loadu_si512(x8 + k));
    a1 = _mm512_dpbusd_epi32(a1, _mm512_loadu_si512(c + k + 64),
                             _mm512_loadu_si512(x8 + k + 64));
  }
  for (; k + 64 <= n; k += 64) {
    a0 = _mm512_dpbusd_epi32(a0, _mm512_loadu_si512(c + k),
                             _mm512_loadu_si512(x8 + k));
  }
  *done = k;
  return _mm512_reduce_add_epi32(_mm512_add_epi32(a0, a1));
}
#endif

}  // namespace HWY_NAMESPACE
}  // namespace lowbit
HWY_AFTER_NAMESPACE();

#endif  // LOWBIT_KERNELS_OPS_INL_H_
