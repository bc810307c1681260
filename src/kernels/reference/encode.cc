// Scalar reference of kernels/encode.h: the codecs, value by value.
#include "kernels/encode.h"

#include "kernels/reference/codecs.h"

namespace lowbit::reference {

void EncodeValues(const Scheme& scheme, const CodeParams& p, const float* x,
                  int64_t n, uint8_t* codes) {
  const float inv = p.scale != 0.0f ? 1.0f / p.scale : 0.0f;
  const bool binary = scheme.kind == SchemeKind::kBinary;
  codecs::WithCodec(scheme, p, [&](const auto& codec) {
    for (int64_t i = 0; i < n; ++i) {
      codes[i] = codec.Encode(binary ? x[i] : x[i] * inv);
    }
    return 0;
  });
}

double EncodeError(const Scheme& scheme, const CodeParams& p, const float* x,
                   const float* w, int64_t n) {
  const float s = p.scale, inv = s != 0.0f ? 1.0f / s : 0.0f;
  const bool binary = scheme.kind == SchemeKind::kBinary;
  return codecs::WithCodec(scheme, p, [&](const auto& codec) {
    double err = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      const float xs = binary ? x[i] : x[i] * inv;
      const float d = x[i] - s * codec.Level(codec.Encode(xs));
      err += (w ? static_cast<double>(w[i]) : 1.0) * d * d;
    }
    return err;
  });
}

}  // namespace lowbit::reference
