// `lowbit quantize` end to end, through the command's own option parsing and
// runner: the first input byte picks the input format (safetensors, GGUF or
// ONNX) and the scheme, the rest is the model file. Invariants: a refusal
// leaves nothing but the input in the folder (no output, no temporary file);
// an accepted run writes an output that opens and whose tensors all read as
// their shape's number of values.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>

#include "fuzz/fuzz_util.h"
#include "tools/lowbit/commands.h"

namespace {

struct Choice {
  const char* ext;
  const char* scheme;
};
const Choice kChoices[] = {
    {".safetensors", "int4"},
    {".safetensors", "int8"},
    {".safetensors", "nf4"},
    {".safetensors", "kmeans3"},
    {".safetensors", "mxfp4"},
    {".safetensors", "ternary"},
    {".gguf", "q4_k"},
    {".gguf", "q8_0"},
    {".gguf", "q6_k"},
    {".gguf", "q4_0"},
    {".onnx", "int8"},
    {".onnx", "int4"},
    // int2: f16 zero points by default.
    {".safetensors", "int2"},
    {".onnx", "int2"},
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // The report goes to stdout; the fuzzer's own lines go to stderr.
  if (std::freopen("/dev/null", "w", stdout) == nullptr) return 1;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lowbit;
  if (size < 1) return 0;
  const Choice& c = kChoices[data[0] % std::size(kChoices)];
  const fuzz::fs::path dir = fuzz::Scratch();
  const std::string in =
      fuzz::WriteFile(dir / (std::string("in") + c.ext), data + 1, size - 1);
  const std::string out = (dir / (std::string("out") + c.ext)).string();
  CLI::App app{"lowbit"};
  cli::Runner run = cli::AddQuantize(app);
  std::vector<std::string> args = {
      "quantize", in, "-o", out, "--scheme", c.scheme, "--threads", "1", "-q"};
  std::reverse(args.begin(), args.end());  // CLI11 takes them from the back
  app.parse(args);
  const Status st = run();
  int files = 0;
  for (const auto& e : fuzz::fs::directory_iterator(dir)) {
    (void)e;
    ++files;
  }
  if (!st.ok()) {
    fuzz::Check(files == 1, "a refused run left " + std::to_string(files - 1) +
                                " file(s) behind: " + st.message());
    return 0;
  }
  fuzz::Check(fuzz::fs::exists(out), "accepted run wrote no output");
  auto m = OpenModel(out);
  fuzz::Check(m.ok(), "the output does not open: " +
                          (m.ok() ? std::string() : m.status().message()));
  fuzz::CheckModel(**m);
  return 0;
}
