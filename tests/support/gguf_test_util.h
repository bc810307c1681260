// Helpers of the GGUF tests: temporary paths, whole-file I/O, a little-endian
// byte builder for hand-made files, and SHA-256 for comparing tensor bytes
// with the golden files' README.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "io/gguf.h"

namespace lowbit {

// gtest prints values through these (found by argument-dependent lookup).
inline void PrintTo(const GgufValue& v, std::ostream* os) {
  *os << GgufTypeName(v.type) << " " << v.DebugString();
}
inline void PrintTo(const GgufKV& kv, std::ostream* os) {
  *os << kv.key << " = ";
  PrintTo(kv.value, os);
}

}  // namespace lowbit

namespace lowbit::gguf_testing {

inline std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "/lowbit_gguf_" + std::to_string(::getpid()) +
         "_" + name + ".gguf";
}

inline void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(f.good()) << path;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// Appends little-endian fields; each method returns *this for chaining.
class Bytes {
 public:
  Bytes& U8(uint8_t v) { return Le(v, 1); }
  Bytes& U32(uint32_t v) { return Le(v, 4); }
  Bytes& U64(uint64_t v) { return Le(v, 8); }
  Bytes& Raw(std::string_view s) {
    b_.append(s);
    return *this;
  }
  // A GGUF string: u64 length then the bytes.
  Bytes& Str(std::string_view s) { return U64(s.size()).Raw(s); }
  // Magic, version, tensor count, KV count.
  Bytes& Header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    return Raw("GGUF").U32(version).U64(n_tensors).U64(n_kv);
  }
  // A scalar KV: key, type id, then `payload_bytes` bytes of `v`.
  Bytes& Kv(std::string_view key, uint32_t type, uint64_t v, int n) {
    return Str(key).U32(type).Le(v, n);
  }
  // A tensor info record.
  Bytes& Tensor(std::string_view name, const std::vector<uint64_t>& ne,
                uint32_t type, uint64_t offset) {
    Str(name).U32(static_cast<uint32_t>(ne.size()));
    for (uint64_t d : ne) U64(d);
    return U32(type).U64(offset);
  }
  // Zero bytes up to the next multiple of `alignment`.
  Bytes& Pad(uint64_t alignment) {
    b_.append((alignment - b_.size() % alignment) % alignment, '\0');
    return *this;
  }
  Bytes& Fill(size_t n, char c) {
    b_.append(n, c);
    return *this;
  }
  size_t size() const { return b_.size(); }
  const std::string& str() const { return b_; }

 private:
  Bytes& Le(uint64_t v, int n) {
    for (int k = 0; k < n; ++k) b_.push_back(static_cast<char>(v >> (8 * k)));
    return *this;
  }
  std::string b_;
};

// Lower-case hex SHA-256 of `n` bytes (FIPS 180-4).
inline std::string Sha256Hex(const uint8_t* data, size_t n) {
  static constexpr uint32_t kK[64] = {
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
      0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
      0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
      0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
      0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
      0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
      0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
      0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
      0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
      0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
      0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
  std::array<uint32_t, 8> h = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  auto rotr = [](uint32_t x, int r) { return (x >> r) | (x << (32 - r)); };
  std::vector<uint8_t> msg(data, data + n);
  msg.push_back(0x80);
  while (msg.size() % 64 != 56) msg.push_back(0);
  const uint64_t bits = static_cast<uint64_t>(n) * 8;
  for (int k = 7; k >= 0; --k)
    msg.push_back(static_cast<uint8_t>(bits >> (8 * k)));
  for (size_t blk = 0; blk < msg.size(); blk += 64) {
    uint32_t w[64];
    for (int t = 0; t < 16; ++t) {
      const uint8_t* p = &msg[blk + 4 * t];
      w[t] = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
             (uint32_t{p[2]} << 8) | p[3];
    }
    for (int t = 16; t < 64; ++t) {
      const uint32_t s0 =
          rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
      const uint32_t s1 =
          rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
      w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    std::array<uint32_t, 8> v = h;
    for (int t = 0; t < 64; ++t) {
      const uint32_t s1 = rotr(v[4], 6) ^ rotr(v[4], 11) ^ rotr(v[4], 25);
      const uint32_t ch = (v[4] & v[5]) ^ (~v[4] & v[6]);
      const uint32_t t1 = v[7] + s1 + ch + kK[t] + w[t];
      const uint32_t s0 = rotr(v[0], 2) ^ rotr(v[0], 13) ^ rotr(v[0], 22);
      const uint32_t maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
      const uint32_t t2 = s0 + maj;
      for (int k = 7; k > 0; --k) v[k] = v[k - 1];
      v[4] += t1;
      v[0] = t1 + t2;
    }
    for (int k = 0; k < 8; ++k) h[k] += v[k];
  }
  std::string hex;
  char buf[9];
  for (uint32_t x : h) {
    std::snprintf(buf, sizeof(buf), "%08x", x);
    hex += buf;
  }
  return hex;
}

inline std::string Sha256Of(const std::string& s) {
  return Sha256Hex(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// `depth` nested arrays around a single UINT8 7.
inline GgufValue Nested(int depth) {
  GgufValue v = GgufValue::Array(GgufType::kU8, {GgufValue::U8(7)});
  for (int k = 1; k < depth; ++k) v = GgufValue::Array(GgufType::kArray, {v});
  return v;
}

}  // namespace lowbit::gguf_testing
