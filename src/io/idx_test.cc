// IDX files: a round of valid arrays, every malformed header refused with the
// path, gzip streams inflated with a cap (a bomb is refused, a truncated
// stream too).
#include "io/idx.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstring>
#include <string>
#include <vector>

namespace lowbit {
namespace {

std::vector<uint8_t> Idx(std::vector<uint32_t> dims, uint8_t type = 0x08,
                         int extra = 0) {
  std::vector<uint8_t> b = {0, 0, type, static_cast<uint8_t>(dims.size())};
  uint64_t n = 1;
  for (uint32_t d : dims) {
    for (int s = 24; s >= 0; s -= 8) b.push_back((d >> s) & 0xff);
    n *= d;
  }
  for (uint64_t i = 0; i < n + extra; ++i) b.push_back(i % 251);
  return b;
}

std::vector<uint8_t> Gzip(const std::vector<uint8_t>& in) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::vector<uint8_t> out(deflateBound(&z, in.size()) + 64);
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

TEST(Idx, ReadsArrays) {
  const auto b = Idx({3, 2, 5});
  auto a = ParseIdx(b.data(), b.size(), "x.idx");
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(a->dims, (std::vector<int64_t>{3, 2, 5}));
  ASSERT_EQ(a->data.size(), 30u);
  EXPECT_EQ(a->data[29], 29);
  const auto z = Gzip(b);
  auto u = Gunzip(z.data(), z.size(), 1 << 20, "x.gz");
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_EQ(*u, b);
}

TEST(Idx, RefusesMalformedFiles) {
  struct Bad {
    std::vector<uint8_t> bytes;
    const char* what;
  };
  std::vector<uint8_t> magic = Idx({4});
  magic[1] = 1;
  std::vector<Bad> cases = {
      {{0, 0, 8}, "shorter"},
      {magic, "magic"},
      {Idx({4}, 0x0d), "element type"},
      {Idx({}), "rank 0"},
      {{0, 0, 8, 3, 0, 0, 0, 2}, "past the end"},
      {Idx({2, 3}, 0x08, 1), "holds 7 bytes"},
      {{0, 0, 8, 2, 0, 1, 0, 0, 0, 1, 0, 0, 1, 2, 3}, "1 GiB"},
  };
  for (const Bad& c : cases) {
    auto a = ParseIdx(c.bytes.data(), c.bytes.size(), "bad.idx");
    ASSERT_FALSE(a.ok()) << c.what;
    EXPECT_NE(a.status().message().find("bad.idx"), std::string::npos);
    EXPECT_NE(a.status().message().find(c.what), std::string::npos)
        << a.status().message();
  }
}

TEST(Idx, GunzipRefusesBombsAndTruncation) {
  std::vector<uint8_t> zeros(1 << 22, 0);
  const auto z = Gzip(zeros);
  auto big = Gunzip(z.data(), z.size(), 1 << 20, "bomb.gz");
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("bomb.gz"), std::string::npos);
  EXPECT_NE(big.status().message().find("more than"), std::string::npos);
  auto cut = Gunzip(z.data(), z.size() / 2, 1 << 23, "cut.gz");
  ASSERT_FALSE(cut.ok());
  EXPECT_NE(cut.status().message().find("truncated"), std::string::npos);
}

}  // namespace
}  // namespace lowbit
