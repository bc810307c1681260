// A few training steps of the Fashion-MNIST CNN against an independent
// reference (tests/reference/fmnist_sgd.py: the same network forward and
// backward by hand in numpy, in double precision): the same initial weights
// (the ONNX file), the same batches in order, SGD with momentum; every step's
// loss agrees within 1e-6 relative (lowbit computes in f32; measured: 3e-9
// over four steps). Skipped when /usr/bin/python3 with numpy and onnx is
// missing.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "graph/autodiff.h"
#include "io/npy.h"
#include "io/onnx_import.h"
#include "io/onnx_model.h"
#include "train/classifier.h"
#include "train/fmnist_cnn.h"

namespace lowbit {
namespace {

namespace fs = std::filesystem;

std::string Capture(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

TEST(LossCurve, SgdStepsMatchANumpyReference) {
  if (std::system("/usr/bin/python3 -c 'import numpy, onnx' 2>/dev/null") !=
      0) {
    GTEST_SKIP() << "/usr/bin/python3 with numpy and onnx missing";
  }
  const fs::path dir = fs::temp_directory_path() /
                       ("lowbit_loss_curve_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  // Random images and labels: the arithmetic, not the data, is under test.
  const int64_t batch = 16, steps = 4;
  ImageDataset d;
  d.n = batch * steps;
  d.height = d.width = 28;
  d.images.resize(static_cast<size_t>(d.n * 784));
  d.labels.resize(static_cast<size_t>(d.n));
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  for (float& v : d.images) v = u(rng);
  for (int32_t& l : d.labels) l = static_cast<int32_t>(rng() % 10);
  graph::Tensor images = graph::Tensor::Zeros(DType::kF32, {d.n, 1, 28, 28});
  std::copy(d.images.begin(), d.images.end(), images.data<float>());
  graph::Tensor labels = graph::Tensor::Zeros(DType::kI64, {d.n});
  for (int64_t i = 0; i < d.n; ++i) {
    labels.data<int64_t>()[i] = d.labels[i];
  }
  ASSERT_TRUE(WriteNpy((dir / "x.npy").string(), images).ok());
  ASSERT_TRUE(WriteNpy((dir / "y.npy").string(), labels).ok());
  onnx::ModelProto proto = FashionMnistCnn(3);
  ASSERT_TRUE(WriteOnnxModel(proto, (dir / "m.onnx").string(), false).ok());

  auto g = ImportOnnx((dir / "m.onnx").string());
  ASSERT_TRUE(g.ok()) << g.status().message();
  std::vector<std::string> params;
  for (const auto& t : proto.graph().initializer()) {
    if (t.name().ends_with(".weight") || t.name().ends_with(".bias")) {
      params.push_back(t.name());
    }
  }
  ThreadPool pool(2);
  auto tape = graph::Tape::Create(*g, params, pool);
  ASSERT_TRUE(tape.ok()) << tape.status().message();
  TrainOptions o;
  o.epochs = 1;
  o.batch = batch;
  o.lr = 0.05;
  o.schedule = "constant";
  o.optimizer.kind = "sgd";
  o.optimizer.momentum = 0.9;
  o.shuffle = false;
  std::vector<double> ours;
  auto r = TrainClassifier(**tape, "x", d, o,
                           [&](const StepInfo& s) { ours.push_back(s.loss); });
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(ours.size(), static_cast<size_t>(steps));

  const std::string out = Capture(
      "/usr/bin/python3 " +
      (fs::path(LOWBIT_SOURCE_DIR) / "tests/reference/fmnist_sgd.py").string() +
      " " + (dir / "m.onnx").string() + " " + (dir / "x.npy").string() + " " +
      (dir / "y.npy").string() + " 16 4 0.05 0.9");
  fs::remove_all(dir);
  const nlohmann::json j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_TRUE(j.is_object() && j.contains("losses")) << out;
  ASSERT_EQ(j["losses"].size(), static_cast<size_t>(steps));
  for (int64_t s = 0; s < steps; ++s) {
    const double ref = j["losses"][s].get<double>();
    EXPECT_NEAR(ours[s], ref, 1e-6 * std::fabs(ref))
        << "step " << s + 1 << ": lowbit " << ours[s] << ", numpy " << ref;
  }
  // The curve moves: the steps change the weights.
  EXPECT_NE(j["losses"][0].get<double>(), j["losses"][steps - 1].get<double>());
}

}  // namespace
}  // namespace lowbit
