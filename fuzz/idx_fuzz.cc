// The IDX reader (Fashion-MNIST, io/idx.h), gzip-compressed or raw:
// invariants: an accepted array holds exactly prod(dims) bytes, within the
// file's (or the inflated stream's) size; a refusal has a message.
#include <vector>

#include "fuzz/fuzz_util.h"
#include "io/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lowbit;
  std::vector<uint8_t> copy(data, data + size);
  std::vector<uint8_t> raw = copy;
  if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
    auto z = Gunzip(copy.data(), copy.size(), uint64_t{1} << 24, "in.gz");
    if (!z.ok()) {
      fuzz::Check(!z.status().message().empty(), "refusal without a message");
      return 0;
    }
    raw = std::move(z).value();
  }
  auto a = ParseIdx(raw.data(), raw.size(), "in.idx");
  if (!a.ok()) {
    fuzz::Check(!a.status().message().empty(), "refusal without a message");
    return 0;
  }
  uint64_t n = 1;
  for (int64_t d : a->dims) n *= static_cast<uint64_t>(d);
  fuzz::Check(a->data.size() == n, "elements differ from the dimensions");
  fuzz::Check(a->data.size() <= raw.size(), "more bytes than the file");
  return 0;
}
