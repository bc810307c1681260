// The .npy reader (inputs of `lowbit run`): magic, version, header fields,
// shape, data size. Invariants: an accepted array holds exactly its shape's
// bytes, and writing it back gives an array that parses to the same bytes.
#include <cstring>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "io/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lowbit;
  // An exactly-sized heap copy: a read past the end is a sanitizer report.
  std::vector<uint8_t> copy(data, data + size);
  auto t = ParseNpy(copy.data(), copy.size(), "in.npy");
  if (!t.ok()) {
    fuzz::Check(!t.status().message().empty(), "refusal without a message");
    return 0;
  }
  fuzz::Check(t->nbytes() <= static_cast<int64_t>(size),
              "more bytes than the file");
  const std::string again = NpyBytes(*t);
  auto u = ParseNpy(reinterpret_cast<const uint8_t*>(again.data()),
                    again.size(), "again.npy");
  fuzz::Check(u.ok(), "a written array does not parse");
  fuzz::Check(u->shape() == t->shape() && u->dtype() == t->dtype(),
              "shape or dtype changed");
  fuzz::Check(std::memcmp(u->bytes(), t->bytes(),
                          static_cast<size_t>(t->nbytes())) == 0,
              "bytes changed");
  return 0;
}
