// Which tensors of a model `QuantizeModel` quantizes and with which scheme
// name each: --include / --exclude / --min-elements and the --rule list.
#pragma once

#include <cstdint>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "io/model.h"

namespace lowbit {

class TensorSelector {
 public:
  // `rules` are REGEX=SCHEME texts; InvalidArgument naming the option for a
  // bad regular expression or rule.
  static Result<TensorSelector> Create(const std::string& scheme,
                                       const std::vector<std::string>& include,
                                       const std::vector<std::string>& exclude,
                                       const std::vector<std::string>& rules,
                                       int64_t min_elements);
  // Float tensors of 2 or more dimensions with at least min_elements values,
  // matching an include regex (if any) and no exclude regex.
  bool Selected(const ModelTensor& t) const;
  // The scheme of the first rule whose regex matches the name, else the
  // default scheme.
  const std::string& SchemeFor(const std::string& name) const;
  // The default scheme and the scheme of every rule, each with the option
  // that named it ("--scheme int4", "--rule output=q6_k").
  std::vector<std::pair<std::string, std::string>> AllSchemes() const;

 private:
  std::vector<std::regex> include_, exclude_;
  std::vector<std::pair<std::regex, std::string>> rules_;
  std::vector<std::string> rule_texts_;
  std::string scheme_;
  int64_t min_elements_ = 0;
};

}  // namespace lowbit
