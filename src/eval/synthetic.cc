#include "eval/synthetic.h"

#include <cmath>
#include <cstring>

#include "core/tensor.h"
#include "io/quantized_safetensors.h"

namespace lowbit {
namespace {

uint64_t SplitMix64(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double Uniform01(uint64_t& s) {  // in (0, 1]
  return (static_cast<double>(SplitMix64(s) >> 11) + 1.0) * 0x1.0p-53;
}

// Weight of shape [rows, cols]: N(0, std) with heavy tails (1% of values x4)
// and a few outlier output channels (x8), as seen in trained linear layers.
std::vector<float> WeightValues(int64_t rows, int64_t cols, float std_dev,
                                uint64_t seed) {
  std::vector<float> v = GaussianValues(rows * cols, seed);
  uint64_t s = seed ^ 0xabcdefull;
  for (float& x : v) {
    x *= std_dev;
    if (Uniform01(s) < 0.01) x *= 4.0f;
  }
  for (int64_t r = 0; r < rows; ++r) {
    if (Uniform01(s) < 0.02) {
      for (int64_t c = 0; c < cols; ++c) v[r * cols + c] *= 8.0f;
    }
  }
  return v;
}

}  // namespace

std::vector<float> GaussianValues(int64_t n, uint64_t seed) {
  std::vector<float> v(static_cast<size_t>(n));
  uint64_t s = seed;
  for (int64_t i = 0; i < n; i += 2) {
    const double u1 = Uniform01(s), u2 = Uniform01(s);
    const double r = std::sqrt(-2.0 * std::log(u1));
    v[i] = static_cast<float>(r * std::cos(2.0 * M_PI * u2));
    if (i + 1 < n) v[i + 1] = static_cast<float>(r * std::sin(2.0 * M_PI * u2));
  }
  return v;
}

Status WriteSyntheticModel(const std::string& path, uint64_t seed, int layers,
                           int dim) {
  std::vector<OutputTensor> out;
  uint64_t k = seed;
  auto add = [&](const std::string& name, DType dt, Shape shape,
                 std::vector<float> v) {
    OutputTensor t;
    t.name = name;
    t.dtype = dt;
    t.shape = std::move(shape);
    t.owned.resize(
        static_cast<size_t>(StorageBytes(dt, static_cast<int64_t>(v.size()))));
    FromFloat(dt, v.data(), static_cast<int64_t>(v.size()), t.owned.data());
    out.push_back(std::move(t));
  };
  const int64_t vocab = 2048, d = dim, ff = 4 * dim;
  add("embed.weight", DType::kF16, {vocab, d},
      WeightValues(vocab, d, 0.05f, ++k));
  for (int l = 0; l < layers; ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    const float sd = 1.0f / std::sqrt(static_cast<float>(d));
    std::vector<float> ones(static_cast<size_t>(d), 1.0f);
    add(p + "attn_norm.weight", DType::kF32, {d}, ones);
    for (const char* w : {"q", "k", "v", "o"}) {
      add(p + "attn." + w + ".weight", DType::kF32, {d, d},
          WeightValues(d, d, sd, ++k));
    }
    add(p + "mlp_norm.weight", DType::kF32, {d}, ones);
    add(p + "mlp.up.weight", DType::kBF16, {ff, d},
        WeightValues(ff, d, sd, ++k));
    add(p + "mlp.down.weight", DType::kF32, {d, ff},
        WeightValues(d, ff, 1.0f / std::sqrt(static_cast<float>(ff)), ++k));
    std::vector<float> bias = GaussianValues(d, ++k);
    for (float& b : bias) b *= 0.01f;
    add(p + "mlp.down.bias", DType::kF32, {d}, bias);
  }
  add("conv_stem.weight", DType::kF32, {64, 3, 3, 3},
      WeightValues(64, 27, 0.2f, ++k));
  add("lm_head.weight", DType::kF32, {vocab, d},
      WeightValues(vocab, d, 0.05f, ++k));
  OutputTensor pos;
  pos.name = "position_ids";
  pos.dtype = DType::kI64;
  pos.shape = {64};
  pos.owned.resize(64 * 8);
  for (int64_t i = 0; i < 64; ++i) std::memcpy(pos.owned.data() + 8 * i, &i, 8);
  out.push_back(std::move(pos));
  return WriteSafetensorsModel(
      path, out,
      {{"lowbit.synthetic_seed", std::to_string(seed)},
       {"description", "lowbit synthetic transformer"}});
}

}  // namespace lowbit
