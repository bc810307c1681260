#include "core/half.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace lowbit {
namespace {

// The array rounding must equal the scalar one on every class of value:
// normal f16 range, both edges, subnormals, overflow, zeros, inf and NaN.
TEST(Half, ArrayRoundingEqualsScalar) {
  std::vector<float> v;
  // Every 4099th bit pattern (all exponents, both signs) plus the edges.
  for (uint64_t u = 0; u <= 0xffffffffu; u += 4099)
    v.push_back(BitsToFloat(static_cast<uint32_t>(u)));
  for (uint32_t edge :
       {0x38800000u, 0x387fffffu, 0x477ff000u, 0x477fefffu, 0x477fffffu,
        0x38000000u, 0x33000000u, 0x7f800000u, 0x7fc00000u, 0u}) {
    for (uint32_t sign : {0u, 0x80000000u}) {
      for (int d = -3; d <= 3; ++d) v.push_back(BitsToFloat((edge + d) | sign));
    }
  }
  // Ties at the 13th bit in the normal range round to even.
  v.push_back(BitsToFloat(0x3f801000u));
  v.push_back(BitsToFloat(0x3f803000u));
  std::vector<float> got = v;
  RoundToF16(got.data(), got.size());
  size_t bad = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    const float want = RoundToF16(v[i]);
    if (FloatBits(got[i]) != FloatBits(want) &&
        !(std::isnan(want) && std::isnan(got[i]))) {
      if (++bad < 5) ADD_FAILURE() << std::hex << FloatBits(v[i]);
    }
  }
  EXPECT_EQ(bad, 0u) << " of " << v.size();
  // A normal-only array takes the fast path alone.
  std::vector<float> n = {1.0f + 1.0f / 4096, 3.14159f, -0.1f, 60000.0f};
  std::vector<float> m = n;
  RoundToF16(m.data(), m.size());
  for (size_t i = 0; i < n.size(); ++i) EXPECT_EQ(m[i], RoundToF16(n[i]));
  EXPECT_EQ(m[0], 1.0f);  // a tie below: to even
}

}  // namespace
}  // namespace lowbit
