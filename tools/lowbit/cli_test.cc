// End-to-end tests of the lowbit command: the subcommands on a synthetic model,
// and the errors, exit status and absence of output for bad input.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tools/lowbit/cli_fixture.h"

namespace fs = std::filesystem;

namespace {

using namespace lowbit::testing_cli;

class Cli : public CliFixture {
 protected:
  Cli() : CliFixture("out.safetensors") {}

  void MakeModel() {
    ASSERT_EQ(
        Run("synth -o " + P("m.safetensors") + " --layers 1 --dim 64").status,
        0);
  }

  // Writes a safetensors file from a header string and a data size.
  void WriteRaw(const std::string& name, const std::string& header,
                size_t data_bytes, uint64_t header_len_override = 0) {
    std::ofstream f(dir_ / name, std::ios::binary);
    const uint64_t n =
        header_len_override ? header_len_override : header.size();
    f.write(reinterpret_cast<const char*>(&n), 8);
    f << header;
    f << std::string(data_bytes, '\0');
  }
};

TEST_F(Cli, QuantizeReportConvertInspect) {
  MakeModel();
  RunResult r =
      Run("quantize " + P("m.safetensors") + " -o " + P("q.safetensors") +
          " --scheme int4 --report " + P("r.json"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("total:"), std::string::npos);
  const auto rep = nlohmann::json::parse(ReadAll(dir_ / "r.json"));
  ASSERT_TRUE(rep.contains("total"));
  EXPECT_GT(rep["total"]["bytes_in"].get<double>(), 0);
  EXPECT_LT(rep["total"]["bytes_out"].get<double>(),
            rep["total"]["bytes_in"].get<double>());
  int quantized = 0;
  for (const auto& t : rep["tensors"]) {
    for (const char* k :
         {"name", "scheme", "bits_per_weight", "bytes_in", "bytes_out", "mse",
          "rel_rmse", "sqnr_db", "cosine", "max_abs_err"}) {
      EXPECT_TRUE(t.contains(k)) << k;  // every tensor has every key
    }
    if (t["scheme"] == "i64") {
      EXPECT_TRUE(t["mse"].is_null());  // not float data
    }
    if (t["quantized"].get<bool>()) {
      ++quantized;
      EXPECT_EQ(t["scheme"], "int4");
      for (const char* k :
           {"mse", "rel_rmse", "sqnr_db", "cosine", "max_abs_err"}) {
        EXPECT_TRUE(t.contains(k)) << k;
      }
      EXPECT_GT(t["rel_rmse"].get<double>(), 0.0);
      EXPECT_LT(t["rel_rmse"].get<double>(), 0.2);
      EXPECT_GT(t["cosine"].get<double>(), 0.98);
    } else if (t["shape"].size() == 1 && t["scheme"] == "f32") {
      EXPECT_EQ(t["rel_rmse"].get<double>(),
                0.0);  // 1-D tensors are kept as they are
    }
  }
  EXPECT_GT(quantized, 3);

  // report, which reads the written file back, gives the numbers quantize
  // measured on the codes in memory (up to the order of the additions).
  r = Run("report " + P("m.safetensors") + " " + P("q.safetensors") +
          " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto rep2 = nlohmann::json::parse(r.out);
  ExpectSameReport(rep, rep2);

  // convert dequantizes to f32; the result compares equal to the quantized
  // file.
  r = Run("convert " + P("q.safetensors") + " -o " + P("d.safetensors"));
  ASSERT_EQ(r.status, 0) << r.err;
  r = Run("report " + P("q.safetensors") + " " + P("d.safetensors") +
          " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto rep3 = nlohmann::json::parse(r.out);
  EXPECT_EQ(rep3["total"]["mse"].get<double>(), 0.0);

  r = Run("inspect " + P("q.safetensors") + " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto ins = nlohmann::json::parse(r.out);
  EXPECT_EQ(ins["params_quantized"].get<int64_t>() > 0, true);
  EXPECT_EQ(ins["metadata"]["lowbit.scheme"], "int4");
  r = Run("inspect " + P("m.safetensors"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("embed.weight"), std::string::npos);
}

TEST_F(Cli, SelectionRules) {
  MakeModel();
  RunResult r =
      Run("quantize " + P("m.safetensors") + " -o " + P("q.safetensors") +
          " --scheme int8 --include 'attn' --exclude 'attn\\.v' --json");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto rep = nlohmann::json::parse(r.out);
  for (const auto& t : rep["tensors"]) {
    const std::string n = t["name"];
    const bool want = n.find("attn.") != std::string::npos &&
                      n.find("attn.v") == std::string::npos &&
                      t["shape"].size() >= 2;
    EXPECT_EQ(t["quantized"].get<bool>(), want) << n;
  }
  r = Run("quantize " + P("m.safetensors") + " -o " + P("q2.safetensors") +
          " --scheme nf4 --min-elements 10000 --json");
  ASSERT_EQ(r.status, 0) << r.err;
  // The parsed report must outlive the loop over its member.
  const auto rep2 = nlohmann::json::parse(r.out);
  for (const auto& t : rep2["tensors"]) {
    if (t["quantized"].get<bool>()) {
      EXPECT_GE(t["params"].get<int64_t>(), 10000);
    }
  }
}

TEST_F(Cli, ThreadCountDoesNotChangeTheOutput) {
  MakeModel();
  ASSERT_EQ(Run("quantize " + P("m.safetensors") + " -o " + P("a.safetensors") +
                " --scheme kmeans3 --threads 1 -q")
                .status,
            0);
  ASSERT_EQ(Run("quantize " + P("m.safetensors") + " -o " + P("b.safetensors") +
                " --scheme kmeans3 --threads 2 -q")
                .status,
            0);
  EXPECT_EQ(ReadAll(dir_ / "a.safetensors"), ReadAll(dir_ / "b.safetensors"));
}

TEST_F(Cli, EverySchemeFromTheCommandLine) {
  MakeModel();
  for (const char* s : {"int2", "int3", "int5", "int6", "int7", "int8",
                        "binary", "ternary", "nf4", "fp8_e4m3", "fp8_e5m2",
                        "fp4_e2m1", "mxfp4", "kmeans2", "kmeans8"}) {
    const RunResult r = Run("quantize " + P("m.safetensors") + " -o " +
                            P("q.safetensors") + " --scheme " + s + " --json");
    ASSERT_EQ(r.status, 0) << s << ": " << r.err;
    const auto rep = nlohmann::json::parse(r.out);
    EXPECT_GT(rep["total"]["cosine"].get<double>(), 0.75) << s;
  }
}

TEST_F(Cli, TruncatedFile) {
  MakeModel();
  const std::string full = ReadAll(dir_ / "m.safetensors");
  {
    std::ofstream f(dir_ / "t.safetensors", std::ios::binary);
    f << full.substr(0, full.size() / 2);
  }
  ExpectBadInput("quantize " + P("t.safetensors") + " --scheme int4",
                 P("t.safetensors"), "past the end");
}

TEST_F(Cli, OffsetsPastTheEnd) {
  WriteRaw("o.safetensors",
           R"({"w":{"dtype":"F32","shape":[4,4],"data_offsets":[0,64]}})", 32);
  ExpectBadInput("quantize " + P("o.safetensors") + " --scheme int4",
                 P("o.safetensors"), "past the end");
}

TEST_F(Cli, DtypeOrShapeDoesNotMatchTheData) {
  WriteRaw("s.safetensors",
           R"({"w":{"dtype":"F32","shape":[4,4],"data_offsets":[0,32]}})", 32);
  ExpectBadInput("quantize " + P("s.safetensors") + " --scheme int4",
                 P("s.safetensors"), "need 64 bytes");
  WriteRaw("d.safetensors",
           R"({"w":{"dtype":"F16","shape":[4,4],"data_offsets":[0,64]}})", 64);
  ExpectBadInput("report " + P("d.safetensors") + " " + P("d.safetensors"),
                 P("d.safetensors"), "need 32 bytes", "");
}

TEST_F(Cli, AbsurdHeaderLength) {
  WriteRaw("h.safetensors", "{}", 0, uint64_t{1} << 50);
  ExpectBadInput("quantize " + P("h.safetensors") + " --scheme int4",
                 P("h.safetensors"), "absurd");
  ExpectBadInput("inspect " + P("h.safetensors"), P("h.safetensors"), "absurd",
                 "");
}

TEST_F(Cli, BadOptions) {
  MakeModel();
  ExpectBadInput("quantize " + P("m.safetensors") + " --scheme int9",
                 "--scheme int9", "unknown scheme");
  ExpectBadInput(
      "quantize " + P("m.safetensors") + " --scheme int4 --group-size 24",
      "--group-size 24", "power of two");
  ExpectBadInput(
      "quantize " + P("m.safetensors") + " --scheme nf4 --asymmetric",
      "--asymmetric", "zero point");
  ExpectBadInput(
      "quantize " + P("m.safetensors") + " --scheme int4 --method best",
      "--method best", "expected minmax");
  ExpectBadInput(
      "quantize " + P("m.safetensors") + " --scheme int4 --include '('",
      "--include (", "regular expression");
  ExpectBadInput(
      "quantize " + P("m.safetensors") + " --scheme int4 --frobnicate",
      "--frobnicate", "");
  ExpectBadInput("quantize " + P("missing.safetensors") + " --scheme int4",
                 P("missing.safetensors"), "cannot open");
}

TEST_F(Cli, ExistingOutputIsKeptOnFailure) {
  // A failed run must not destroy a file already at the output path.
  WriteRaw("o.safetensors",
           R"({"w":{"dtype":"F32","shape":[4,4],"data_offsets":[0,64]}})", 32);
  {
    std::ofstream f(dir_ / "out.safetensors");
    f << "precious";
  }
  const RunResult r = Run("quantize " + P("o.safetensors") +
                          " --scheme int4 -o " + P("out.safetensors"));
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(ReadAll(dir_ / "out.safetensors"), "precious");
}

}  // namespace

namespace {

// `bench kernels` on a small shape: JSON with one figure per asked form and
// batch, every figure positive; bad shapes and --only words refused before
// any measurement.
TEST_F(Cli, BenchKernelsSmallShapeAndBadOptions) {
  const nlohmann::json j = RunJson(
      "bench kernels --shape 64x512 --batch 1 3 --only q4_K int8act "
      "--rounds 1 --json");
  ASSERT_TRUE(j.contains("products"));
  EXPECT_GT(j["read_bandwidth_gbs"].get<double>(), 0.0);
  std::vector<std::string> seen;
  for (const auto& p : j["products"]) {
    EXPECT_EQ(p["shape"], "64x512");
    EXPECT_GT(p["ms"].get<double>(), 0.0);
    EXPECT_GT(p["blas_ms"].get<double>(), 0.0);
    seen.push_back(p["weights"].get<std::string>() + "@" +
                   std::to_string(p["batch"].get<int>()));
  }
  std::sort(seen.begin(), seen.end());
  // int4 x int8act has no batched product (MatMulQ8 takes int8 weights).
  EXPECT_EQ(seen,
            (std::vector<std::string>{"int4 x int8act@1", "int8 x int8act@1",
                                      "int8 x int8act@3", "q4_K packed x8@1",
                                      "q4_K packed x8@3"}));
  for (const char* bad :
       {"--shape 64x500", "--shape 64", "--shape 0x512", "--shape 64x512x2",
        "--only nothing", "--batch 0", "--threads 0", "--bogus"}) {
    const RunResult r = Run(std::string("bench kernels ") + bad);
    EXPECT_EQ(r.status, 2) << bad << "\n" << r.err;
    EXPECT_EQ(r.out.find("read bandwidth"), std::string::npos) << bad;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

}  // namespace
