// The image reader of `lowbit eval --task ocr` (PNG through libpng, binary
// PGM/PPM): magic, headers, dimensions, truncated and corrupt data. Invariants:
// an accepted image is gray or RGB with exactly width * height * channels
// bytes, within the pixel cap; its OCR preprocessing gives values in [-1, 1].
#include <cmath>
#include <vector>

#include "eval/ocr.h"
#include "fuzz/fuzz_util.h"
#include "io/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lowbit;
  // A lower cap than the default keeps every allocation inside libFuzzer's
  // malloc limit.
  constexpr int64_t kMaxPixels = int64_t{1} << 20;
  // An exactly-sized heap copy: a read past the end is a sanitizer report.
  std::vector<uint8_t> copy(data, data + size);
  auto img = DecodeImage(copy.data(), copy.size(), "in.img", kMaxPixels);
  if (!img.ok()) {
    fuzz::Check(!img.status().message().empty(), "refusal without a message");
    fuzz::Check(img.status().message().find("in.img") != std::string::npos,
                "refusal does not name the file");
    return 0;
  }
  fuzz::Check(img->channels == 1 || img->channels == 3, "channels not 1 or 3");
  fuzz::Check(img->width > 0 && img->height > 0, "empty image accepted");
  fuzz::Check(img->width * img->height <= kMaxPixels, "pixel cap exceeded");
  fuzz::Check(static_cast<int64_t>(img->data.size()) ==
                  img->width * img->height * img->channels,
              "data size differs from width * height * channels");
  if (OcrResizedWidth(*img) <= 2048) {
    const graph::Tensor t = PreprocessOcrLine(*img, 64);
    for (int64_t i = 0; i < t.numel(); ++i) {
      const float v = t.data<float>()[i];
      fuzz::Check(v >= -1.0f && v <= 1.0f,
                  "preprocessed value outside [-1, 1]");
    }
  }
  return 0;
}
