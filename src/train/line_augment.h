// Random changes to a text-line image for distillation on few unlabeled
// lines: the student and the teacher both read the changed line (the
// teacher's output is computed on it), so any change is a fair new sample —
// "consistent" augmentation, Beyer et al., arXiv 2106.05237. What changes,
// each drawn per call from `seed`:
//   - the width, stretched by a factor in [1/1.25, 1.25] (log-uniform;
//     bilinear), as fonts differ in width;
//   - the margins: each side cropped or padded by a few pixels (top and
//     bottom by up to 1/12 of the height; left and right padded by up to 1/4
//     of it, cropped by at most 1/16),
//     the padding the image's background (its brightest value);
//   - contrast (times [0.6, 1]) and brightness (+- 25) around mid-gray;
//   - Gaussian noise of a standard deviation in [0, 6].
// The same seed gives the same image. The output keeps the input's channels.
#pragma once

#include <cstdint>

#include "io/image.h"

namespace lowbit {

Image AugmentTextLine(const Image& img, uint64_t seed);

}  // namespace lowbit
