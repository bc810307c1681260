// ggml block decoding of every codec type, on arbitrary block bytes: the first
// input byte picks the type, the rest are whole blocks. Invariants: the
// decoder writes exactly its n outputs (canaries around the output survive)
// and is deterministic; the bytes are read from an exactly-sized heap copy, so
// a read past the last block is a sanitizer report.
#include <cstring>
#include <vector>

#include "formats/ggml/decode.h"
#include "formats/ggml/ggml_type.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lowbit;
  if (size < 1) return 0;
  std::vector<const GgmlTypeInfo*> codecs;
  for (const GgmlTypeInfo& t : AllGgmlTypeInfos()) {
    if (t.codec) codecs.push_back(&t);
  }
  const GgmlTypeInfo& t = *codecs[data[0] % codecs.size()];
  const size_t blocks = (size - 1) / static_cast<size_t>(t.block_bytes);
  const int64_t n = static_cast<int64_t>(blocks) * t.block_elements;
  // An exactly-sized copy of the whole blocks.
  std::vector<uint8_t> in(
      data + 1, data + 1 + blocks * static_cast<size_t>(t.block_bytes));
  constexpr float kCanary = -12345.5f;
  std::vector<float> out(static_cast<size_t>(n) + 2, kCanary);
  DequantizeGgmlRow(t.type, in.data(), out.data() + 1, n);
  fuzz::Check(out.front() == kCanary && out.back() == kCanary,
              std::string(t.ggml_name) + ": wrote outside its output");
  std::vector<float> again(static_cast<size_t>(n));
  DequantizeGgmlRow(t.type, in.data(), again.data(), n);
  fuzz::Check(n == 0 || std::memcmp(again.data(), out.data() + 1,
                                    n * sizeof(float)) == 0,
              std::string(t.ggml_name) + ": not deterministic");
  return 0;
}
