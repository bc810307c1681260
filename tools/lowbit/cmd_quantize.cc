// lowbit quantize: parses the options and runs QuantizeModel
// (pipeline/quantize_model.h), which quantizes the selected weights, writes the
// result (temporary file + rename) and measures the error; prints its report.
#include <fmt/format.h>

#include "formats/ggml/ggml_type.h"
#include "formats/scheme.h"
#include "pipeline/quantize_model.h"
#include "tools/lowbit/commands.h"

namespace lowbit::cli {
namespace {

struct QuantizeCli {
  QuantizeModelOptions q;
  std::string report;
  bool json = false, quiet = false;
};

}  // namespace

Runner AddQuantize(CLI::App& app) {
  auto c = std::make_shared<QuantizeCli>();
  QuantizeModelOptions* o = &c->q;
  CLI::App* sub = app.add_subcommand(
      "quantize",
      "Quantize the weights of MODEL with a scheme and write OUT.\n"
      "safetensors models take lowbit's schemes; GGUF models take ggml's block "
      "formats\n"
      "(q4_k, q6_k, iq4_nl, ...), keep every key and non-weight tensor, and "
      "load in\n"
      "llama.cpp. By default every float tensor with 2 or more dimensions is "
      "quantized;\n"
      "1-D tensors (biases, norms) are kept. Defaults per lowbit scheme: "
      "int2..int4,\n"
      "nf4 (64), fp4_e2m1 and mxfp4 use groups of 32 along the input "
      "dimension;\n"
      "int5..int8, fp8, binary, ternary and kmeans one scale (or codebook) per "
      "channel.\n"
      "Examples:\n"
      "  lowbit quantize m.safetensors -o m.q.safetensors --scheme int4 "
      "--group-size 128\n"
      "  lowbit quantize m.gguf -o m.q4k.gguf --scheme q4_k --rule "
      "'output=q6_k'\n"
      "  lowbit quantize rec.onnx -o rec.int4.onnx --scheme int4 "
      "--per-channel --method gptq --calib lines/ --calib-task ocr");
  sub->add_option("MODEL", o->model,
                  "input model (.safetensors, .gguf or .onnx)")
      ->required();
  sub->add_option("-o,--output", o->out,
                  "output file (same format as the input)")
      ->required();
  sub->add_option(
         "--scheme", o->scheme,
         "safetensors: " + AllSchemeNames() + "; GGUF: " + AllGgmlTypeNames())
      ->required();
  sub->add_option(
      "--rule", o->rules,
      "REGEX=SCHEME: tensors whose name matches get SCHEME (repeatable, first "
      "match wins, else --scheme)");
  auto* pt = sub->add_flag("--per-tensor", o->per_tensor,
                           "one scale for the whole tensor");
  auto* pc = sub->add_flag("--per-channel", o->per_channel,
                           "one scale per output channel (row)");
  auto* gs = sub->add_option(
      "--group-size", o->group_size,
      "one scale per N consecutive inputs (power of two >= 16)");
  pt->excludes(pc)->excludes(gs);
  pc->excludes(gs);
  auto* sy = sub->add_flag("--symmetric", o->symmetric,
                           "no zero point (default, except int2 and int4)");
  auto* as = sub->add_flag(
      "--asymmetric", o->asymmetric,
      "integer zero point per group (int2..int8 only; the default for int2 "
      "and int4)");
  sy->excludes(as);
  sub->add_option(
         "--zero-point", o->zero_point,
         "storage of asymmetric zero points: code (an integer of the scheme's "
         "width; what DequantizeLinear and the integer kernels take), f16 "
         "(any f16 value, refitted by least squares with the scale: the "
         "group's mean rounding error goes; +0.375 bits per weight at groups "
         "of 32; implies --asymmetric) or auto (f16 for int2, where it reads "
         "83% of the recognizer's characters against 8%; else code)")
      ->check(CLI::IsMember({"auto", "code", "f16"}))
      ->capture_default_str();
  sub->add_option(
         "--method", o->method,
         "scale / clipping choice: minmax, percentile:P (50..100, e.g. "
         "percentile:99.9), mse (search of the clipping range and "
         "least-squares refit, never worse than minmax), hqq (integer "
         "schemes: half-quadratic l_p fit, data-free); with --calib or "
         "--stats (ONNX): gptq (GPTQ, arXiv 2210.17323: codes on mse's "
         "scales, each column's rounding error compensated by the next "
         "ones, then the scales refitted on the layer-output error; GGUF "
         "with --stats: on ggml's blocks too), awq (AWQ, arXiv 2306.00978: "
         "salient input channels scaled "
         "up, their inputs down by a Mul), adaround (AdaRound, arXiv "
         "2004.10568: each weight rounds up or down as learned on the "
         "layer's statistics, on GPTQ's scales, kept where it beats GPTQ; "
         "integer schemes), brecq (BRECQ, arXiv 2102.05426, needs --calib "
         "DIR: the model cut into blocks where one value is carried, each "
         "block's rounding learned so that its output on the samples, "
         "from the blocks quantized before it, matches fp32's; on GPTQ's "
         "scales, kept per block where it beats GPTQ; integer schemes) or "
         "auto "
         "(per layer, the lowest layer-output error of mse, hqq, awq and "
         "gptq)")
      ->capture_default_str();
  sub->add_option("--brecq-iterations", o->brecq_iterations,
                  "--method brecq: Adam steps per block (each runs "
                  "--brecq-batch samples forward and back through the block)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--brecq-batch", o->brecq_batch,
                  "--method brecq: calibration samples per step")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--brecq-loss", o->brecq_loss,
                  "--method brecq: fisher (each block's output error "
                  "weighted by the squared gradient of the cross-entropy "
                  "against fp32's own decisions, as BRECQ weights by the "
                  "Fisher information; models ending in a Softmax) or mse")
      ->check(CLI::IsMember({"fisher", "mse"}))
      ->capture_default_str();
  sub->add_option("--brecq-init", o->brecq_init,
                  "--method brecq: where each weight's rounding starts: codes "
                  "(GPTQ's code, learning whether to move it one step "
                  "towards the float weight) or weights (AdaRound's: the "
                  "float weight, between its two nearest codes)")
      ->check(CLI::IsMember({"codes", "weights"}))
      ->capture_default_str();
  sub->add_option("--brecq-lr", o->brecq_lr,
                  "--method brecq: Adam's step size on the rounding variables")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--brecq-lambda", o->brecq_lambda,
                  "--method brecq: weight of the regulariser that pushes each "
                  "rounding to down or up, against the block's output error "
                  "relative to GPTQ's")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option(
         "--scale-dtype", o->scale_dtype,
         "storage of scales and codebooks: auto (f16 when it fits), f16, f32")
      ->check(CLI::IsMember({"auto", "f16", "f32"}))
      ->capture_default_str();
  sub->add_option(
      "--importance", o->importance,
      "safetensors file of one f32 vector per tensor name (one weight per "
      "input column): every encoder minimises the weighted error");
  auto* cal = sub->add_option(
      "--calib", o->calib,
      "ONNX only: a folder of calibration samples (.npy inputs, or line "
      "images with --calib-task ocr) run on lowbit's engine: every method's "
      "search is then weighted by E[x^2] of each input column, and gptq uses "
      "the inputs' second moments");
  sub->add_option("--calib-task", o->calib_task,
                  "how --calib images are read: ocr (PaddleOCR text lines)");
  sub->add_option("--calib-samples", o->calib_samples,
                  "use at most N calibration samples (0: all)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option(
         "--calib-passes", o->calib_passes,
         "with --calib: 1 takes every layer's inputs from the fp32 model; N "
         ">= 2 is sequential calibration: pass k runs the samples through "
         "the model quantized with pass k - 1's statistics (a collection "
         "per pass), so each layer is fitted to the inputs its quantized "
         "predecessors give it")
      ->check(CLI::Range(1, 8))
      ->capture_default_str();
  sub->add_flag("--no-gptq-refit{false}", o->gptq_refit,
                "--method gptq/auto: keep the search's scales (by default each "
                "row's scales and zero points are refitted by least squares on "
                "the layer-output error once GPTQ has chosen the codes)");
  sub->add_option(
         "--equalize", o->equalize,
         "ONNX, --method minmax/percentile/mse/hqq: input-channel "
         "equalization. Each layer's input channels are scaled by s = "
         "(largest |w| of the channel)^-alpha before quantizing, alpha per "
         "layer in 0..0.5 by the weight error (the layer-output error with "
         "statistics); the layer's input is scaled by 1/s, folded into the "
         "operator before it where the graph allows, else an explicit Mul. "
         "auto: on for asymmetric int with f16 zero points in groups of at "
         "most 128, but not for hqq (data-free int4 g32 with --zero-point f16 "
         "reads 98.8% of "
         "the recognizer's characters with it, 98.2% without)")
      ->check(CLI::IsMember({"auto", "on", "off"}))
      ->capture_default_str();
  auto* st = sub->add_option(
      "--stats", o->stats,
      "calibration statistics written by `lowbit stats` (instead of "
      "--calib); GGUF models: statistics by tensor name, for --method gptq "
      "or, with the default method, the blocks' search weighted by E[x^2]");
  cal->excludes(st);
  sub->add_option(
         "--target-bpw", o->target_bpw,
         "ONNX, with --calib: mixed precision. Each layer gets one of "
         "--candidates while the quantized weights take at most this many "
         "bits per weight as stored. Each layer's output error under each "
         "candidate is measured alone; greedy choices from every subset of "
         "the candidates are then run whole on the calibration samples, and "
         "the one whose decisions differ least from fp32's is written (with "
         "--calib-task ocr: CTC edits; otherwise argmax changes along the "
         "output's last axis). The report lists every trial.")
      ->check(CLI::PositiveNumber);
  sub->add_option("--candidates", o->candidates,
                  "for --target-bpw: SCHEME[:gN|:channel|:tensor][:asym|:sym] "
                  "specs (default int8:channel,int4:channel,int4:g32,"
                  "int3:channel,int3:g32,int2:g32; with up to 6, every "
                  "subset is tried)")
      ->delimiter(',');
  sub->add_option("--sensitivity-samples", o->sensitivity_samples,
                  "for --target-bpw: calibration samples each layer's "
                  "candidates are measured on")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--decision-samples", o->decision_samples,
                  "for --target-bpw: calibration samples each whole trial "
                  "choice runs on (0: all)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option(
      "--include", o->include,
      "quantize only tensors whose name matches this regex (repeatable)");
  sub->add_option("--exclude", o->exclude,
                  "keep tensors whose name matches this regex (repeatable)");
  sub->add_option("--min-elements", o->min_elements,
                  "keep tensors with fewer elements than this")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--threads", o->threads, "threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--seed", o->seed, "seed of k-means++ (kmeans schemes)");
  sub->add_option(
         "--onnx-format", o->onnx_format,
         "ONNX only: how quantized weights are written. qdq: int8/uint8 codes "
         "+ "
         "DequantizeLinear (integers per tensor or per channel; ONNX Runtime's "
         "com.microsoft op below opset 13); decode: uint8 codes and a "
         "standard-operator decode (Cast/Gather, Sub, Mul; any scheme, two "
         "codes "
         "per byte up to 4 bits; opset "
         ">= 9); float: the dequantized weights as f32 (simulation); auto: qdq "
         "where DequantizeLinear keeps the bits, else decode; matmulnbits: "
         "MatMul "
         "weights as ONNX Runtime's MatMulNBits (2/4/8-bit integers, "
         "--group-size "
         "a power of two >= 16), the rest as auto")
      ->check(CLI::IsMember({"auto", "qdq", "decode", "float", "matmulnbits"}))
      ->capture_default_str();
  sub->add_flag(
      "--external-data", o->external_data,
      "ONNX only: write initializers of 1 KiB or more to OUT.data beside "
      "OUT (automatic for models over 2 GiB)");
  sub->add_flag("--gather", o->gather,
                "ONNX only: also quantize the tables of Gather (embeddings)");
  sub->add_option("--report", c->report,
                  "also write the JSON report to this file");
  sub->add_flag("--json", c->json, "print the report as JSON on stdout");
  sub->add_flag("-q,--quiet", c->quiet, "print nothing on success");

  return [c]() -> Status {
    LB_ASSIGN_OR_RETURN(QuantizeModelResult r, QuantizeModel(c->q));
    if (!c->report.empty())
      LB_RETURN_IF_ERROR(WriteTextFile(c->report, r.report.dump(2) + "\n"));
    if (c->json) {
      fmt::print("{}\n", r.report.dump(2));
    } else if (!c->quiet) {
      fmt::print("{}", r.text);
    }
    return Status::Ok();
  };
}

}  // namespace lowbit::cli
