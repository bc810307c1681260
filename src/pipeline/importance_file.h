// Per-tensor importance vectors (one f32 weight per input column) from a
// safetensors file: `quantize --importance`, which every encoder uses to
// minimise a weighted error.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "io/safetensors.h"

namespace lowbit {

class ImportanceFile {
 public:
  static Result<std::unique_ptr<ImportanceFile>> Open(const std::string& path);
  // The vector for `name`, checked to hold `cols` finite non-negative values
  // (else BadInput naming the file and tensor); empty when the file has no
  // vector for this tensor.
  Result<std::vector<float>> For(const std::string& name, int64_t cols) const;

 private:
  std::unique_ptr<SafetensorsFile> file_;
};

}  // namespace lowbit
