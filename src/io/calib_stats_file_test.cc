#include "io/calib_stats_file.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace lowbit {
namespace {

namespace fs = std::filesystem;

std::string Tmp(const std::string& name) {
  return (fs::path(::testing::TempDir()) /
          ("calib_stats_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

graph::LayerStats Layer(int64_t groups, int64_t cols, int64_t outputs) {
  graph::LayerStats s;
  s.op = "Conv";
  s.node = "node c";
  s.groups = groups;
  s.cols = cols;
  s.outputs = outputs;
  s.rows = 4;
  s.out_count = 8;
  s.h.assign(static_cast<size_t>(groups * cols * cols), 0.0);
  for (int64_t g = 0; g < groups; ++g) {
    for (int64_t i = 0; i < cols; ++i) {
      for (int64_t j = 0; j < cols; ++j) {
        s.h[(g * cols + i) * cols + j] = (i == j ? 8.0 : 1.0) + g;
      }
    }
  }
  s.sum_abs.assign(static_cast<size_t>(groups * cols), 2.0);
  s.sum_sq.assign(static_cast<size_t>(groups * cols), 8.0);
  s.out_sum.assign(static_cast<size_t>(outputs), 4.0);
  s.out_sq.assign(static_cast<size_t>(outputs), 16.0);
  return s;
}

TEST(CalibStatsFile, RoundTripsMeans) {
  std::map<std::string, graph::LayerStats> layers;
  layers["conv.w"] = Layer(2, 3, 4);
  layers["conv.w"].weight = "conv.w";
  layers["unused"] = Layer(1, 2, 2);
  layers["unused"].rows = 0;  // saw nothing: left out
  const std::string p = Tmp("rt.safetensors");
  CalibInfo info;
  info.model = "m.onnx";
  info.samples = 7;
  ASSERT_TRUE(WriteCalibStats(p, layers, info).ok());
  auto f = CalibStatsFile::Open(p);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ((*f)->info().samples, 7);
  EXPECT_EQ((*f)->info().model, "m.onnx");
  EXPECT_EQ((*f)->layers().size(), 1u);
  const CalibLayer* l = (*f)->Find("conv.w");
  ASSERT_NE(l, nullptr);
  EXPECT_EQ(l->groups, 2);
  EXPECT_EQ(l->cols, 3);
  EXPECT_EQ(l->rows, 4);
  EXPECT_EQ(l->xtx[0], 2.0f);        // 8 / 4 rows
  EXPECT_EQ(l->xtx[9 + 1], 0.5f);    // group 1, (0, 1): 2 / 4
  EXPECT_EQ(l->x_sq_mean[0], 2.0f);  // 8 / 4
  EXPECT_EQ(l->y_sq_mean[0], 2.0f);  // 16 / 8 values per channel
  auto mem = CalibStatsFile::FromLayers(layers, info, "mem");
  ASSERT_NE(mem->Find("conv.w"), nullptr);
  EXPECT_EQ(mem->Find("conv.w")->xtx, l->xtx);
  fs::remove(p);
}

// A statistics file with the metadata and tensors given.
std::string Write(const std::string& name, const std::string& meta,
                  const std::vector<std::pair<std::string, Shape>>& tensors,
                  float fill = 1.0f, bool asymmetric = false) {
  const std::string p = Tmp(name);
  std::vector<TensorDesc> d;
  for (const auto& [n, s] : tensors) d.push_back({n, DType::kF32, s});
  std::map<std::string, std::string> md;
  if (!meta.empty()) md["lowbit.stats"] = meta;
  auto w = SafetensorsWriter::Create(p, d, md);
  EXPECT_TRUE(w.ok());
  for (const auto& [n, s] : tensors) {
    std::vector<float> v(static_cast<size_t>(NumElements(s)), fill);
    if (asymmetric && v.size() > 1) v[1] = fill + 1;
    EXPECT_TRUE((*w)->Write(n, v.data(), v.size() * 4).ok());
  }
  EXPECT_TRUE((*w)->Commit().ok());
  return p;
}

TEST(CalibStatsFile, HostileFilesAreRefusedByName) {
  const std::string layer =
      R"({"version":1,"layers":{"w":{"op":"Conv","rows":3,"groups":1,"cols":2,"outputs":2}}})";
  const std::vector<std::pair<std::string, Shape>> full = {
      {"w.xtx", {1, 2, 2}},
      {"w.x_abs_mean", {1, 2}},
      {"w.x_sq_mean", {1, 2}},
      {"w.y_mean", {2}},
      {"w.y_sq_mean", {2}}};
  struct Case {
    std::string name, meta;
    std::vector<std::pair<std::string, Shape>> tensors;
    float fill;
    bool asym;
    std::string phrase;
  };
  auto drop = [&](size_t i) {
    auto v = full;
    v.erase(v.begin() + static_cast<long>(i));
    return v;
  };
  auto reshape = [&](size_t i, Shape s) {
    auto v = full;
    v[i].second = std::move(s);
    return v;
  };
  const std::vector<Case> cases = {
      {"nometa", "", full, 1, false, "no \"lowbit.stats\""},
      {"badjson", "{", full, 1, false, "version 1"},
      {"version", R"({"version":2,"layers":{}})", full, 1, false, "version 1"},
      {"zero",
       R"({"version":1,"layers":{"w":{"rows":3,"groups":0,"cols":2,"outputs":2}}})",
       full, 1, false, "positive"},
      {"huge",
       R"({"version":1,"layers":{"w":{"rows":3,"groups":1,"cols":100000,"outputs":2}}})",
       full, 1, false, "at most 65536"},
      {"missing", layer, drop(2), 1, false, "no tensor 'w.x_sq_mean'"},
      {"shape", layer, reshape(0, {1, 2, 3}), 1, false, "expected f32"},
      {"nan", layer, full, NAN, false, "NaN"},
      {"asym", layer, full, 1, true, "not symmetric"},
      {"negative", layer, full, -1, false, "negative diagonal"},
  };
  for (const Case& c : cases) {
    const std::string p =
        Write(c.name + ".safetensors", c.meta, c.tensors, c.fill, c.asym);
    auto f = CalibStatsFile::Open(p);
    ASSERT_FALSE(f.ok()) << c.name;
    EXPECT_NE(f.status().message().find(p), std::string::npos)
        << c.name << ": " << f.status().message();
    EXPECT_NE(f.status().message().find(c.phrase), std::string::npos)
        << c.name << ": " << f.status().message();
    fs::remove(p);
  }
}

}  // namespace
}  // namespace lowbit
