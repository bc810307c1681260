// OCR accuracy: line preprocessing, CTC decoding, edit distance (ocr.h).
#include "eval/ocr.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string_view>

#include "core/mapped_file.h"

namespace lowbit {
namespace {

// The lines of a text file: split at "\n", a "\r" before it dropped.
// `*lines` keeps the last line even when empty; callers decide.
Status ReadLines(const std::string& path, std::vector<std::string>* lines) {
  LB_ASSIGN_OR_RETURN(auto f, MappedFile::Open(path));
  const char* p = reinterpret_cast<const char*>(f->data());
  const size_t n = f->size();
  size_t start = 0;
  if (n >= 3 && std::string_view(p, 3) == "\xEF\xBB\xBF") start = 3;
  lines->clear();
  while (true) {
    const char* nl = static_cast<const char*>(
        start < n ? std::memchr(p + start, '\n', n - start) : nullptr);
    const size_t end = nl != nullptr ? static_cast<size_t>(nl - p) : n;
    size_t len = end - start;
    if (nl != nullptr && len > 0 && p[end - 1] == '\r') --len;
    lines->emplace_back(p + start, len);
    if (nl == nullptr) break;
    start = end + 1;
  }
  return Status::Ok();
}

bool IsJsSpace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

std::u32string NoSpace(const std::u32string& s) {
  std::u32string r;
  for (char32_t c : s) {
    if (c != U' ') r.push_back(c);
  }
  return r;
}

}  // namespace

int64_t OcrResizedWidth(const Image& img) {
  const double w = std::ceil(static_cast<double>(kOcrLineHeight) *
                             static_cast<double>(img.width) /
                             static_cast<double>(img.height));
  return std::max<int64_t>(1, static_cast<int64_t>(w));
}

graph::Tensor PreprocessOcrLine(const Image& img, int64_t pad_width) {
  const int64_t rw = OcrResizedWidth(img), rh = kOcrLineHeight;
  const int64_t W = std::max(rw, pad_width);
  graph::Tensor t = graph::Tensor::Zeros(DType::kF32, {1, 3, rh, W});
  float* out = t.data<float>();
  const double sx = static_cast<double>(img.width) / static_cast<double>(rw);
  const double sy = static_cast<double>(img.height) / static_cast<double>(rh);
  const int64_t c = img.channels;
  // Source columns and weights per output column, as the JS computes them.
  std::vector<int64_t> x0s(rw), x1s(rw);
  std::vector<double> wxs(rw);
  for (int64_t x = 0; x < rw; ++x) {
    double fx = (static_cast<double>(x) + 0.5) * sx - 0.5;
    if (fx < 0) fx = 0;
    int64_t x0 = static_cast<int64_t>(std::floor(fx));
    if (x0 > img.width - 1) x0 = img.width - 1;
    x0s[x] = x0;
    x1s[x] = std::min(x0 + 1, img.width - 1);
    wxs[x] = std::min(fx - static_cast<double>(x0), 1.0);
  }
  const uint8_t* src = img.data.data();
  for (int64_t k = 0; k < 3; ++k) {
    // Plane k is B, G, R (cv2's order); gray feeds all three.
    const int64_t ch = c == 1 ? 0 : 2 - k;
    float* plane = out + k * rh * W;
    for (int64_t y = 0; y < rh; ++y) {
      double fy = (static_cast<double>(y) + 0.5) * sy - 0.5;
      if (fy < 0) fy = 0;
      int64_t y0 = static_cast<int64_t>(std::floor(fy));
      if (y0 > img.height - 1) y0 = img.height - 1;
      const int64_t y1 = std::min(y0 + 1, img.height - 1);
      const double wy = std::min(fy - static_cast<double>(y0), 1.0);
      const uint8_t* r0 = src + y0 * img.width * c + ch;
      const uint8_t* r1 = src + y1 * img.width * c + ch;
      for (int64_t x = 0; x < rw; ++x) {
        const double wx = wxs[x];
        const int64_t a = x0s[x] * c, b = x1s[x] * c;
        const double top = r0[a] * (1 - wx) + r0[b] * wx;
        const double bot = r1[a] * (1 - wx) + r1[b] * wx;
        const double v = top * (1 - wy) + bot * wy;
        plane[y * W + x] = static_cast<float>((v / 255 - 0.5) / 0.5);
      }
    }
  }
  return t;
}

std::vector<int64_t> CtcGreedy(const float* probs, int64_t steps,
                               int64_t classes) {
  std::vector<int64_t> ids;
  int64_t prev = -1;
  for (int64_t t = 0; t < steps; ++t) {
    const float* row = probs + t * classes;
    int64_t best = 0;
    float bv = -INFINITY;
    for (int64_t k = 0; k < classes; ++k) {
      if (row[k] > bv) {
        bv = row[k];
        best = k;
      }
    }
    if (best != 0 && best != prev) ids.push_back(best);
    prev = best;
  }
  return ids;
}

Result<OcrCharset> ReadOcrCharset(const std::string& path, int64_t classes) {
  std::vector<std::string> lines;
  LB_RETURN_IF_ERROR(ReadLines(path, &lines));
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  std::u32string cps;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (!Utf8ToCodePoints(lines[i], &cps)) {
      return BadInput(path + ":" + std::to_string(i + 1) + ": not UTF-8");
    }
  }
  OcrCharset cs;
  cs.dictionary_lines = static_cast<int64_t>(lines.size());
  const int64_t n = cs.dictionary_lines;
  if (classes != n + 1 && classes != n + 2) {
    return InvalidArgument(
        path + ": " + std::to_string(n) +
        " characters do not fit the model's " + std::to_string(classes) +
        " classes (expected " + std::to_string(n + 1) + " or " +
        std::to_string(n + 2) +
        "): is this the dictionary the recognizer was trained with?");
  }
  cs.space_class = classes == n + 2;
  cs.chars.reserve(static_cast<size_t>(classes));
  cs.chars.emplace_back();
  for (std::string& s : lines) cs.chars.push_back(std::move(s));
  if (cs.space_class) cs.chars.emplace_back(" ");
  return cs;
}

std::string CtcText(const std::vector<int64_t>& ids, const OcrCharset& cs) {
  std::string s;
  for (int64_t id : ids) {
    if (id >= 0 && id < static_cast<int64_t>(cs.chars.size())) {
      s += cs.chars[static_cast<size_t>(id)];
    }
  }
  return s;
}

Result<std::vector<OcrLabel>> ReadOcrLabels(const std::string& path) {
  std::vector<std::string> lines;
  LB_RETURN_IF_ERROR(ReadLines(path, &lines));
  std::vector<OcrLabel> labels;
  std::u32string cps;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    if (l.empty()) continue;
    const std::string where = path + ":" + std::to_string(i + 1);
    const size_t tab = l.find('\t');
    if (tab == std::string::npos) {
      return BadInput(where + ": expected file<TAB>text, found no TAB");
    }
    if (tab == 0) return BadInput(where + ": empty file name before the TAB");
    if (!Utf8ToCodePoints(l, &cps)) return BadInput(where + ": not UTF-8");
    labels.push_back(
        {l.substr(0, tab), l.substr(tab + 1), static_cast<int64_t>(i + 1)});
  }
  if (labels.empty()) return BadInput(path + ": no file<TAB>text lines");
  return labels;
}

bool Utf8ToCodePoints(const std::string& s, std::u32string* out) {
  out->clear();
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    const unsigned char b = p[i];
    int len;
    char32_t c;
    if (b < 0x80) {
      len = 1;
      c = b;
    } else if (b >= 0xC2 && b <= 0xDF) {
      len = 2;
      c = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
      len = 3;
      c = b & 0x0F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      len = 4;
      c = b & 0x07;
    } else {
      return false;
    }
    if (n - i < static_cast<size_t>(len)) return false;
    for (int k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      c = (c << 6) | (p[i + k] & 0x3F);
    }
    const bool overlong = (len == 3 && c < 0x800) || (len == 4 && c < 0x10000);
    if (overlong || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return false;
    out->push_back(c);
    i += static_cast<size_t>(len);
  }
  return true;
}

std::string CodePointsToUtf8(const std::u32string& s) {
  std::string r;
  for (char32_t c : s) {
    if (c < 0x80) {
      r += static_cast<char>(c);
    } else if (c < 0x800) {
      r += static_cast<char>(0xC0 | (c >> 6));
      r += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      r += static_cast<char>(0xE0 | (c >> 12));
      r += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      r += static_cast<char>(0x80 | (c & 0x3F));
    } else {
      r += static_cast<char>(0xF0 | (c >> 18));
      r += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
      r += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      r += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return r;
}

int64_t EditDistance(const std::u32string& a, const std::u32string& b) {
  std::vector<int64_t> row(b.size() + 1), next(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = static_cast<int64_t>(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    next[0] = static_cast<int64_t>(i);
    for (size_t j = 1; j <= b.size(); ++j) {
      next[j] = std::min({row[j] + 1, next[j - 1] + 1,
                          row[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(row, next);
  }
  return row[b.size()];
}

std::u32string TrimJs(const std::u32string& s) {
  size_t b = 0, e = s.size();
  while (b < e && IsJsSpace(s[b])) ++b;
  while (e > b && IsJsSpace(s[e - 1])) --e;
  return s.substr(b, e - b);
}

int64_t OcrScore::Add(const std::u32string& label, const std::u32string& pred) {
  const int64_t d = EditDistance(label, pred);
  ++lines;
  if (d == 0) ++exact_lines;
  label_chars += static_cast<int64_t>(label.size());
  char_edits += d;
  const std::u32string l0 = NoSpace(label);
  label_chars_nospace += static_cast<int64_t>(l0.size());
  char_edits_nospace += EditDistance(l0, NoSpace(pred));
  return d;
}

namespace {
double Accuracy(int64_t edits, int64_t chars) {
  if (chars == 0) return edits == 0 ? 1.0 : 0.0;
  return 1.0 - static_cast<double>(edits) / static_cast<double>(chars);
}
}  // namespace

double OcrScore::char_accuracy() const {
  return Accuracy(char_edits, label_chars);
}
double OcrScore::char_accuracy_nospace() const {
  return Accuracy(char_edits_nospace, label_chars_nospace);
}
double OcrScore::line_accuracy() const {
  return lines == 0
             ? 0.0
             : static_cast<double>(exact_lines) / static_cast<double>(lines);
}

}  // namespace lowbit
