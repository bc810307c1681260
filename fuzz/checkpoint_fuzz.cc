// The training checkpoint reader (`train` / `qat --resume`): safetensors plus
// the "lowbit.checkpoint" record and the tensors it counts. Invariants: an
// accepted checkpoint's tensors are f32 and readable in full; a refusal
// names the file.
#include "fuzz/fuzz_util.h"
#include "train/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lowbit;
  const std::string path =
      fuzz::WriteFile(fuzz::Scratch() / "in.ckpt", data, size);
  // The corpus's checkpoints carry this fingerprint.
  auto s = ReadCheckpoint(path, "fuzz");
  if (!s.ok()) {
    fuzz::Check(!s.status().message().empty(), "refusal without a message");
    fuzz::Check(s.status().message().find("in.ckpt") != std::string::npos,
                "refusal does not name the file");
    return 0;
  }
  fuzz::Check(s->epochs_done >= 0 && s->steps_done >= 0, "negative counts");
  for (const graph::Tensor& t : s->values) {
    fuzz::Check(t.dtype() == DType::kF32, "a value that is not f32");
  }
  for (const graph::Tensor& t : s->values) {
    volatile float sum = 0.0f;  // every byte read: a sanitizer sees overreads
    for (int64_t i = 0; i < t.numel(); ++i) sum = sum + t.data<float>()[i];
  }
  return 0;
}
