#include "io/npy.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace lowbit {
namespace {

using graph::Tensor;

TEST(Npy, RoundTripsEveryType) {
  for (DType t : {DType::kF32, DType::kF64, DType::kF16, DType::kI64,
                  DType::kI32, DType::kI16, DType::kI8, DType::kU8, DType::kU16,
                  DType::kU32, DType::kU64, DType::kBool}) {
    for (Shape s : {Shape{}, Shape{0}, Shape{5}, Shape{2, 3, 4}}) {
      Tensor x = Tensor::Zeros(t, s);
      for (int64_t i = 0; i < x.nbytes(); ++i) {
        x.bytes()[i] =
            t == DType::kBool ? (i % 2) : static_cast<uint8_t>(i * 7);
      }
      const std::string b = NpyBytes(x);
      // The data starts at a multiple of 64, as numpy writes it.
      EXPECT_EQ((b.size() - static_cast<size_t>(x.nbytes())) % 64, 0u);
      auto y = ParseNpy(reinterpret_cast<const uint8_t*>(b.data()), b.size(),
                        "x.npy");
      ASSERT_TRUE(y.ok()) << y.status().message();
      EXPECT_EQ(y->dtype(), t);
      EXPECT_EQ(y->shape(), s);
      EXPECT_EQ(
          std::memcmp(y->bytes(), x.bytes(), static_cast<size_t>(x.nbytes())),
          0);
    }
  }
}

// A header as numpy writes it, with the given fields.
std::string Npy(const std::string& descr, const std::string& shape,
                size_t data_bytes, const std::string& order = "False") {
  std::string h = "{'descr': '" + descr + "', 'fortran_order': " + order +
                  ", 'shape': " + shape + ", }";
  while ((10 + h.size() + 1) % 64) h += ' ';
  h += '\n';
  std::string out = std::string("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(h.size() & 255);
  out += static_cast<char>(h.size() >> 8);
  return out + h + std::string(data_bytes, '\0');
}

TEST(Npy, RefusesHostileFiles) {
  struct Case {
    std::string bytes, phrase;
  };
  const std::vector<Case> cases = {
      {"", "not a .npy file"},
      {std::string("\x93NUMPY\x09\x00\x00\x00", 10), "format version 9"},
      {Npy("<f4", "(2, 3)", 24).substr(0, 40), "passes the end"},
      {Npy("<f4", "(2, 3)", 23), "needs 24"},
      {Npy("<f4", "(2, 3)", 25), "needs 24"},
      {Npy(">f4", "(2,)", 8), "dtype '>f4'"},
      {Npy("<c8", "(2,)", 16), "dtype '<c8'"},
      {Npy("<f4", "(2,)", 8, "True"), "Fortran"},
      {Npy("<f4", "(-2,)", 0), "malformed"},
      {Npy("<f4", "(2x,)", 8), "malformed"},
      {Npy("<f4", "(1099511627776, 1099511627776)", 0), "too large"},
      {Npy("|b1", "(2,)", 0) + std::string("\x01\x05", 2), "not 0 or 1"},
  };
  for (const Case& c : cases) {
    auto r = ParseNpy(reinterpret_cast<const uint8_t*>(c.bytes.data()),
                      c.bytes.size(), "bad.npy");
    ASSERT_FALSE(r.ok()) << c.phrase;
    EXPECT_EQ(r.status().code(), StatusCode::kBadInput) << r.status().message();
    EXPECT_NE(r.status().message().find("bad.npy"), std::string::npos);
    EXPECT_NE(r.status().message().find(c.phrase), std::string::npos)
        << r.status().message();
  }
}

}  // namespace
}  // namespace lowbit
