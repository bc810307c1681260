// A GoogleTest fixture for end-to-end tests of the lowbit command: a scratch
// folder per test, running the built binary, and the checks every bad input
// must pass.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "io/npy.h"

namespace lowbit::testing_cli {

namespace fs = std::filesystem;

// The source tree (scripts, tools/ort, node_deps).
inline const fs::path kSource = LOWBIT_SOURCE_DIR;

// max |a - b| / max |b| over two .npy files of the same shape (1e9 when
// either cannot be read or the shapes differ).
inline double RelDiff(const fs::path& a, const fs::path& b) {
  auto x = ReadNpy(a.string());
  auto y = ReadNpy(b.string());
  if (!x.ok() || !y.ok() || x->shape() != y->shape()) return 1e9;
  double err = 0, ref = 0;
  for (int64_t i = 0; i < y->numel(); ++i) {
    err = std::max(err, std::fabs(x->GetDouble(i) - y->GetDouble(i)));
    ref = std::max(ref, std::fabs(y->GetDouble(i)));
  }
  return ref > 0 ? err / ref : err;
}

// Uniform [0, 1) float32 values of shape `s`, seeded, as a .npy file.
inline void WriteRandom(const fs::path& p, Shape s, uint32_t seed) {
  graph::Tensor t = graph::Tensor::Zeros(DType::kF32, s);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
  ASSERT_TRUE(WriteNpy(p.string(), t).ok());
}

// ONNX Runtime (npm onnxruntime-node in node_deps/) and node are present.
inline bool HaveOrt() {
  return fs::exists(kSource / "node_deps/node_modules/onnxruntime-node") &&
         std::system("node --version >/dev/null 2>&1") == 0;
}

// Two reports of the same files agree: every key of every tensor and of the
// total, the error figures to 1e-9 relative.
inline void ExpectSameReport(const nlohmann::json& a, const nlohmann::json& b) {
  ASSERT_EQ(a["tensors"].size(), b["tensors"].size());
  auto same = [](const nlohmann::json& x, const nlohmann::json& y,
                 const std::string& where) {
    for (const auto& [k, v] : x.items()) {
      if (k == "seconds" || k == "notes" || k == "quantized_only") continue;
      if ((k == "original" || k == "quantized") && v.is_string()) {
        continue;
      }
      ASSERT_TRUE(y.contains(k)) << where << " " << k;
      if (v.is_number_float()) {
        const double p = v.get<double>(), q = y[k].get<double>();
        EXPECT_NEAR(p, q, 1e-9 * std::max(1.0, std::fabs(q)))
            << where << " " << k;
      } else {
        EXPECT_EQ(v, y[k]) << where << " " << k;
      }
    }
  };
  for (size_t i = 0; i < a["tensors"].size(); ++i) {
    same(a["tensors"][i], b["tensors"][i],
         a["tensors"][i]["name"].get<std::string>());
  }
  same(a["total"], b["total"], "total");
  same(a["total"]["quantized_only"], b["total"]["quantized_only"],
       "quantized_only");
}

struct RunResult {
  int status = -1;
  std::string out, err;
};

inline std::string ReadAll(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class CliFixture : public ::testing::Test {
 protected:
  // `default_output`: the file name ExpectBadInput passes as -o unless told
  // otherwise.
  explicit CliFixture(std::string default_output)
      : default_output_(std::move(default_output)) {}

  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ =
        fs::path(::testing::TempDir()) /
        ("lowbit_" + std::string(info->test_suite_name()) + "_" + info->name() +
         "_" + std::to_string(::getpid()));  // two checkouts may run at once
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs `lowbit ARGS` with no standard input; captures status and both
  // streams.
  RunResult Run(const std::string& args) {
    const fs::path o = dir_ / "stdout.txt", e = dir_ / "stderr.txt";
    const std::string cmd = std::string(LOWBIT_BIN) + " " + args + " >" +
                            o.string() + " 2>" + e.string() + " </dev/null";
    const int rc = std::system(cmd.c_str());
    RunResult r;
    r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    r.out = ReadAll(o);
    r.err = ReadAll(e);
    fs::remove(o);
    fs::remove(e);
    return r;
  }

  // Runs a command that prints JSON on stdout and parses it.
  nlohmann::json RunJson(const std::string& args) {
    const RunResult r = Run(args);
    EXPECT_EQ(r.status, 0) << args << "\n" << r.err;
    if (r.status != 0) return nlohmann::json::object();
    return nlohmann::json::parse(r.out);
  }

  std::string P(const std::string& name) { return (dir_ / name).string(); }

  // lowbit run and ONNX Runtime (tools/ort/run_npy.js) on the same input;
  // the largest relative difference over the outputs. ONNX Runtime's graph
  // optimizations are off: with them it quantizes the activations of QDQ
  // weights.
  double AgainstOrt(const std::string& model, const std::string& input,
                    const std::string& tag) {
    const RunResult r =
        Run("run " + model + " --input " + input + " --output-dir " +
            P("lb_" + tag) + " --threads 1 -q");
    EXPECT_EQ(r.status, 0) << model << "\n" << r.err;
    const std::string cmd =
        "NODE_PATH=" + (kSource / "node_deps/node_modules").string() +
        " node " + (kSource / "tools/ort/run_npy.js").string() + " " + model +
        " --input " + input + " --output-dir " + P("ort_" + tag) +
        " --opt disabled >/dev/null 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    double worst = 0;
    int outputs = 0;
    for (const auto& e : fs::directory_iterator(P("ort_" + tag))) {
      worst = std::max(
          worst,
          RelDiff(fs::path(P("lb_" + tag)) / e.path().filename(), e.path()));
      ++outputs;
    }
    EXPECT_GT(outputs, 0);
    return worst;
  }

  // The files of the scratch folder, sorted.
  std::vector<std::string> Listing() {
    std::vector<std::string> v;
    for (const auto& e : fs::directory_iterator(dir_))
      v.push_back(e.path().filename());
    std::sort(v.begin(), v.end());
    return v;
  }

  // The command must fail with status 2, a one-line message naming `file` and
  // containing `phrase`, and leave no output (nor temporary) file behind. `-o
  // OUTPUT` is appended (the fixture's default unless given; "" for none).
  void ExpectBadInput(const std::string& args, const std::string& file,
                      const std::string& phrase, const char* output = nullptr) {
    const std::string out = output ? output : default_output_;
    const auto before = Listing();
    const RunResult r = Run(out.empty() ? args : args + " -o " + P(out));
    EXPECT_EQ(r.status, 2) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(file), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(phrase), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(Listing(), before) << "output left behind by: " << args;
  }

  fs::path dir_;

 private:
  std::string default_output_;
};

}  // namespace lowbit::testing_cli
