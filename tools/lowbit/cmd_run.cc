// lowbit run: an ONNX model on lowbit's engine (pipeline/run_model.h).
#include <fmt/format.h>

#include "pipeline/run_model.h"
#include "tools/lowbit/commands.h"

namespace lowbit::cli {

Runner AddRun(CLI::App& app) {
  struct Opts {
    RunModelOptions r;
    std::vector<std::string> inputs;
    bool json = false, quiet = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "run",
      "Run an ONNX model on lowbit's own CPU engine and write every output as\n"
      "OUTPUT_DIR/<output name>.npy. Inputs are NumPy .npy files, one per "
      "model\n"
      "input; dimensions the model leaves free (batch, text width) may differ\n"
      "from run to run. Quantized weights stay packed in memory.\n"
      "Example:\n"
      "  lowbit run rec.onnx --input x=line.npy --output-dir out/");
  sub->add_option("MODEL", o->r.model, "the model (.onnx)")->required();
  sub->add_option("--input", o->inputs,
                  "NAME=FILE.npy: the value of input NAME (repeatable; every "
                  "model input is needed)");
  sub->add_option("--output-dir", o->r.output_dir,
                  "folder for the outputs (created if missing)")
      ->capture_default_str();
  sub->add_option("--threads", o->r.threads, "threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  sub->add_flag("--fast", o->r.fast,
                "int8 activations for quantized weights: integer products "
                "(not exact; faster where the CPU has AVX-512 VNNI, about "
                "exact mode's speed on AVX2; the report's fast_kernel names "
                "the kernel)");
  sub->add_option("--repeat", o->r.repeat,
                  "run N times and report the median time")
      ->check(CLI::PositiveNumber);
  sub->add_flag("--profile", o->r.profile,
                "time every operator type and print the table (with "
                "--repeat N > 1: the runs after the first, a warm-up)");
  sub->add_flag("--json", o->json, "print outputs, timings and memory as JSON");
  sub->add_flag("-q,--quiet", o->quiet, "print nothing on success");
  return [o]() -> Status {
    for (const std::string& in : o->inputs) {
      const size_t eq = in.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == in.size()) {
        return InvalidArgument("--input " + in + ": expected NAME=FILE.npy");
      }
      o->r.inputs[in.substr(0, eq)] = in.substr(eq + 1);
    }
    LB_ASSIGN_OR_RETURN(RunModelResult r, RunModel(o->r));
    if (o->json) {
      fmt::print("{}\n", r.report.dump(2));
    } else if (!o->quiet) {
      fmt::print("{}", r.text);
    }
    return Status::Ok();
  };
}

}  // namespace lowbit::cli
