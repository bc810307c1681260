// The ggml-written golden file of ../shared/testdata/ggml/ (see its README),
// read once for the decoder and encoder tests.
#pragma once

#include <fstream>
#include <iterator>
#include <string>

namespace lowbit::testing_golden {

inline std::string GoldenPath() {
  return std::string(LOWBIT_SHARED_DIR) + "/testdata/ggml/golden.gguf";
}

// The whole golden file; empty when it cannot be read (the shared folder is
// absent).
inline const std::string& GoldenBytes() {
  static const std::string* bytes = [] {
    std::ifstream f(GoldenPath(), std::ios::binary);
    auto* s = new std::string;
    if (f)
      s->assign(std::istreambuf_iterator<char>(f),
                std::istreambuf_iterator<char>());
    return s;
  }();
  return *bytes;
}

}  // namespace lowbit::testing_golden
