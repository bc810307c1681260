// eval/ocr.h: CTC decoding, edit distance, trimming, scoring, the line
// preprocessing against hand computations, and the labels and dictionary
// readers' refusals.
#include "eval/ocr.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace lowbit {
namespace {

std::u32string U(const std::string& s) {
  std::u32string r;
  EXPECT_TRUE(Utf8ToCodePoints(s, &r)) << s;
  return r;
}

// One-hot rows [T, C] from the argmax of each step.
std::vector<float> OneHot(const std::vector<int>& best, int classes) {
  std::vector<float> p(best.size() * classes, 0.01f);
  for (size_t t = 0; t < best.size(); ++t) p[t * classes + best[t]] = 0.9f;
  return p;
}

TEST(Ocr, CtcGreedyCollapsesRepeatsAndDropsBlanks) {
  const auto p = OneHot({0, 1, 1, 0, 1, 2, 2, 2, 0, 0, 3, 1}, 4);
  EXPECT_EQ(CtcGreedy(p.data(), 12, 4), (std::vector<int64_t>{1, 1, 2, 3, 1}));
  // Ties go to the first class; a run of blanks only is empty.
  std::vector<float> tie = {0.5f, 0.5f, 0.1f, 0.2f, 0.7f, 0.7f};
  EXPECT_EQ(CtcGreedy(tie.data(), 2, 3), (std::vector<int64_t>{1}));
  const auto blanks = OneHot({0, 0, 0}, 3);
  EXPECT_TRUE(CtcGreedy(blanks.data(), 3, 3).empty());
}

class OcrFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    // One folder per test and process: ctest runs the tests of this
    // fixture at once, and a shared folder was removed under another test.
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("lowbit_ocr_test_" + std::string(info->name()) + "_" +
            std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
  std::filesystem::path dir_;
};

TEST_F(OcrFiles, CharsetWithAndWithoutTheSpaceClass) {
  const std::string dict = Write("keys.txt", "a\r\nb\n\xE5\xAD\x97\n");
  auto space = ReadOcrCharset(dict, 5);  // blank + 3 + space
  ASSERT_TRUE(space.ok()) << space.status().message();
  EXPECT_TRUE(space->space_class);
  EXPECT_EQ(space->chars,
            (std::vector<std::string>{"", "a", "b", "\xE5\xAD\x97", " "}));
  const auto p = OneHot({1, 0, 4, 4, 3, 3, 0, 2, 0, 2}, 5);
  EXPECT_EQ(CtcText(CtcGreedy(p.data(), 10, 5), *space),
            "a \xE5\xAD\x97"
            "bb");
  auto plain = ReadOcrCharset(dict, 4);
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->space_class);
  EXPECT_EQ(plain->chars.size(), 4u);
  auto wrong = ReadOcrCharset(dict, 6625);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find(
                "keys.txt: 3 characters do not fit the model's 6625 classes"),
            std::string::npos)
      << wrong.status().message();
  auto bad = ReadOcrCharset(Write("bad.txt", "a\n\xFF\n"), 4);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("bad.txt:2: not UTF-8"),
            std::string::npos);
}

TEST_F(OcrFiles, LabelsNeedATab) {
  auto ok = ReadOcrLabels(Write("ok.tsv",
                                "\xEF\xBB\xBF"
                                "001.png\tHello World\r\n\n002.png\t a\tb \n"));
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  ASSERT_EQ(ok->size(), 2u);
  EXPECT_EQ((*ok)[0].file, "001.png");
  EXPECT_EQ((*ok)[0].text, "Hello World");
  EXPECT_EQ((*ok)[1].text, " a\tb ");
  EXPECT_EQ((*ok)[1].line, 3);
  auto no_tab = ReadOcrLabels(Write("l.tsv", "001.png\tx\n002.png x\n"));
  ASSERT_FALSE(no_tab.ok());
  EXPECT_NE(no_tab.status().message().find("l.tsv:2: expected file<TAB>text"),
            std::string::npos)
      << no_tab.status().message();
  auto empty = ReadOcrLabels(Write("e.tsv", "\n\n"));
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("e.tsv: no file<TAB>text lines"),
            std::string::npos);
  auto missing = ReadOcrLabels((dir_ / "none.tsv").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("none.tsv"), std::string::npos);
}

TEST(Ocr, EditDistanceInCodePoints) {
  EXPECT_EQ(EditDistance(U(""), U("")), 0);
  EXPECT_EQ(EditDistance(U("abc"), U("")), 3);
  EXPECT_EQ(EditDistance(U(""), U("ab")), 2);
  EXPECT_EQ(EditDistance(U("kitten"), U("sitting")), 3);
  EXPECT_EQ(EditDistance(U("flaw"), U("lawn")), 2);
  // One code point each, whatever their UTF-8 length.
  EXPECT_EQ(EditDistance(U("\xE4\xBD\xA0\xE5\xA5\xBD"), U("\xE4\xBD\xA0")), 1);
  EXPECT_EQ(EditDistance(U("\xF0\x9F\x98\x80x"), U("yx")), 1);
  std::u32string bad;
  EXPECT_FALSE(Utf8ToCodePoints("\xC0\x80", &bad));      // overlong
  EXPECT_FALSE(Utf8ToCodePoints("\xED\xA0\x80", &bad));  // surrogate
  EXPECT_FALSE(Utf8ToCodePoints("\xE4\xBD", &bad));      // cut short
  EXPECT_EQ(CodePointsToUtf8(U("a\xC3\xA9\xE4\xBD\xA0\xF0\x9F\x98\x80")),
            "a\xC3\xA9\xE4\xBD\xA0\xF0\x9F\x98\x80");
}

TEST(Ocr, TrimLikeJavaScript) {
  EXPECT_EQ(TrimJs(U("  a b \t\r\n")), U("a b"));
  EXPECT_EQ(TrimJs(U("\xE3\x80\x80x\xC2\xA0")), U("x"));  // U+3000, U+00A0
  EXPECT_EQ(TrimJs(U("   ")), U(""));
}

TEST(Ocr, ScoreCountsCharactersLinesAndSpaces) {
  OcrScore s;
  EXPECT_EQ(s.Add(U("Hello World"), U("Hello World")), 0);
  EXPECT_EQ(s.Add(U("ab cd"), U("abcd")), 1);  // only a space missing
  EXPECT_EQ(s.Add(U("xyz"), U("xz")), 1);
  EXPECT_EQ(s.lines, 3);
  EXPECT_EQ(s.exact_lines, 1);
  EXPECT_EQ(s.label_chars, 11 + 5 + 3);
  EXPECT_EQ(s.char_edits, 2);
  EXPECT_DOUBLE_EQ(s.char_accuracy(), 1.0 - 2.0 / 19.0);
  EXPECT_DOUBLE_EQ(s.char_accuracy_nospace(), 1.0 - 1.0 / 17.0);
  EXPECT_DOUBLE_EQ(s.line_accuracy(), 1.0 / 3.0);
}

float Norm(double v) { return static_cast<float>((v / 255 - 0.5) / 0.5); }

TEST(Ocr, PreprocessWithoutResizeIsTheNormalizedPixels) {
  // Height 48: no resize; RGB goes to B, G, R planes; padding is zero.
  Image img{3, 48, 3, {}};
  for (int y = 0; y < 48; ++y) {
    for (int x = 0; x < 3; ++x) {
      img.data.insert(img.data.end(), {static_cast<uint8_t>(10 + x),
                                       static_cast<uint8_t>(100 + y),
                                       static_cast<uint8_t>(200 + x)});
    }
  }
  EXPECT_EQ(OcrResizedWidth(img), 3);
  const graph::Tensor t = PreprocessOcrLine(img, 5);
  ASSERT_EQ(t.shape(), (Shape{1, 3, 48, 5}));
  const float* p = t.data<float>();
  auto at = [&](int c, int y, int x) { return p[(c * 48 + y) * 5 + x]; };
  EXPECT_EQ(at(0, 7, 2), Norm(202));  // B
  EXPECT_EQ(at(1, 7, 2), Norm(107));  // G
  EXPECT_EQ(at(2, 7, 1), Norm(11));   // R
  EXPECT_EQ(at(0, 0, 0), Norm(200));
  EXPECT_EQ(at(1, 47, 3), 0.0f);  // padding
  EXPECT_EQ(at(2, 0, 4), 0.0f);
  // Wider than the padding: keeps its width.
  EXPECT_EQ(PreprocessOcrLine(img, 2).shape(), (Shape{1, 3, 48, 3}));
}

TEST(Ocr, PreprocessBilinearByHand) {
  // 2 x 24 gray, p(x, y) = 100 x + y: resized to 4 x 48 (scale 0.5 both
  // ways). Output (x=1, y=1): source (0.25, 0.25) from (-0.25 -> 0 clamped
  // at x=0, y=0): top = 0 * 0.75 + 100 * 0.25 = 25, bottom = 1 * 0.75 +
  // 101 * 0.25 = 26, v = 25 * 0.75 + 26 * 0.25 = 25.25.
  Image img{2, 24, 1, {}};
  for (int y = 0; y < 24; ++y) {
    img.data.push_back(static_cast<uint8_t>(y));
    img.data.push_back(static_cast<uint8_t>(100 + y));
  }
  EXPECT_EQ(OcrResizedWidth(img), 4);
  const graph::Tensor t = PreprocessOcrLine(img, 0);
  ASSERT_EQ(t.shape(), (Shape{1, 3, 48, 4}));
  const float* p = t.data<float>();
  auto at = [&](int c, int y, int x) { return p[(c * 48 + y) * 4 + x]; };
  EXPECT_EQ(at(0, 1, 1), Norm(25.25));
  EXPECT_EQ(at(0, 0, 0), Norm(0));      // clamped to the corner
  EXPECT_EQ(at(1, 0, 3), Norm(100));    // x = 1.25 -> the last column
  EXPECT_EQ(at(2, 47, 3), Norm(123));   // y = 23.25 -> the last row
  EXPECT_EQ(at(0, 2, 2), Norm(75.75));  // x 0.75, y 0.75: 75 + 0.75
  // Gray feeds all three planes.
  EXPECT_EQ(at(0, 5, 2), at(2, 5, 2));
  // Width: ceil(48 * w / h), at least 1.
  EXPECT_EQ(OcrResizedWidth(Image{1, 1000, 1, {}}), 1);
  EXPECT_EQ(OcrResizedWidth(Image{100, 54, 1, {}}), 89);  // 88.9 up
}

}  // namespace
}  // namespace lowbit
