// The GGUF reader: header, metadata values (strings, nested arrays), tensor
// infos, alignment, tensor data, and the decoding of every tensor lowbit can
// decode. Invariants: accepted tensors lie inside the file, hold their type's
// row bytes, and decode to their shape's number of values.
#include "formats/ggml/ggml_type.h"
#include "fuzz/fuzz_util.h"
#include "io/gguf.h"
#include "io/gguf_model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lowbit;
  const std::string path =
      fuzz::WriteFile(fuzz::Scratch() / "in.gguf", data, size);
  auto m = GgufModel::Open(path);
  if (!m.ok()) return 0;
  const GgufFile& f = (*m)->file();
  for (const GgufKV& kv : f.kvs()) {
    fuzz::Check(!kv.key.empty(), "empty key accepted");
  }
  for (const GgufTensorInfo& t : f.tensors()) {
    const uint64_t at = f.data_offset() + t.offset;
    fuzz::Check(at >= f.data_offset() && at <= size && size - at >= t.nbytes,
                t.name + ": data outside the file");
    const GgmlTypeInfo* info = FindGgmlTypeInfoById(t.ggml_type);
    fuzz::Check(info != nullptr, t.name + ": unknown type accepted");
    uint64_t n = 1;
    for (uint64_t d : t.ne) n *= d;
    fuzz::Check(n % info->block_elements == 0 &&
                    n / info->block_elements * info->block_bytes == t.nbytes,
                t.name + ": nbytes differs from its type and shape");
  }
  fuzz::CheckModel(**m);
  return 0;
}
