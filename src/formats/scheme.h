// Scheme: the table of quantized formats lowbit writes. Every scheme decodes
// the same way:
//   x = scale[group] * (level[code] - zero[group])
// where `level` is a fixed table of the scheme (integers, NF4 values, minifloat
// values,
// {-1, +1}, {-1, 0, +1}) or, for k-means, the row's own codebook (scale 1, zero
// 0).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace lowbit {

enum class SchemeKind : uint8_t {
  kInt,      // uniform integer, 2..8 bits, symmetric or asymmetric
  kBinary,   // sign(x) * alpha, XNOR-Net (arXiv 1603.05279)
  kTernary,  // {-1, 0, +1} * alpha with a threshold, TWN (arXiv 1605.04711)
  kNf4,      // NormalFloat-4 of QLoRA (arXiv 2305.14314), blockwise absmax
  kFp8E4M3,  // OCP FP8 E4M3 (max 448, no infinities), saturating
  kFp8E5M2,  // OCP FP8 E5M2 (max 57344), saturating
  kFp4E2M1,  // OCP FP4 E2M1 (max 6) with an f16/f32 scale per group
  kMxfp4,    // OCP MX: E2M1 elements, one E8M0 (power of two) scale per 32
  kKmeans,   // non-uniform codebook of 2^bits levels per channel or per tensor
};

enum class Granularity : uint8_t { kTensor, kChannel, kGroup };
// "tensor", "channel", "group" (as stored in file metadata).
std::string GranularityName(Granularity g);
std::optional<Granularity> ParseGranularity(const std::string& s);

struct Scheme {
  SchemeKind kind = SchemeKind::kInt;
  int bits = 8;  // bits per code

  // Stable spelling on the command line and on disk: "int4", "nf4", "kmeans3",
  // ...
  std::string Name() const;
  // The fixed level table (empty for kInt, which computes levels, and for
  // kKmeans).
  std::span<const float> Levels() const;
  // Defaults: granularity and group size when the user names neither.
  Granularity DefaultGranularity() const;
  int64_t DefaultGroupSize() const;
  // Whether the user may ask for an asymmetric (zero-point) variant.
  bool SupportsAsymmetric() const { return kind == SchemeKind::kInt; }
};

// Parses "int2".."int8", "binary", "ternary", "nf4", "fp8_e4m3", "fp8_e5m2",
// "fp4_e2m1", "mxfp4", "kmeans2".."kmeans8".
std::optional<Scheme> ParseScheme(std::string_view name);
// All scheme names, for --help and errors.
std::string AllSchemeNames();

// Minifloat codecs (OCP FP8/FP4). Encoding rounds to nearest even and saturates
// to the largest finite value; NaN inputs are not accepted (the quantizer
// rejects them earlier).
uint8_t EncodeFp8E4M3(float x);
float DecodeFp8E4M3(uint8_t code);
uint8_t EncodeFp8E5M2(float x);
float DecodeFp8E5M2(uint8_t code);
uint8_t EncodeFp4E2M1(float x);
float DecodeFp4E2M1(uint8_t code);
// E8M0: the value 2^(code - 127); code 255 is NaN.
float DecodeE8M0(uint8_t code);

// The 16 NF4 levels, ascending, from -1 to 1 (QLoRA, arXiv 2305.14314, appendix
// E).
std::span<const float> Nf4Levels();

}  // namespace lowbit
