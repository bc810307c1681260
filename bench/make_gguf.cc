// Writes a large f32 GGUF of N(0,1) weights, streamed, for memory and speed
// measurements. Usage: make_gguf OUT [TENSORS ROWS COLS]   (default 16 x 4096 x
// 4096: 1 GiB)
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "eval/synthetic.h"
#include "formats/ggml/ggml_type.h"
#include "io/gguf.h"

using namespace lowbit;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: make_gguf OUT [TENSORS ROWS COLS]\n");
    return 2;
  }
  const int n = argc > 2 ? std::atoi(argv[2]) : 16;
  const uint64_t rows = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 4096;
  const uint64_t cols = argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 4096;
  std::vector<GgufTensorDesc> descs;
  for (int i = 0; i < n; ++i) {
    descs.push_back({"blk." + std::to_string(i) + ".weight",
                     {cols, rows},
                     static_cast<uint32_t>(GgmlType::kF32)});
  }
  std::vector<GgufKV> kvs = {
      {"general.architecture", GgufValue::String("lowbit-bench")},
      {"general.file_type", GgufValue::U32(0)}};
  auto w = GgufWriter::Create(argv[1], kvs, descs);
  if (!w.ok()) {
    std::fprintf(stderr, "%s\n", w.status().message().c_str());
    return 2;
  }
  for (int i = 0; i < n; ++i) {
    const std::vector<float> v =
        GaussianValues(static_cast<int64_t>(rows * cols), i + 1);
    const Status st = (*w)->Write(descs[i].name, v.data(), v.size() * 4);
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", st.message().c_str());
      return 2;
    }
  }
  const Status st = (*w)->Commit();
  if (!st.ok()) {
    std::fprintf(stderr, "%s\n", st.message().c_str());
    return 2;
  }
  return 0;
}
