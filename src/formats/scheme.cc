#include "formats/scheme.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <vector>

namespace lowbit {
namespace {

// A minifloat format: exponent and mantissa widths, bias, and which top codes
// are special.
struct MiniFloat {
  int ebits;
  int mbits;
  int bias;
  bool ieee_specials;  // E5M2: exponent all-ones is inf/NaN. E4M3: only
                       // S.1111.111 is NaN.
  bool has_nan;        // E2M1 has none.
};
constexpr MiniFloat kE4M3{4, 3, 7, false, true};
constexpr MiniFloat kE5M2{5, 2, 15, true, true};
constexpr MiniFloat kE2M1{2, 1, 1, false, false};

float DecodeMini(const MiniFloat& f, uint32_t code) {
  const int nbits = 1 + f.ebits + f.mbits;
  const bool neg = (code >> (nbits - 1)) & 1u;
  const uint32_t e = (code >> f.mbits) & ((1u << f.ebits) - 1u);
  const uint32_t m = code & ((1u << f.mbits) - 1u);
  const uint32_t emax = (1u << f.ebits) - 1u;
  float v;
  if (f.ieee_specials && e == emax) {
    v = m == 0 ? std::numeric_limits<float>::infinity()
               : std::numeric_limits<float>::quiet_NaN();
  } else if (!f.ieee_specials && f.has_nan && e == emax &&
             m == (1u << f.mbits) - 1u) {
    v = std::numeric_limits<float>::quiet_NaN();
  } else if (e == 0) {
    v = std::ldexp(static_cast<float>(m), 1 - f.bias - f.mbits);
  } else {
    v = std::ldexp(static_cast<float>((1u << f.mbits) | m),
                   static_cast<int>(e) - f.bias - f.mbits);
  }
  return neg ? -v : v;
}

// The positive finite values of a minifloat, ascending; index = code.
struct PositiveTable {
  std::vector<float> values;
};

PositiveTable MakePositive(const MiniFloat& f) {
  PositiveTable t;
  const uint32_t n = 1u << (f.ebits + f.mbits);
  for (uint32_t c = 0; c < n; ++c) {
    const float v = DecodeMini(f, c);
    if (!std::isfinite(v)) break;
    t.values.push_back(v);
  }
  return t;
}

// Round to nearest, ties to the even code, saturating at the largest finite
// value.
uint32_t EncodeMini(const MiniFloat& f, const PositiveTable& t, float x) {
  const int nbits = 1 + f.ebits + f.mbits;
  const bool neg = std::signbit(x);
  const float a = std::fabs(x);
  const auto& v = t.values;
  uint32_t c;
  if (!(a < v.back())) {
    c = static_cast<uint32_t>(v.size() - 1);
  } else {
    const size_t hi = static_cast<size_t>(
        std::upper_bound(v.begin(), v.end(), a) - v.begin());
    const size_t lo = hi - 1;  // v[lo] <= a < v[hi]
    const float dlo = a - v[lo];
    const float dhi = v[hi] - a;
    if (dlo < dhi) {
      c = static_cast<uint32_t>(lo);
    } else if (dhi < dlo) {
      c = static_cast<uint32_t>(hi);
    } else {
      c = static_cast<uint32_t>((lo & 1u) == 0 ? lo : hi);
    }
  }
  if (c == 0) return 0;  // zero is always +0: one canonical code
  return neg ? (c | (1u << (nbits - 1))) : c;
}

const PositiveTable& E4M3Table() {
  static const PositiveTable t = MakePositive(kE4M3);
  return t;
}
const PositiveTable& E5M2Table() {
  static const PositiveTable t = MakePositive(kE5M2);
  return t;
}
const PositiveTable& E2M1Table() {
  static const PositiveTable t = MakePositive(kE2M1);
  return t;
}

template <int N>
std::array<float, N> MakeLevels(const MiniFloat& f) {
  std::array<float, N> a{};
  for (int c = 0; c < N; ++c) a[c] = DecodeMini(f, static_cast<uint32_t>(c));
  return a;
}

// NF4 levels: QLoRA appendix E (quantiles of N(0,1), normalised to [-1, 1]).
constexpr std::array<float, 16> kNf4 = {
    -1.0f,
    -0.6961928009986877f,
    -0.5250730514526367f,
    -0.39491748809814453f,
    -0.28444138169288635f,
    -0.18477343022823334f,
    -0.09105003625154495f,
    0.0f,
    0.07958029955625534f,
    0.16093020141124725f,
    0.24611230194568634f,
    0.33791524171829224f,
    0.44070982933044434f,
    0.5626170039176941f,
    0.7229568362236023f,
    1.0f,
};

constexpr std::array<float, 2> kBinaryLevels = {-1.0f, 1.0f};
constexpr std::array<float, 4> kTernaryLevels = {-1.0f, 0.0f, 1.0f, 0.0f};

template <int N>
std::array<float, N> IotaLevels() {
  std::array<float, N> a{};
  for (int i = 0; i < N; ++i) a[i] = static_cast<float>(i);
  return a;
}

}  // namespace

uint8_t EncodeFp8E4M3(float x) {
  return static_cast<uint8_t>(EncodeMini(kE4M3, E4M3Table(), x));
}
float DecodeFp8E4M3(uint8_t code) { return DecodeMini(kE4M3, code); }
uint8_t EncodeFp8E5M2(float x) {
  return static_cast<uint8_t>(EncodeMini(kE5M2, E5M2Table(), x));
}
float DecodeFp8E5M2(uint8_t code) { return DecodeMini(kE5M2, code); }
uint8_t EncodeFp4E2M1(float x) {
  return static_cast<uint8_t>(EncodeMini(kE2M1, E2M1Table(), x));
}
float DecodeFp4E2M1(uint8_t code) { return DecodeMini(kE2M1, code & 15u); }
float DecodeE8M0(uint8_t code) {
  if (code == 255) return std::numeric_limits<float>::quiet_NaN();
  return std::ldexp(1.0f, static_cast<int>(code) - 127);
}

std::span<const float> Nf4Levels() { return kNf4; }

std::string Scheme::Name() const {
  switch (kind) {
    case SchemeKind::kInt:
      return "int" + std::to_string(bits);
    case SchemeKind::kBinary:
      return "binary";
    case SchemeKind::kTernary:
      return "ternary";
    case SchemeKind::kNf4:
      return "nf4";
    case SchemeKind::kFp8E4M3:
      return "fp8_e4m3";
    case SchemeKind::kFp8E5M2:
      return "fp8_e5m2";
    case SchemeKind::kFp4E2M1:
      return "fp4_e2m1";
    case SchemeKind::kMxfp4:
      return "mxfp4";
    case SchemeKind::kKmeans:
      return "kmeans" + std::to_string(bits);
  }
  return "?";
}

std::span<const float> Scheme::Levels() const {
  static const std::array<float, 256> kE4M3Levels = MakeLevels<256>(kE4M3);
  static const std::array<float, 256> kE5M2Levels = MakeLevels<256>(kE5M2);
  static const std::array<float, 16> kE2M1Levels = MakeLevels<16>(kE2M1);
  static const std::array<float, 256> kIota = IotaLevels<256>();
  switch (kind) {
    case SchemeKind::kInt:
      return std::span<const float>(kIota.data(), size_t{1} << bits);
    case SchemeKind::kBinary:
      return kBinaryLevels;
    case SchemeKind::kTernary:
      return kTernaryLevels;
    case SchemeKind::kNf4:
      return kNf4;
    case SchemeKind::kFp8E4M3:
      return kE4M3Levels;
    case SchemeKind::kFp8E5M2:
      return kE5M2Levels;
    case SchemeKind::kFp4E2M1:
    case SchemeKind::kMxfp4:
      return kE2M1Levels;
    case SchemeKind::kKmeans:
      return {};
  }
  return {};
}

Granularity Scheme::DefaultGranularity() const {
  switch (kind) {
    case SchemeKind::kInt:
      return bits <= 4 ? Granularity::kGroup : Granularity::kChannel;
    case SchemeKind::kNf4:
    case SchemeKind::kFp4E2M1:
    case SchemeKind::kMxfp4:
      return Granularity::kGroup;
    default:
      return Granularity::kChannel;
  }
}

int64_t Scheme::DefaultGroupSize() const {
  switch (kind) {
    case SchemeKind::kNf4:
      return 64;  // QLoRA's block size
    default:
      return 32;
  }
}

std::optional<Scheme> ParseScheme(std::string_view name) {
  auto bits_after = [&](std::string_view prefix) -> int {
    if (name.size() != prefix.size() + 1 ||
        name.substr(0, prefix.size()) != prefix)
      return -1;
    const char c = name.back();
    return (c >= '2' && c <= '8') ? c - '0' : -1;
  };
  if (int b = bits_after("int"); b > 0) return Scheme{SchemeKind::kInt, b};
  if (int b = bits_after("kmeans"); b > 0)
    return Scheme{SchemeKind::kKmeans, b};
  if (name == "binary") return Scheme{SchemeKind::kBinary, 1};
  if (name == "ternary") return Scheme{SchemeKind::kTernary, 2};
  if (name == "nf4") return Scheme{SchemeKind::kNf4, 4};
  if (name == "fp8_e4m3") return Scheme{SchemeKind::kFp8E4M3, 8};
  if (name == "fp8_e5m2") return Scheme{SchemeKind::kFp8E5M2, 8};
  if (name == "fp4_e2m1") return Scheme{SchemeKind::kFp4E2M1, 4};
  if (name == "mxfp4") return Scheme{SchemeKind::kMxfp4, 4};
  return std::nullopt;
}

std::string AllSchemeNames() {
  return "int2..int8, binary, ternary, nf4, fp8_e4m3, fp8_e5m2, fp4_e2m1, "
         "mxfp4, "
         "kmeans2..kmeans8";
}

std::string GranularityName(Granularity g) {
  switch (g) {
    case Granularity::kTensor:
      return "tensor";
    case Granularity::kChannel:
      return "channel";
    case Granularity::kGroup:
      return "group";
  }
  return "?";
}

std::optional<Granularity> ParseGranularity(const std::string& s) {
  if (s == "tensor") return Granularity::kTensor;
  if (s == "channel") return Granularity::kChannel;
  if (s == "group") return Granularity::kGroup;
  return std::nullopt;
}

}  // namespace lowbit
