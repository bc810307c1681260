// TruncateToInt: C++'s float-to-integer truncation, defined for NaN and
// values out of range (found by the graph fuzzers: Cast and Sum of NaN).
#include "core/round.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>

namespace lowbit {
namespace {

TEST(TruncateToInt, TruncatesAndSaturates) {
  EXPECT_EQ(TruncateToInt<int64_t>(-2.7), -2);
  EXPECT_EQ(TruncateToInt<int32_t>(2.7), 2);
  EXPECT_EQ(TruncateToInt<int8_t>(300.0), 127);
  EXPECT_EQ(TruncateToInt<int8_t>(-300.0), -128);
  EXPECT_EQ(TruncateToInt<uint8_t>(-1.0), 0);
  EXPECT_EQ(TruncateToInt<int64_t>(std::nan("")), 0);
  EXPECT_EQ(TruncateToInt<uint32_t>(std::nan("")), 0u);
  EXPECT_EQ(TruncateToInt<int64_t>(1e30), INT64_MAX);
  EXPECT_EQ(TruncateToInt<int64_t>(-INFINITY), INT64_MIN);
  EXPECT_EQ(TruncateToInt<uint64_t>(18446744073709551616.0), UINT64_MAX);
  EXPECT_EQ(TruncateToInt<int64_t>(9223372036854774784.0),
            int64_t{9223372036854774784});
}

}  // namespace
}  // namespace lowbit
