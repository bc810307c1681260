// lowbit report: error statistics and sizes of a quantized model against its
// original.
#include <fmt/format.h>

#include "eval/report.h"
#include "io/model.h"
#include "tools/lowbit/commands.h"

namespace lowbit::cli {

Runner AddReport(CLI::App& app) {
  struct Opts {
    std::string original, quantized;
    bool json = false;
    int threads = 0;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub =
      app.add_subcommand("report",
                         "Per-tensor and total error (MSE, relative RMSE, "
                         "SQNR, cosine, max error), bits "
                         "per weight and bytes of QUANTIZED against ORIGINAL");
  sub->add_option("ORIGINAL", o->original,
                  "the original model (.safetensors or .gguf)")
      ->required();
  sub->add_option("QUANTIZED", o->quantized,
                  "the model written by lowbit quantize")
      ->required();
  sub->add_flag("--json", o->json,
                "print JSON: one object per tensor and a 'total'");
  sub->add_option("--threads", o->threads, "threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  return [o]() -> Status {
    LB_ASSIGN_OR_RETURN(auto a, OpenModel(o->original));
    LB_ASSIGN_OR_RETURN(auto b, OpenModel(o->quantized));
    ThreadPool pool(o->threads);
    LB_ASSIGN_OR_RETURN(ModelReport r, CompareModels(*a, *b, pool));
    if (o->json) {
      fmt::print("{}\n", ReportToJson(r).dump(2));
    } else {
      fmt::print("{}", ReportToText(r));
    }
    return Status::Ok();
  };
}

}  // namespace lowbit::cli
