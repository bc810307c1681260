#include "pipeline/decisions.h"

#include <algorithm>

#include "pipeline/eval_ocr.h"

namespace lowbit {
namespace {

// The greedy CTC reading of one sample's argmaxes.
std::u32string CtcRead(const std::vector<int64_t>& am, const OcrCharset* cs) {
  std::vector<int64_t> ids;
  int64_t prev = -1;
  for (int64_t k : am) {
    if (k != 0 && k != prev) ids.push_back(k);
    prev = k;
  }
  std::u32string s;
  if (cs == nullptr) {
    for (int64_t k : ids) s.push_back(static_cast<char32_t>(k));
    return s;
  }
  Utf8ToCodePoints(CtcText(ids, *cs), &s);
  return TrimJs(s);
}

}  // namespace

Result<std::vector<int64_t>> RowArgmax(const graph::Tensor& t) {
  if (t.dtype() != DType::kF32 || t.shape().empty() || t.shape().back() < 1) {
    return InvalidArgument(
        "the first output is not a float tensor with a last axis to take the "
        "argmax over");
  }
  const int64_t c = t.shape().back(), rows = t.numel() / c;
  std::vector<int64_t> am(static_cast<size_t>(rows));
  const float* p = t.data<float>();
  for (int64_t r = 0; r < rows; ++r) {
    am[r] = std::max_element(p + r * c, p + (r + 1) * c) - (p + r * c);
  }
  return am;
}

std::optional<OcrCharset> RecognizerCharset(const std::string& model,
                                            int64_t classes) {
  const std::string dict = DefaultOcrCharset(model);
  if (dict.empty()) return std::nullopt;
  auto cs = ReadOcrCharset(dict, classes);
  if (!cs.ok()) return std::nullopt;
  return std::move(cs).value();
}

int64_t DecisionErrors(const std::vector<int64_t>& a,
                       const std::vector<int64_t>& b, bool ctc,
                       const OcrCharset* cs) {
  if (ctc) return EditDistance(CtcRead(a, cs), CtcRead(b, cs));
  const size_t n = std::min(a.size(), b.size());
  int64_t e = 0;
  for (size_t r = 0; r < n; ++r) e += a[r] != b[r];
  return e + static_cast<int64_t>(std::max(a.size(), b.size()) - n);
}

}  // namespace lowbit
