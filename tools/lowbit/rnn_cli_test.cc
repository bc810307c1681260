// lowbit run against ONNX Runtime (tools/ort/run_npy.js) on LSTM, GRU and
// nested If models that tests/onnx_rnn_if_models.py writes with the onnx
// Python package: bidirectional LSTM with peepholes, clip, initial states and
// mixed sequence lengths; input_forget with HardSigmoid and LeakyRelu
// (alpha, beta); reverse GRU with linear_before_reset 0 (and an
// empty sequence) and 1; an If inside an If reading a value the top graph
// computes, for all four conditions. Skipped when node_deps or
// /usr/bin/python3 with onnx is missing.
#include <cmath>
#include <fstream>
#include <sstream>

#include "io/npy.h"
#include "tools/lowbit/cli_fixture.h"

namespace lowbit::testing_cli {
namespace {

bool HaveOnnxPython() {
  return std::system(
             "/usr/bin/python3 -c 'import onnx, numpy' "
             ">/dev/null 2>&1") == 0;
}

class RnnCli : public CliFixture {
 protected:
  RnnCli() : CliFixture("") {}
};

TEST_F(RnnCli, LstmGruAndNestedIfMatchOnnxRuntime) {
  if (!HaveOrt()) {
    GTEST_SKIP() << "node_deps/onnxruntime-node missing: run "
                    "scripts/setup_npm.sh";
  }
  if (!HaveOnnxPython()) {
    GTEST_SKIP() << "/usr/bin/python3 with onnx and numpy missing";
  }
  const std::string gen = "/usr/bin/python3 " +
                          (kSource / "tests/onnx_rnn_if_models.py").string() +
                          " " + P("m");
  ASSERT_EQ(std::system(gen.c_str()), 0) << gen;
  std::ifstream list(P("m/models.txt"));
  std::string line;
  int runs = 0;
  double worst = 0;
  while (std::getline(list, line)) {
    std::istringstream words(line);
    std::string model, input, inputs;
    words >> model;
    while (words >> input) inputs += " --input " + input;
    const std::string onnx = P("m/" + model + ".onnx");
    const std::string lb = P("lb_" + std::to_string(runs));
    const std::string ort = P("ort_" + std::to_string(runs));
    const RunResult r =
        Run("run " + onnx + inputs + " --output-dir " + lb + " --threads 1 -q");
    ASSERT_EQ(r.status, 0) << line << "\n" << r.err;
    const std::string cmd =
        "NODE_PATH=" + (kSource / "node_deps/node_modules").string() +
        " node " + (kSource / "tools/ort/run_npy.js").string() + " " + onnx +
        inputs + " --output-dir " + ort + " --opt disabled >/dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    int outputs = 0;
    for (const auto& e : fs::directory_iterator(ort)) {
      const double d = RelDiff(fs::path(lb) / e.path().filename(), e.path());
      EXPECT_LT(d, 1e-5) << line << ": " << e.path().filename();
      worst = std::max(worst, d);
      ++outputs;
    }
    EXPECT_GT(outputs, 0) << line;
    ++runs;
  }
  EXPECT_EQ(runs, 8);
  std::printf("[ rnn/if vs ORT ] %d runs, largest relative difference %.3g\n",
              runs, worst);
}

}  // namespace
}  // namespace lowbit::testing_cli
