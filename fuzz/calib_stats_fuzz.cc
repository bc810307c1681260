// The calibration statistics reader (`quantize --stats`): safetensors plus the
// "lowbit.stats" record and the per-layer tensors it names. Invariants: an
// accepted layer holds tensors of exactly its declared sizes, finite, with a
// symmetric E[x x^T] of non-negative diagonal; a refusal names the file.
#include <cmath>

#include "fuzz/fuzz_util.h"
#include "io/calib_stats_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lowbit;
  const std::string path =
      fuzz::WriteFile(fuzz::Scratch() / "in.stats.safetensors", data, size);
  auto f = CalibStatsFile::Open(path);
  if (!f.ok()) {
    fuzz::Check(!f.status().message().empty(), "refusal without a message");
    fuzz::Check(
        f.status().message().find("in.stats.safetensors") != std::string::npos,
        "refusal does not name the file");
    return 0;
  }
  for (const auto& [name, l] : (*f)->layers()) {
    fuzz::Check(l.groups >= 1 && l.cols >= 1 && l.rows >= 1 && l.outputs >= 1,
                name + ": non-positive size accepted");
    const int64_t k = l.cols;
    fuzz::Check(static_cast<int64_t>(l.xtx.size()) == l.groups * k * k,
                name + ": xtx size");
    fuzz::Check(static_cast<int64_t>(l.x_sq_mean.size()) == l.groups * k &&
                    static_cast<int64_t>(l.x_abs_mean.size()) == l.groups * k,
                name + ": column statistics size");
    fuzz::Check(static_cast<int64_t>(l.y_mean.size()) == l.outputs &&
                    static_cast<int64_t>(l.y_sq_mean.size()) == l.outputs,
                name + ": output statistics size");
    for (int64_t g = 0; g < l.groups; ++g) {
      const float* h = l.xtx.data() + g * k * k;
      for (int64_t i = 0; i < k; ++i) {
        fuzz::Check(h[i * k + i] >= 0.0f, name + ": negative diagonal");
        for (int64_t j = 0; j < k; ++j) {
          fuzz::Check(
              std::isfinite(h[i * k + j]) && h[i * k + j] == h[j * k + i],
              name + ": xtx not finite and symmetric");
        }
      }
    }
  }
  return 0;
}
