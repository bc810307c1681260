// lowbit sensitivity: how much each weight's quantization changes the model's
// output on calibration samples (pipeline/sensitivity.h), ranked.
#include <fmt/format.h>

#include <algorithm>

#include "pipeline/sensitivity.h"
#include "tools/lowbit/commands.h"

namespace lowbit::cli {

Runner AddSensitivity(CLI::App& app) {
  struct Opts {
    QuantizeModelOptions q;
    std::vector<std::string> candidates;
    bool json = false, quiet = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "sensitivity",
      "Quantize one layer at a time and measure how much the model's output\n"
      "changes on calibration samples (lowbit's engine): the relative squared\n"
      "error sum ||y_q - y||^2 / sum ||y||^2. Layers are ranked, most\n"
      "sensitive first: the ones to keep at more bits. With several\n"
      "--scheme specs, every layer is measured under each.\n"
      "Example:\n"
      "  lowbit sensitivity rec.onnx --calib lines/ --calib-task ocr "
      "--scheme int3:g32 --method gptq");
  sub->add_option("MODEL", o->q.model, "the fp32 model (.onnx)")->required();
  sub->add_option("--scheme", o->candidates,
                  "SCHEME[:gN|:channel|:tensor][:asym|:sym] (repeatable or "
                  "comma-separated)")
      ->required()
      ->delimiter(',');
  sub->add_option("--calib", o->q.calib, "the folder of samples")->required();
  sub->add_option("--calib-task", o->q.calib_task,
                  "how images are read: ocr (text lines)");
  sub->add_option("--stats", o->q.stats,
                  "statistics from lowbit stats (else collected from --calib)");
  sub->add_option("--method", o->q.method,
                  "minmax, percentile:P, mse, hqq, gptq or auto")
      ->capture_default_str();
  sub->add_option("--samples", o->q.sensitivity_samples,
                  "calibration samples each trial runs")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--include", o->q.include,
                  "only weights whose name matches this regex (repeatable)");
  sub->add_option("--exclude", o->q.exclude,
                  "skip weights whose name matches this regex (repeatable)");
  sub->add_option("--threads", o->q.threads, "threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  sub->add_flag("--json", o->json, "print every measurement as JSON");
  sub->add_flag("-q,--quiet", o->quiet, "print nothing on success");
  return [o]() -> Status {
    if (o->q.method != "gptq" && o->q.method != "auto") {
      LB_RETURN_IF_ERROR(ConfigForSpec(o->q, o->candidates[0]).status());
    }
    LB_ASSIGN_OR_RETURN(SensitivityResult r,
                        MeasureSensitivity(o->q, o->candidates));
    if (o->json) {
      fmt::print("{}\n", r.report.dump(2));
      return Status::Ok();
    }
    if (o->quiet) return Status::Ok();
    std::vector<const LayerSensitivity*> order;
    for (const auto& l : r.layers) order.push_back(&l);
    std::stable_sort(order.begin(), order.end(), [](auto* a, auto* b) {
      return a->costs[0].output_error > b->costs[0].output_error;
    });
    fmt::print("{:<40} {:>8} {:>9}", "weight (most sensitive first)", "op",
               "params");
    for (const std::string& c : o->candidates) fmt::print(" {:>16}", c);
    fmt::print("\n");
    for (const LayerSensitivity* l : order) {
      fmt::print("{:<40} {:>8} {:>9}", l->weight, l->op, l->params);
      for (const LayerCost& c : l->costs) {
        fmt::print(" {:>16.3e}", c.output_error);
      }
      fmt::print("\n");
    }
    fmt::print(
        "output error: relative squared error of the outputs on {} samples, "
        "one layer quantized at a time; {:.1f} s\n",
        r.samples, r.seconds);
    return Status::Ok();
  };
}

}  // namespace lowbit::cli
