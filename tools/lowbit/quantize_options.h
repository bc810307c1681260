// The options of `lowbit quantize` and what both pipelines (safetensors, GGUF)
// share: which tensors are selected, which scheme each gets (--rule), and
// importance vectors.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "io/model.h"
#include "io/safetensors.h"
#include "quant/config.h"

namespace lowbit::cli {

struct QuantizeOptions {
  std::string model, out, scheme, method = "mse", report, scale_dtype = "auto";
  bool per_tensor = false, per_channel = false, symmetric = false,
       asymmetric = false;
  int64_t group_size = 0;
  std::vector<std::string> include, exclude, rules;
  std::string importance;
  int64_t min_elements = 0;
  int threads = 0;
  bool json = false, quiet = false;
  uint64_t seed = 0x10b17;
  std::string onnx_format = "auto";
  bool gather = false;
  bool external_data = false;
};

// Decides per tensor whether it is quantized and with which scheme name.
class TensorSelector {
 public:
  static Result<TensorSelector> Create(const QuantizeOptions& o);
  // Float tensors of 2 or more dimensions with at least --min-elements values,
  // matching
  // --include (if any) and no --exclude.
  bool Selected(const ModelTensor& t) const;
  // The scheme of the first --rule whose regex matches the name, else --scheme.
  const std::string& SchemeFor(const std::string& name) const;
  // --scheme and the scheme of every --rule, each with the option that named
  // it.
  std::vector<std::pair<std::string, std::string>> AllSchemes() const;

 private:
  std::vector<std::regex> include_, exclude_;
  std::vector<std::pair<std::regex, std::string>> rules_;
  std::vector<std::string> rule_texts_;
  std::string scheme_;
  int64_t min_elements_ = 0;
};

// Per-tensor importance vectors (one f32 value per input column) from a
// safetensors file.
class ImportanceFile {
 public:
  static Result<std::unique_ptr<ImportanceFile>> Open(const std::string& path);
  // The vector for `name`, checked to hold `cols` finite non-negative values;
  // an empty span when the file has no vector for this tensor.
  Result<std::vector<float>> For(const std::string& name, int64_t cols) const;

 private:
  std::unique_ptr<SafetensorsFile> file_;
};

Status QuantizeGguf(const QuantizeOptions& o, const TensorSelector& sel,
                    const ImportanceFile* importance);
Status QuantizeOnnx(const QuantizeOptions& o, const TensorSelector& sel,
                    const ImportanceFile* importance);

// The configuration of a lowbit scheme under the command's options (checked).
Result<QuantConfig> ConfigFor(const QuantizeOptions& o,
                              const std::string& name);

}  // namespace lowbit::cli
