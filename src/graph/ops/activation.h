// Activations applied in place to blocks of a kernel's output while they are
// in cache: the epilogue of a Conv that graph/fuse.cc merged with the
// activation after it (attributes lowbit.activation and
// lowbit.activation_params). Each is the same float expression as the
// standalone operator in unary.cc.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "graph/ir.h"

namespace lowbit::graph {

struct Activation {
  enum Kind {
    kNone,
    kRelu,
    kClip,
    kHardSigmoid,
    kHardSwish,
    kSigmoid,
    kLeakyRelu
  };
  Kind kind = kNone;
  float a = 0,
        b = 0;  // Clip: lo, hi; HardSigmoid: alpha, beta; LeakyRelu: alpha
  // lowbit.post_affine: y = act(x) * post_a + post_b after the activation.
  bool post = false;
  float post_a = 1, post_b = 0;

  static Activation Of(const Node& n) {
    Activation e;
    const std::string k = n.String("lowbit.activation", "");
    std::vector<float> p;
    if (const Attribute* at = n.Find("lowbit.activation_params"))
      p = at->floats;
    p.resize(2, 0.0f);
    if (k == "Relu") e.kind = kRelu;
    if (k == "Clip") e.kind = kClip;
    if (k == "HardSigmoid") e.kind = kHardSigmoid;
    if (k == "HardSwish") e.kind = kHardSwish;
    if (k == "Sigmoid") e.kind = kSigmoid;
    if (k == "LeakyRelu") e.kind = kLeakyRelu;
    e.a = p[0];
    e.b = p[1];
    if (const Attribute* pa = n.Find("lowbit.post_affine")) {
      if (pa->floats.size() == 2) {
        e.post = true;
        e.post_a = pa->floats[0];
        e.post_b = pa->floats[1];
      }
    }
    return e;
  }

  // Known names (Conv's check refuses others).
  static bool Known(const std::string& k) {
    return k.empty() || k == "Relu" || k == "Clip" || k == "HardSigmoid" ||
           k == "HardSwish" || k == "Sigmoid" || k == "LeakyRelu";
  }

  void Apply(float* y, int64_t n) const {
    switch (kind) {
      case kNone:
        break;
      case kRelu:
        for (int64_t i = 0; i < n; ++i) y[i] = y[i] > 0 ? y[i] : 0.0f;
        break;
      case kClip:
        for (int64_t i = 0; i < n; ++i) y[i] = std::min(b, std::max(a, y[i]));
        break;
      case kHardSigmoid:
        for (int64_t i = 0; i < n; ++i) {
          y[i] = std::max(0.0f, std::min(1.0f, a * y[i] + b));
        }
        break;
      case kHardSwish:
        for (int64_t i = 0; i < n; ++i) {
          const float v = y[i];
          y[i] = v * std::max(0.0f, std::min(1.0f, v / 6.0f + 0.5f));
        }
        break;
      case kSigmoid:
        for (int64_t i = 0; i < n; ++i) y[i] = 1.0f / (1.0f + std::exp(-y[i]));
        break;
      case kLeakyRelu:
        for (int64_t i = 0; i < n; ++i) y[i] = y[i] < 0 ? a * y[i] : y[i];
        break;
    }
    if (post) {
      for (int64_t i = 0; i < n; ++i) y[i] = y[i] * post_a + post_b;
    }
  }

  bool active() const { return kind != kNone || post; }

  // rows of `len` values, `stride` apart.
  void ApplyRows(float* y, int64_t rows, int64_t len, int64_t stride) const {
    if (kind == kNone && !post) return;
    for (int64_t r = 0; r < rows; ++r) Apply(y + r * stride, len);
  }
};

}  // namespace lowbit::graph
