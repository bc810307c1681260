// PNG (libpng, with its setjmp error handling) and binary PGM/PPM readers.
#include "io/image.h"

#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>

#include "core/mapped_file.h"

namespace lowbit {
namespace {

// Alpha a laid over white, rounded half up: round((v*a + 255*(255-a)) / 255).
inline uint8_t OverWhite(uint32_t v, uint32_t a) {
  const uint32_t n = v * a + 255 * (255 - a);
  return static_cast<uint8_t>((2 * n + 255) / 510);
}

std::string Dims(uint64_t w, uint64_t h) {
  return std::to_string(w) + " x " + std::to_string(h);
}

// ---- PNG ----

// Everything the decoding touches lives here, outside the frame that calls
// setjmp: libpng's longjmp then skips no C++ object and no local variable
// whose value would be indeterminate.
struct PngJob {
  const uint8_t* data = nullptr;
  size_t size = 0, pos = 0;
  char message[200] = {0};  // why libpng or a check refused the file
  png_structp png = nullptr;
  png_infop info = nullptr;
  int64_t max_pixels = 0;
  uint32_t width = 0, height = 0;
  int channels = 0;  // after the transforms: 1 gray, 2 gray+alpha, 3, 4
  std::vector<uint8_t> pixels;
  std::vector<png_bytep> rows;
};

void PngError(png_structp png, png_const_charp msg) {
  auto* job = static_cast<PngJob*>(png_get_error_ptr(png));
  std::snprintf(job->message, sizeof job->message, "%s", msg);
  png_longjmp(png, 1);
}

void PngWarning(png_structp, png_const_charp) {}

void PngRead(png_structp png, png_bytep out, size_t n) {
  auto* job = static_cast<PngJob*>(png_get_io_ptr(png));
  if (n > job->size - job->pos) png_error(png, "PNG data cut short");
  std::memcpy(out, job->data + job->pos, n);
  job->pos += n;
}

// Returns false when the file is refused (job->message says why).
bool RunPng(PngJob* job) {
  png_structp png = job->png;
  png_infop info = job->info;
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_info(png, info);
  job->width = png_get_image_width(png, info);
  job->height = png_get_image_height(png, info);
  const uint64_t pixels = uint64_t{job->width} * job->height;
  if (pixels > static_cast<uint64_t>(job->max_pixels)) {
    std::snprintf(job->message, sizeof job->message,
                  "%u x %u pixels, more than the limit of %lld", job->width,
                  job->height, static_cast<long long>(job->max_pixels));
    return false;
  }
  const int depth = png_get_bit_depth(png, info);
  const int ctype = png_get_color_type(png, info);
  if (depth == 16) png_set_strip_16(png);  // the high byte
  if (ctype == PNG_COLOR_TYPE_PALETTE) {
    png_set_palette_to_rgb(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
  }
  if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8) {
    png_set_expand_gray_1_2_4_to_8(png);
  }
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  job->channels = png_get_channels(png, info);
  const size_t row_bytes = png_get_rowbytes(png, info);
  if (job->channels < 1 || job->channels > 4 ||
      png_get_bit_depth(png, info) != 8 ||
      row_bytes != size_t{job->width} * static_cast<size_t>(job->channels)) {
    std::snprintf(job->message, sizeof job->message,
                  "unexpected PNG layout after conversion");
    return false;
  }
  job->pixels.resize(row_bytes * job->height);
  job->rows.resize(job->height);
  for (uint32_t y = 0; y < job->height; ++y) {
    job->rows[y] = job->pixels.data() + row_bytes * y;
  }
  png_read_image(png, job->rows.data());
  return true;
}

Result<Image> DecodePng(const uint8_t* data, size_t size,
                        const std::string& path, int64_t max_pixels) {
  PngJob job;
  job.data = data;
  job.size = size;
  job.max_pixels = max_pixels;
  job.png =
      png_create_read_struct(PNG_LIBPNG_VER_STRING, &job, PngError, PngWarning);
  if (job.png == nullptr) return IoError(path + ": cannot start libpng");
  job.info = png_create_info_struct(job.png);
  if (job.info == nullptr) {
    png_destroy_read_struct(&job.png, nullptr, nullptr);
    return IoError(path + ": cannot start libpng");
  }
  png_set_read_fn(job.png, &job, PngRead);
  const bool ok = RunPng(&job);
  png_destroy_read_struct(&job.png, &job.info, nullptr);
  if (!ok) return BadInput(path + ": bad PNG: " + job.message);

  Image img;
  img.width = job.width;
  img.height = job.height;
  const size_t n = size_t{job.width} * job.height;
  const uint8_t* p = job.pixels.data();
  switch (job.channels) {
    case 1:
      img.channels = 1;
      img.data = std::move(job.pixels);
      break;
    case 2:
      img.channels = 1;
      img.data.resize(n);
      for (size_t i = 0; i < n; ++i)
        img.data[i] = OverWhite(p[2 * i], p[2 * i + 1]);
      break;
    case 3:
      img.channels = 3;
      img.data = std::move(job.pixels);
      break;
    default:
      img.channels = 3;
      img.data.resize(3 * n);
      for (size_t i = 0; i < n; ++i) {
        for (int c = 0; c < 3; ++c) {
          img.data[3 * i + c] = OverWhite(p[4 * i + c], p[4 * i + 3]);
        }
      }
  }
  return img;
}

// ---- PNM ----

bool IsSpace(uint8_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
         c == '\r';
}

Result<Image> DecodePnm(const uint8_t* data, size_t size,
                        const std::string& path, int64_t max_pixels) {
  if (size < 2 || data[0] != 'P' || (data[1] != '5' && data[1] != '6')) {
    return BadInput(path + ": only binary PGM/PPM (P5/P6) is read");
  }
  const int channels = data[1] == '5' ? 1 : 3;
  size_t off = 2;
  uint64_t fields[3] = {0, 0, 0};  // width, height, maxval
  for (int k = 0; k < 3;) {
    while (off < size && IsSpace(data[off])) ++off;
    if (off < size && data[off] == '#') {  // a comment, to the line's end
      while (off < size && data[off] != '\n') ++off;
      continue;
    }
    size_t digits = 0;
    uint64_t v = 0;
    while (off < size && data[off] >= '0' && data[off] <= '9') {
      if (++digits > 9) {
        return BadInput(path +
                        ": bad PNM header: a number of more than 9 "
                        "digits");
      }
      v = v * 10 + (data[off++] - '0');
    }
    if (digits == 0) {
      return BadInput(path + (off < size ? ": bad PNM header: expected a number"
                                         : ": PNM header cut short"));
    }
    fields[k++] = v;
  }
  if (off >= size || !IsSpace(data[off])) {
    return BadInput(path + ": bad PNM header: no whitespace after maxval");
  }
  ++off;  // the single whitespace byte before the pixels
  const uint64_t w = fields[0], h = fields[1];
  if (fields[2] != 255) {
    return Unsupported(path + ": only maxval 255 is read (got " +
                       std::to_string(fields[2]) + ")");
  }
  if (w == 0 || h == 0) {
    return BadInput(path + ": image of " + Dims(w, h) + " pixels");
  }
  if (w * h > static_cast<uint64_t>(max_pixels)) {
    return BadInput(path + ": " + Dims(w, h) +
                    " pixels, more than the limit of " +
                    std::to_string(max_pixels));
  }
  const uint64_t bytes = w * h * channels;
  if (bytes > size - off) {
    return BadInput(path + ": PNM data cut short: " + Dims(w, h) +
                    " pixels need " + std::to_string(bytes) + " bytes, " +
                    std::to_string(size - off) + " remain");
  }
  Image img;
  img.width = static_cast<int64_t>(w);
  img.height = static_cast<int64_t>(h);
  img.channels = channels;
  img.data.assign(data + off, data + off + bytes);
  return img;
}

}  // namespace

Result<Image> DecodeImage(const uint8_t* data, size_t size,
                          const std::string& path, int64_t max_pixels) {
  static const uint8_t kPngMagic[8] = {0x89, 'P',  'N',  'G',
                                       '\r', '\n', 0x1a, '\n'};
  if (size >= 8 && std::memcmp(data, kPngMagic, 8) == 0) {
    return DecodePng(data, size, path, max_pixels);
  }
  if (size >= 1 && data[0] == 'P') {
    return DecodePnm(data, size, path, max_pixels);
  }
  return BadInput(path + ": not a PNG or binary PGM/PPM (P5/P6) image");
}

Result<Image> ReadImage(const std::string& path, int64_t max_pixels) {
  LB_ASSIGN_OR_RETURN(auto f, MappedFile::Open(path));
  return DecodeImage(f->data(), f->size(), path, max_pixels);
}

}  // namespace lowbit
