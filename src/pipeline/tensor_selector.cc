#include "pipeline/tensor_selector.h"

#include <algorithm>

namespace lowbit {
namespace {

Result<std::regex> Compile(const std::string& option, const std::string& re) {
  try {
    return std::regex(re);
  } catch (const std::regex_error&) {
    return InvalidArgument(option + " " + re + ": bad regular expression");
  }
}

}  // namespace

Result<TensorSelector> TensorSelector::Create(
    const std::string& scheme, const std::vector<std::string>& include,
    const std::vector<std::string>& exclude,
    const std::vector<std::string>& rules, int64_t min_elements) {
  TensorSelector s;
  s.scheme_ = scheme;
  s.min_elements_ = min_elements;
  for (const auto& r : include) {
    LB_ASSIGN_OR_RETURN(std::regex re, Compile("--include", r));
    s.include_.push_back(std::move(re));
  }
  for (const auto& r : exclude) {
    LB_ASSIGN_OR_RETURN(std::regex re, Compile("--exclude", r));
    s.exclude_.push_back(std::move(re));
  }
  for (const auto& rule : rules) {
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

}  // namespace lowbit
