// ReadImage / DecodeImage: PNGs of every colour type and bit depth written
// here with libpng, PGM/PPM, and hostile files (truncated, absurd dimensions,
// bad headers) refused by name.
#include "io/image.h"

#include <gtest/gtest.h>
#include <png.h>
#include <zlib.h>

#include <csetjmp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace lowbit {
namespace {

struct PngSpec {
  uint32_t w = 1, h = 1;
  int color_type = PNG_COLOR_TYPE_GRAY, depth = 8;
  bool interlace = false;
  std::vector<uint8_t> raw;  // rows as PNG stores them (packed, big-endian)
  std::vector<png_color> palette;
  std::vector<uint8_t> trns;  // palette alpha
};

PngSpec Spec(uint32_t w, uint32_t h, int color_type, int depth,
             std::vector<uint8_t> raw) {
  PngSpec s;
  s.w = w;
  s.h = h;
  s.color_type = color_type;
  s.depth = depth;
  s.raw = std::move(raw);
  return s;
}

void AppendBytes(png_structp png, png_bytep d, size_t n) {
  static_cast<std::string*>(png_get_io_ptr(png))
      ->append(reinterpret_cast<const char*>(d), n);
}
void NoFlush(png_structp) {}

// Encodes s into *out; false when libpng refused (the spec is wrong).
bool EncodePng(const PngSpec& s, std::string* out) {
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_set_write_fn(png, out, AppendBytes, NoFlush);
  png_set_IHDR(png, info, s.w, s.h, s.depth, s.color_type,
               s.interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (!s.palette.empty()) {
    png_set_PLTE(png, info, s.palette.data(),
                 static_cast<int>(s.palette.size()));
  }
  if (!s.trns.empty()) {
    png_set_tRNS(png, info, s.trns.data(), static_cast<int>(s.trns.size()),
                 nullptr);
  }
  png_write_info(png, info);
  const size_t row = png_get_rowbytes(png, info);
  std::vector<png_bytep> rows(s.h);
  for (uint32_t y = 0; y < s.h; ++y) {
    rows[y] = const_cast<png_bytep>(s.raw.data()) + row * y;
  }
  png_write_image(png, rows.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

Result<Image> Decode(const PngSpec& s, int64_t max_pixels = kMaxImagePixels) {
  std::string bytes;
  EXPECT_TRUE(EncodePng(s, &bytes));
  return DecodeImage(reinterpret_cast<const uint8_t*>(bytes.data()),
                     bytes.size(), "t.png", max_pixels);
}

Result<Image> DecodeString(const std::string& b, const std::string& path) {
  return DecodeImage(reinterpret_cast<const uint8_t*>(b.data()), b.size(),
                     path);
}

using Bytes = std::vector<uint8_t>;

TEST(Image, PngGrayOfEveryDepth) {
  PngSpec s = Spec(3, 2, PNG_COLOR_TYPE_GRAY, 8, {0, 7, 255, 128, 1, 2});
  auto g8 = Decode(s);
  ASSERT_TRUE(g8.ok()) << g8.status().message();
  EXPECT_EQ(g8->width, 3);
  EXPECT_EQ(g8->height, 2);
  EXPECT_EQ(g8->channels, 1);
  EXPECT_EQ(g8->data, s.raw);
  // 16-bit: the high byte.
  auto g16 =
      Decode(Spec(2, 1, PNG_COLOR_TYPE_GRAY, 16, {0x12, 0x34, 0xAB, 0xCD}));
  ASSERT_TRUE(g16.ok()) << g16.status().message();
  EXPECT_EQ(g16->data, (Bytes{0x12, 0xAB}));
  // 1, 2, 4 bits scaled to 0..255.
  auto g1 = Decode(Spec(9, 1, PNG_COLOR_TYPE_GRAY, 1, {0xA0, 0x80}));
  ASSERT_TRUE(g1.ok()) << g1.status().message();
  EXPECT_EQ(g1->data, (Bytes{255, 0, 255, 0, 0, 0, 0, 0, 255}));
  auto g2 = Decode(Spec(4, 1, PNG_COLOR_TYPE_GRAY, 2, {0x1B}));
  ASSERT_TRUE(g2.ok()) << g2.status().message();
  EXPECT_EQ(g2->data, (Bytes{0, 85, 170, 255}));
  auto g4 = Decode(Spec(2, 1, PNG_COLOR_TYPE_GRAY, 4, {0x3F}));
  ASSERT_TRUE(g4.ok()) << g4.status().message();
  EXPECT_EQ(g4->data, (Bytes{51, 255}));
}

TEST(Image, PngColourAndAlphaOverWhite) {
  auto rgb = Decode(Spec(2, 1, PNG_COLOR_TYPE_RGB, 8, {1, 2, 3, 4, 5, 6}));
  ASSERT_TRUE(rgb.ok()) << rgb.status().message();
  EXPECT_EQ(rgb->channels, 3);
  EXPECT_EQ(rgb->data, (Bytes{1, 2, 3, 4, 5, 6}));
  // round((v * a + 255 * (255 - a)) / 255): 100 at alpha 128 -> 177.196.
  auto rgba = Decode(
      Spec(2, 1, PNG_COLOR_TYPE_RGBA, 8, {0, 100, 255, 128, 9, 8, 7, 255}));
  ASSERT_TRUE(rgba.ok()) << rgba.status().message();
  EXPECT_EQ(rgba->channels, 3);
  EXPECT_EQ(rgba->data, (Bytes{127, 177, 255, 9, 8, 7}));
  auto rgba16 = Decode(Spec(1, 1, PNG_COLOR_TYPE_RGBA, 16,
                            {0, 0xFF, 100, 0, 255, 0, 128, 0x80}));
  ASSERT_TRUE(rgba16.ok()) << rgba16.status().message();
  EXPECT_EQ(rgba16->data, (Bytes{127, 177, 255}));
  auto ga =
      Decode(Spec(3, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 8, {0, 0, 10, 255, 0, 64}));
  ASSERT_TRUE(ga.ok()) << ga.status().message();
  EXPECT_EQ(ga->channels, 1);
  EXPECT_EQ(ga->data, (Bytes{255, 10, 191}));  // 255 * 191 / 255
}

TEST(Image, PngPaletteWithTransparency) {
  PngSpec s = Spec(3, 1, PNG_COLOR_TYPE_PALETTE, 4, {0x01, 0x20});
  s.palette = {{255, 0, 0}, {0, 0, 255}, {10, 20, 30}};
  s.trns = {0, 255};  // index 0 transparent; 2 has no entry: opaque
  auto p = Decode(s);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->channels, 3);
  EXPECT_EQ(p->data, (Bytes{255, 255, 255, 0, 0, 255, 10, 20, 30}));
  s.trns.clear();
  auto opaque = Decode(s);
  ASSERT_TRUE(opaque.ok()) << opaque.status().message();
  EXPECT_EQ(opaque->data, (Bytes{255, 0, 0, 0, 0, 255, 10, 20, 30}));
}

TEST(Image, PngInterlacedEqualsPlain) {
  PngSpec s = Spec(7, 5, PNG_COLOR_TYPE_RGB, 8, {});
  for (int i = 0; i < 7 * 5 * 3; ++i)
    s.raw.push_back(static_cast<uint8_t>(i * 13));
  auto plain = Decode(s);
  s.interlace = true;
  auto adam7 = Decode(s);
  ASSERT_TRUE(plain.ok() && adam7.ok()) << adam7.status().message();
  EXPECT_EQ(plain->data, s.raw);
  EXPECT_EQ(adam7->data, s.raw);
}

TEST(Image, HostilePngsAreRefusedByName) {
  PngSpec s = Spec(64, 64, PNG_COLOR_TYPE_GRAY, 8, {});
  for (int i = 0; i < 64 * 64; ++i)
    s.raw.push_back(static_cast<uint8_t>(i * 7919 >> 3));
  std::string b;
  ASSERT_TRUE(EncodePng(s, &b));
  for (size_t cut : {b.size() / 2, size_t{40}, size_t{12}}) {
    auto t = DecodeString(b.substr(0, cut), "cut.png");
    ASSERT_FALSE(t.ok()) << cut;
    EXPECT_NE(t.status().message().find("cut.png: bad PNG"), std::string::npos)
        << t.status().message();
  }
  // Above the pixel cap: refused before the pixels are allocated.
  auto capped = Decode(s, 64 * 63);
  ASSERT_FALSE(capped.ok());
  EXPECT_NE(
      capped.status().message().find("64 x 64 pixels, more than the limit"),
      std::string::npos)
      << capped.status().message();
  // IHDR claiming 60000 x 60000 (CRC fixed up): refused, nothing allocated.
  std::string big = b;
  const uint32_t dims[2] = {60000, 60000};
  for (int k = 0; k < 2; ++k) {
    for (int j = 0; j < 4; ++j) {
      big[16 + 4 * k + j] = static_cast<char>(dims[k] >> (24 - 8 * j));
    }
  }
  const uint32_t crc =
      crc32(0, reinterpret_cast<const Bytef*>(big.data() + 12), 17);
  for (int j = 0; j < 4; ++j)
    big[29 + j] = static_cast<char>(crc >> (24 - 8 * j));
  auto huge = DecodeString(big, "huge.png");
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.status().message().find("huge.png: bad PNG: 60000 x 60000"),
            std::string::npos)
      << huge.status().message();
  // A corrupt IHDR (its CRC no longer matches).
  std::string bad = b;
  bad[24] = 99;  // bit depth
  auto t = DecodeString(bad, "crc.png");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("crc.png: bad PNG"), std::string::npos);
  auto none = DecodeString("GIF89a....", "x.gif");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("x.gif: not a PNG or binary PGM/PPM"),
            std::string::npos);
}

TEST(Image, BinaryPgmAndPpm) {
  auto g = DecodeString(std::string("P5\n# made by hand\n3 2\n255\n") +
                            std::string("\x00\x10\x20\x30\x40\xff", 6),
                        "a.pgm");
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(g->width, 3);
  EXPECT_EQ(g->height, 2);
  EXPECT_EQ(g->channels, 1);
  EXPECT_EQ(g->data, (Bytes{0, 0x10, 0x20, 0x30, 0x40, 0xff}));
  auto c = DecodeString(
      "P6 2 1 255\n" + std::string("\x01\x02\x03\x04\x05\x06"), "a.ppm");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->channels, 3);
  EXPECT_EQ(c->data, (Bytes{1, 2, 3, 4, 5, 6}));
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"P5\n3 2\n255\n\x01\x02", "PNM data cut short"},
      {"P5\n3 2\n65535\n", "only maxval 255"},
      {"P5\n99999 99999\n255\n", "more than the limit"},
      {"P5\n1234567890 1\n255\n", "more than 9 digits"},
      {"P5\n0 4\n255\n", "0 x 4 pixels"},
      {"P5\n3 x\n255\n", "bad PNM header"},
      {"P5\n3 2", "PNM header cut short"},
      {"P3\n1 1\n255\n0 0 0\n", "only binary PGM/PPM"},
  };
  for (const auto& [bytes, phrase] : bad) {
    auto r = DecodeString(bytes, "bad.pgm");
    ASSERT_FALSE(r.ok()) << bytes;
    EXPECT_NE(r.status().message().find("bad.pgm: "), std::string::npos)
        << r.status().message();
    EXPECT_NE(r.status().message().find(phrase), std::string::npos)
        << r.status().message();
  }
}

TEST(Image, ReadImageNamesAMissingFile) {
  const std::string dir = ::testing::TempDir() + "/lowbit_image_test";
  std::filesystem::create_directories(dir);
  PngSpec s = Spec(2, 2, PNG_COLOR_TYPE_GRAY, 8, {1, 2, 3, 4});
  std::string b;
  ASSERT_TRUE(EncodePng(s, &b));
  std::ofstream(dir + "/x.png", std::ios::binary) << b;
  auto ok = ReadImage(dir + "/x.png");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->data, s.raw);
  auto missing = ReadImage(dir + "/nothing.png");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("nothing.png"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace lowbit
