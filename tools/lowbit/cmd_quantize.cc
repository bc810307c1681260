// lowbit quantize: quantize the selected weights of a model and write the
// result (temporary file + rename), then print the error report of the file
// read back. safetensors in: lowbit's schemes; GGUF in: ggml's block formats
// (quantize_gguf.cc).
#include <fmt/format.h>

#include <chrono>
#include <set>

#include "core/progress.h"
#include "eval/report.h"
#include "formats/ggml/ggml_type.h"
#include "io/onnx_model.h"
#include "io/quantized_safetensors.h"
#include "quant/quantize.h"
#include "tools/lowbit/commands.h"
#include "tools/lowbit/quantize_options.h"

namespace lowbit::cli {

Result<QuantConfig> ConfigFor(const QuantizeOptions& o,
                              const std::string& name) {
  const auto scheme = ParseScheme(name);
  if (!scheme) {
    if (FindGgmlTypeInfoByName(name) != nullptr) {
      return InvalidArgument(
          "scheme " + name +
          " is a ggml block format: it is written to GGUF files (give "
          "a .gguf model); safetensors take " +
          AllSchemeNames());
    }
    return InvalidArgument("--scheme " + name + ": unknown scheme; one of " +
                           AllSchemeNames() + " (safetensors) or " +
                           AllGgmlTypeNames() + " (GGUF)");
  }
  QuantConfig c;
  c.scheme = *scheme;
  LB_ASSIGN_OR_RETURN(c.method, ParseMethod(o.method));
  if (o.per_tensor) c.granularity = static_cast<int>(Granularity::kTensor);
  if (o.per_channel) c.granularity = static_cast<int>(Granularity::kChannel);
  if (o.group_size != 0) {
    c.granularity = static_cast<int>(Granularity::kGroup);
    c.group_size = o.group_size;
  }
  if (o.symmetric) c.symmetric = 1;
  if (o.asymmetric) c.symmetric = 0;
  c.seed = o.seed;
  if (o.scale_dtype == "f16") c.scale_type = ScaleType::kF16;
  if (o.scale_dtype == "f32") c.scale_type = ScaleType::kF32;
  QuantConfig probe = c;  // check the options before reading anything
  LB_RETURN_IF_ERROR(probe.Resolve(1024));
  return c;
}

namespace {

Status QuantizeSafetensors(const QuantizeOptions& o, const TensorSelector& sel,
                           const ImportanceFile* importance) {
  LB_RETURN_IF_ERROR(ConfigFor(o, o.scheme).status());
  LB_ASSIGN_OR_RETURN(auto m, SafetensorsModel::Open(o.model));
  int64_t total = 0;
  for (const ModelTensor& t : m->tensors()) total += sel.Selected(t);
  ThreadPool pool(o.threads);
  Progress progress(total, "tensors");
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<OutputTensor> outs;
  for (const ModelTensor& t : m->tensors()) {
    OutputTensor ot;
    ot.name = t.name;
    ot.dtype = t.dtype;
    ot.shape = t.shape;
    if (t.quantized()) {
      ot.q = t.q;  // already quantized: kept as is
    } else if (sel.Selected(t)) {
      LB_ASSIGN_OR_RETURN(QuantConfig cfg, ConfigFor(o, sel.SchemeFor(t.name)));
      // f32 data is read in place from the mapping when aligned (zero-copy);
      // other float types are converted first.
      std::vector<float> converted;
      const float* data = nullptr;
      if (t.dtype == DType::kF32 &&
          reinterpret_cast<uintptr_t>(t.plain->data) % alignof(float) == 0) {
        data = reinterpret_cast<const float*>(t.plain->data);
      } else {
        LB_ASSIGN_OR_RETURN(converted, m->ReadFloat(t));
        data = converted.data();
      }
      std::vector<float> imp;
      if (importance != nullptr) {
        LB_ASSIGN_OR_RETURN(
            imp, importance->For(t.name, t.shape.size() >= 2
                                             ? NumElements(t.shape) / t.shape[0]
                                             : NumElements(t.shape)));
      }
      auto q = Quantize(data, t.shape, cfg, pool, imp);
      if (!q.ok())
        return q.status().WithPrefix(o.model + ": tensor '" + t.name + "'");
      q->source_dtype = t.dtype;
      ot.q = std::make_shared<QuantizedTensor>(std::move(q).value());
      m->Release(t);
      progress.Step(t.name);
    } else {
      ot.bytes = t.plain->data;
    }
    outs.push_back(std::move(ot));
  }
  progress.Done();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  auto meta = m->metadata();
  meta["lowbit.version"] = LOWBIT_VERSION;
  std::set<std::string> schemes;
  for (const OutputTensor& t : outs) {
    if (t.q) schemes.insert(t.q->scheme.Name());
  }
  if (schemes.empty()) {
    meta.erase("lowbit.scheme");
  } else {
    meta["lowbit.scheme"] = schemes.size() == 1 ? *schemes.begin() : "mixed";
  }
  LB_RETURN_IF_ERROR(WriteSafetensorsModel(o.out, outs, meta));

  // Report: the written file read back against the original.
  LB_ASSIGN_OR_RETURN(auto back, SafetensorsModel::Open(o.out));
  LB_ASSIGN_OR_RETURN(ModelReport r, CompareModels(*m, *back, pool));
  nlohmann::json j = ReportToJson(r);
  j["seconds"] = secs;
  if (!o.report.empty())
    LB_RETURN_IF_ERROR(WriteTextFile(o.report, j.dump(2) + "\n"));
  if (o.json) {
    fmt::print("{}\n", j.dump(2));
  } else if (!o.quiet) {
    fmt::print("{}", ReportToText(r));
    fmt::print("quantized {} tensors in {:.2f} s, wrote {}\n", total, secs,
               o.out);
  }
  return Status::Ok();
}

}  // namespace

Runner AddQuantize(CLI::App& app) {
  auto o = std::make_shared<QuantizeOptions>();
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
      "'output=q6_k'");
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
  auto* sy =
      sub->add_flag("--symmetric", o->symmetric, "no zero point (default)");
  auto* as = sub->add_flag("--asymmetric", o->asymmetric,
                           "integer zero point per group (int2..int8 only)");
  sy->excludes(as);
  sub->add_option(
         "--method", o->method,
         "scale / clipping choice: minmax, percentile:P (50..100, e.g. "
         "percentile:99.9), or mse (search of the clipping range, never worse "
         "than minmax)")
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
  sub->add_option("--report", o->report,
                  "also write the JSON report to this file");
  sub->add_flag("--json", o->json, "print the report as JSON on stdout");
  sub->add_flag("-q,--quiet", o->quiet, "print nothing on success");

  return [o]() -> Status {
    LB_ASSIGN_OR_RETURN(TensorSelector sel, TensorSelector::Create(*o));
    if (o->out == o->model) {
      return InvalidArgument("-o " + o->out +
                             ": refusing to overwrite the input model");
    }
    std::unique_ptr<ImportanceFile> imp;
    if (!o->importance.empty()) {
      LB_ASSIGN_OR_RETURN(imp, ImportanceFile::Open(o->importance));
    }
    // Every scheme named on the command line must suit the input's format,
    // whether or not a tensor ends up using it.
    const bool gguf = LooksLikeGguf(o->model);
    for (const auto& [option, name] : sel.AllSchemes()) {
      if (gguf) {
        const GgmlTypeInfo* info = FindGgmlTypeInfoByName(name);
        if (info == nullptr || !info->codec) {
          return InvalidArgument(option + ": GGUF models take the ggml types " +
                                 AllGgmlTypeNames());
        }
      } else {
        const Status st = ConfigFor(*o, name).status();
        if (!st.ok() && option.rfind("--rule", 0) == 0) {
          return InvalidArgument(option + ": " + st.message());
        }
        if (!st.ok()) return st;
      }
    }
    if (gguf) return QuantizeGguf(*o, sel, imp.get());
    if (HasOnnxExtension(o->model)) return QuantizeOnnx(*o, sel, imp.get());
    return QuantizeSafetensors(*o, sel, imp.get());
  };
}

}  // namespace lowbit::cli
