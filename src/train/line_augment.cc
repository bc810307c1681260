#include "train/line_augment.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace lowbit {
namespace {

// A uniform draw in [lo, hi].
double Uniform(std::mt19937_64& rng, double lo, double hi) {
  return lo + (hi - lo) * std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

int64_t UniformInt(std::mt19937_64& rng, int64_t lo, int64_t hi) {
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
}

}  // namespace

Image AugmentTextLine(const Image& img, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const int64_t h = img.height, w = img.width, c = img.channels;
  if (h < 1 || w < 1 || c < 1) return img;
  const double stretch =
      std::exp(Uniform(rng, -std::log(1.25), std::log(1.25)));
  const int64_t mv = std::max<int64_t>(1, h / 12),
                mh = std::max<int64_t>(1, h / 4);
  const int64_t top = UniformInt(rng, -mv, mv),
                bottom = UniformInt(rng, -mv, mv);
  // Lines are rendered with thin side margins: a side is padded by up to a
  // quarter of the height, cropped by at most a sixteenth.
  const int64_t mc = h / 16;
  const int64_t left = UniformInt(rng, -mh, mc),
                right = UniformInt(rng, -mh, mc);
  const double contrast = Uniform(rng, 0.6, 1.0);
  const double brightness = Uniform(rng, -25.0, 25.0);
  const double sigma = Uniform(rng, 0.0, 6.0);

  // The stretched width, then the margins: output pixel (y, x) reads the
  // stretched image at (y + top, x + left) (negative: padding), where a
  // margin's sign says crop (+) or pad (-).
  const int64_t sw =
      std::max<int64_t>(1, std::llround(static_cast<double>(w) * stretch));
  const int64_t ow = std::max<int64_t>(1, sw - left - right);
  const int64_t oh = std::max<int64_t>(1, h - top - bottom);
  const uint8_t background =
      *std::max_element(img.data.begin(), img.data.end());
  Image out;
  out.width = ow;
  out.height = oh;
  out.channels = img.channels;
  out.data.assign(static_cast<size_t>(ow * oh * c), background);
  const double sx = static_cast<double>(w) / static_cast<double>(sw);
  std::normal_distribution<double> noise(0.0, 1.0);
  for (int64_t y = 0; y < oh; ++y) {
    const int64_t iy = y + top;
    for (int64_t x = 0; x < ow; ++x) {
      const int64_t jx = x + left;
      for (int64_t k = 0; k < c; ++k) {
        double v = background;
        if (iy >= 0 && iy < h && jx >= 0 && jx < sw) {
          double fx = (static_cast<double>(jx) + 0.5) * sx - 0.5;
          fx = std::clamp(fx, 0.0, static_cast<double>(w - 1));
          const int64_t x0 = static_cast<int64_t>(fx);
          const int64_t x1 = std::min(x0 + 1, w - 1);
          const double a = fx - static_cast<double>(x0);
          const uint8_t* row = img.data.data() + iy * w * c;
          v = (1.0 - a) * row[x0 * c + k] + a * row[x1 * c + k];
        }
        v = 128.0 + contrast * (v - 128.0) + brightness + sigma * noise(rng);
        out.data[static_cast<size_t>((y * ow + x) * c + k)] =
            static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
      }
    }
  }
  return out;
}

}  // namespace lowbit
