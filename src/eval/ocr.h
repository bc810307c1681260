// Text-line recognition (OCR) accuracy, PaddleOCR's PP-OCR rec way and bit for
// bit the way tools/ort/ocr_rec_eval.js computes it: the preprocessing of a
// line image, greedy CTC decoding, and character / line accuracy from edit
// distances in Unicode code points. Pure functions; the model runs in
// pipeline/eval_ocr.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "graph/tensor.h"
#include "io/image.h"

namespace lowbit {

// PP-OCR rec input height.
inline constexpr int64_t kOcrLineHeight = 48;

// PaddleOCR's resize_norm_img: channels in B, G, R order (gray feeds all
// three), bilinear resize (half-pixel centres, edges clamped, like
// cv2.INTER_LINEAR) to height 48 and width max(1, ceil(48 * w / h)),
// (x / 255 - 0.5) / 0.5, right-padded with zeros to `pad_width` (a wider line
// keeps its width; 0: no padding). Arithmetic in double, rounded to float
// once, as the JS does. Returns f32 [1, 3, 48, W].
graph::Tensor PreprocessOcrLine(const Image& img, int64_t pad_width);

// The width PreprocessOcrLine resizes `img` to (before padding).
int64_t OcrResizedWidth(const Image& img);

// Greedy CTC over probabilities (or logits) [T, C] row-major: the argmax of
// each step (the first on ties), repeats collapsed, the blank (class 0)
// dropped. Returns the class indices kept.
std::vector<int64_t> CtcGreedy(const float* probs, int64_t steps,
                               int64_t classes);

// The characters of a recognizer's classes: index 0 the blank (""), 1..N the
// dictionary's lines and, when the model has N + 2 classes, a last " ".
struct OcrCharset {
  std::vector<std::string> chars;  // by class index
  bool space_class = false;
  int64_t dictionary_lines = 0;
};

// Reads a dictionary (one character per line, UTF-8, "\n" or "\r\n"; a last
// empty line dropped) for a model of `classes` classes: N + 1 (blank +
// dictionary) or N + 2 (and a space). InvalidArgument naming the file when
// the counts do not match, BadInput when the file is not UTF-8.
Result<OcrCharset> ReadOcrCharset(const std::string& path, int64_t classes);

// The text of decoded classes (UTF-8).
std::string CtcText(const std::vector<int64_t>& ids, const OcrCharset& cs);

// One line of a labels file: an image file name and its text.
struct OcrLabel {
  std::string file, text;
  int64_t line = 0;  // 1-based line number in the labels file
};

// Reads `file<TAB>text` lines (UTF-8; "\r\n" accepted; empty lines skipped; a
// leading byte-order mark dropped). BadInput naming FILE:LINE for a line
// without a TAB or not UTF-8, or a file without lines.
Result<std::vector<OcrLabel>> ReadOcrLabels(const std::string& path);

// UTF-8 to code points; false when `s` is not valid UTF-8.
bool Utf8ToCodePoints(const std::string& s, std::u32string* out);
// Code points to UTF-8.
std::string CodePointsToUtf8(const std::u32string& s);

// Levenshtein distance (insert, delete, substitute cost 1) of code points.
int64_t EditDistance(const std::u32string& a, const std::u32string& b);

// JavaScript's String.prototype.trim: leading and trailing white space and
// line terminators (U+0009..000D, U+0020, U+00A0, U+1680, U+2000..200A,
// U+2028, U+2029, U+202F, U+205F, U+3000, U+FEFF) removed.
std::u32string TrimJs(const std::u32string& s);

// The accuracy figures over lines: Add(label, prediction) with both already
// trimmed.
struct OcrScore {
  int64_t lines = 0, exact_lines = 0;
  int64_t label_chars = 0, char_edits = 0;
  int64_t label_chars_nospace = 0, char_edits_nospace = 0;

  // Adds one line; returns its edit distance.
  int64_t Add(const std::u32string& label, const std::u32string& pred);
  // 1 - edits / label characters (a line set without characters: 1 when
  // nothing was predicted, else 0).
  double char_accuracy() const;
  // The same with every U+0020 removed from both (PaddleOCR's RecMetric
  // default, ignore_space=True).
  double char_accuracy_nospace() const;
  double line_accuracy() const;  // exactly matching lines / lines
};

}  // namespace lowbit
