// Tensor selection, --rule and --importance of `lowbit quantize`.
#include "tools/lowbit/quantize_options.h"

#include <algorithm>
#include <cmath>

namespace lowbit::cli {
namespace {

Result<std::regex> Compile(const std::string& option, const std::string& re) {
  try {
    return std::regex(re);
  } catch (const std::regex_error&) {
    return InvalidArgument(option + " " + re + ": bad regular expression");
  }
}

}  // namespace

Result<TensorSelector> TensorSelector::Create(const QuantizeOptions& o) {
  TensorSelector s;
  s.scheme_ = o.scheme;
  s.min_elements_ = o.min_elements;
  for (const auto& r : o.include) {
    LB_ASSIGN_OR_RETURN(std::regex re, Compile("--include", r));
    s.include_.push_back(std::move(re));
  }
  for (const auto& r : o.exclude) {
    LB_ASSIGN_OR_RETURN(std::regex re, Compile("--exclude", r));
    s.exclude_.push_back(std::move(re));
  }
  for (const auto& rule : o.rules) {
    const size_t eq = rule.rfind('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == rule.size()) {
      return InvalidArgument("--rule " + rule + ": expected REGEX=SCHEME");
    }
    LB_ASSIGN_OR_RETURN(std::regex re, Compile("--rule", rule.substr(0, eq)));
    s.rules_.emplace_back(std::move(re), rule.substr(eq + 1));
    s.rule_texts_.push_back(rule);
  }
  return s;
}

bool TensorSelector::Selected(const ModelTensor& t) const {
  if (t.quantized() || !IsFloatWeight(t.dtype) || t.shape.size() < 2)
    return false;
  const int64_t n = NumElements(t.shape);
  if (n == 0 || n < min_elements_) return false;
  auto match = [&](const std::regex& r) {
    return std::regex_search(t.name, r);
  };
  if (!include_.empty() &&
      std::none_of(include_.begin(), include_.end(), match)) {
    return false;
  }
  return std::none_of(exclude_.begin(), exclude_.end(), match);
}

const std::string& TensorSelector::SchemeFor(const std::string& name) const {
  for (const auto& [re, scheme] : rules_) {
    if (std::regex_search(name, re)) return scheme;
  }
  return scheme_;
}

std::vector<std::pair<std::string, std::string>> TensorSelector::AllSchemes()
    const {
  std::vector<std::pair<std::string, std::string>> v = {
      {"--scheme " + scheme_, scheme_}};
  for (size_t i = 0; i < rules_.size(); ++i) {
    v.emplace_back("--rule " + rule_texts_[i], rules_[i].second);
  }
  return v;
}

Result<std::unique_ptr<ImportanceFile>> ImportanceFile::Open(
    const std::string& path) {
  auto f = std::make_unique<ImportanceFile>();
  LB_ASSIGN_OR_RETURN(f->file_, SafetensorsFile::Open(path));
  return f;
}

Result<std::vector<float>> ImportanceFile::For(const std::string& name,
                                               int64_t cols) const {
  const SafetensorsEntry* e = file_->Find(name);
  if (e == nullptr) return std::vector<float>();
  const std::string where = file_->path() + ": importance '" + name + "'";
  if (e->dtype != DType::kF32 || NumElements(e->shape) != cols) {
    return BadInput(where + " must be " + std::to_string(cols) +
                    " f32 values (one per " + "input column), not " +
                    std::string(DTypeName(e->dtype)) + " " +
                    ShapeString(e->shape));
  }
  std::vector<float> v(static_cast<size_t>(cols));
  ToFloat(DType::kF32, e->data, cols, v.data());
  for (float x : v) {
    if (!std::isfinite(x) || x < 0)
      return BadInput(where + " holds a negative or non-finite value");
  }
  return v;
}

}  // namespace lowbit::cli
