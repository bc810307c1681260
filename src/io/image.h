// Images for the OCR evaluation (`lowbit eval --task ocr`): PNG through
// libpng and binary PGM/PPM (P5/P6, maxval 255) parsed here, as 8-bit gray or
// RGB. Every file is hostile: dimensions are capped, truncated data and bad
// headers are refused with the file's name and what is wrong.
//
// The conversions are those of tools/ort/ocr_rec_eval.js, so that both see the
// same pixels: 16-bit samples keep their high byte, 1/2/4-bit gray is scaled to
// 0..255, palettes are expanded, and alpha (a palette's tRNS included) is laid
// over white, round((v * a + 255 * (255 - a)) / 255). Gray (+alpha) stays one
// channel; everything else becomes RGB. Interlaced PNGs are read too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace lowbit {

struct Image {
  int64_t width = 0, height = 0;
  int channels = 0;           // 1 (gray) or 3 (RGB)
  std::vector<uint8_t> data;  // height rows of width * channels bytes
};

// The default cap on width * height: 2^28 pixels (768 MiB as RGB).
inline constexpr int64_t kMaxImagePixels = int64_t{1} << 28;

// Decodes PNG or PNM bytes, told apart by their magic; `path` names the file
// in messages. Images above `max_pixels` are refused before any allocation of
// their size.
Result<Image> DecodeImage(const uint8_t* data, size_t size,
                          const std::string& path,
                          int64_t max_pixels = kMaxImagePixels);

// Reads and decodes a file (IoError naming it when it cannot be read).
Result<Image> ReadImage(const std::string& path,
                        int64_t max_pixels = kMaxImagePixels);

}  // namespace lowbit
