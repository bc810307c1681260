// The safetensors reader: header length, JSON header, tensor table (dtypes,
// shapes, offsets, overlaps, metadata). Invariant: every accepted entry lies
// inside the file and holds exactly its shape's bytes.
#include "fuzz/fuzz_util.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lowbit;
  const std::string path =
      fuzz::WriteFile(fuzz::Scratch() / "in.safetensors", data, size);
  auto f = SafetensorsFile::Open(path);
  if (!f.ok()) {
    fuzz::Check(!f.status().message().empty(), "refusal without a message");
    return 0;
  }
  const uint8_t* base = nullptr;
  uint64_t prev_end = 0;
  for (const SafetensorsEntry& e : (*f)->tensors()) {
    const uint64_t bits = static_cast<uint64_t>(DTypeBits(e.dtype));
    const uint64_t need =
        (bits * static_cast<uint64_t>(NumElements(e.shape)) + 7) / 8;
    fuzz::Check(e.nbytes == need, e.name + ": nbytes differs from its shape");
    fuzz::Check(e.offset <= size && size - e.offset >= e.nbytes,
                e.name + ": data outside the file");
    fuzz::Check(e.offset >= prev_end || e.nbytes == 0,
                e.name + ": overlaps the previous tensor");
    if (e.nbytes > 0) prev_end = e.offset + e.nbytes;
    if (base == nullptr) base = e.data - e.offset;
    fuzz::Check(e.data == base + e.offset, e.name + ": data pointer");
    // Touch every byte: a read past the heap copy is a sanitizer report.
    volatile uint8_t sink = 0;
    for (uint64_t i = 0; i < e.nbytes; ++i) sink ^= e.data[i];
    (void)sink;
  }
  return 0;
}
