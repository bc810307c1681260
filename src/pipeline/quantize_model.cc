#include "pipeline/quantize_model.h"

#include <filesystem>
#include <memory>

#include "formats/ggml/ggml_type.h"
#include "formats/scheme.h"
#include "io/model.h"
#include "io/onnx_model.h"
#include "pipeline/calibrate.h"
#include "pipeline/mixed_precision.h"
#include "pipeline/quantize_paths.h"

namespace lowbit {

Result<QuantConfig> ConfigFor(const QuantizeModelOptions& o,
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
  LB_ASSIGN_OR_RETURN(
      c.method,
      ParseMethod(o.method == "gptq" || o.method == "auto" ||
                          o.method == "awq" || o.method == "adaround" ||
                          o.method == "brecq"
                      ? "mse"
                      : o.method));
  if (o.per_tensor) c.granularity = static_cast<int>(Granularity::kTensor);
  if (o.per_channel) c.granularity = static_cast<int>(Granularity::kChannel);
  if (o.group_size != 0) {
    c.granularity = static_cast<int>(Granularity::kGroup);
    c.group_size = o.group_size;
  }
  if (o.symmetric) c.symmetric = 1;
  if (o.asymmetric) c.symmetric = 0;
  if (o.zero_point == "auto") {
    c.zero_type =
        c.scheme.kind == SchemeKind::kInt && c.scheme.bits == 2 && !o.symmetric
            ? ZeroType::kF16
            : ZeroType::kCode;
  } else {
    const auto zt = ParseZeroType(o.zero_point);
    if (!zt) {
      return InvalidArgument("--zero-point " + o.zero_point +
                             ": expected auto, code or f16");
    }
    c.zero_type = *zt;
  }
  c.seed = o.seed;
  if (o.scale_dtype == "f16") c.scale_type = ScaleType::kF16;
  if (o.scale_dtype == "f32") c.scale_type = ScaleType::kF32;
  QuantConfig probe = c;  // check the options before reading anything
  LB_RETURN_IF_ERROR(probe.Resolve(1024));
  return c;
}

Result<QuantConfig> ConfigForSpec(const QuantizeModelOptions& o,
                                  const std::string& spec) {
  QuantizeModelOptions c = o;
  std::vector<std::string> parts;
  size_t at = 0;
  while (true) {
    const size_t colon = spec.find(':', at);
    parts.push_back(spec.substr(at, colon - at));
    if (colon == std::string::npos) break;
    at = colon + 1;
  }
  for (size_t i = 1; i < parts.size(); ++i) {
    const std::string& p = parts[i];
    auto shape = [&] {
      c.per_tensor = c.per_channel = false;
      c.group_size = 0;
    };
    if (p == "channel") {
      shape();
      c.per_channel = true;
    } else if (p == "tensor") {
      shape();
      c.per_tensor = true;
    } else if (p.size() > 1 && p[0] == 'g' &&
               p.find_first_not_of("0123456789", 1) == std::string::npos &&
               p.size() < 10) {
      shape();
      c.group_size = std::stoll(p.substr(1));
    } else if (p == "asym" || p == "sym") {
      c.symmetric = p == "sym";
      c.asymmetric = p == "asym";
    } else if (p == "zf16" || p == "zcode") {
      c.zero_point = p.substr(1);
    } else {
      return InvalidArgument(
          "'" + spec + "': unknown part '" + p +
          "' (expected gN, channel, tensor, asym, sym, zf16 or zcode)");
    }
  }
  return ConfigFor(c, parts[0]);
}

// The calibration options of `o` for running the samples through `model`.
static CalibOptions CalibOptionsFor(const QuantizeModelOptions& o,
                                    const std::string& model) {
  CalibOptions co;
  co.model = model;
  co.calib_dir = o.calib;
  co.task = o.calib_task;
  co.threads = o.threads;
  co.max_samples = o.calib_samples;
  return co;
}

Result<std::unique_ptr<CalibStatsFile>> CalibrationStats(
    const QuantizeModelOptions& o) {
  if (!o.stats.empty()) return CalibStatsFile::Open(o.stats);
  if (o.calib.empty()) return std::unique_ptr<CalibStatsFile>();
  LB_ASSIGN_OR_RETURN(CalibResult cr,
                      CollectCalibStats(CalibOptionsFor(o, o.model)));
  return CalibStatsFile::FromLayers(cr.layers, cr.info, "--calib " + o.calib);
}

// Sequential calibration (--calib-passes N >= 2): pass k collects each
// layer's input statistics on the model quantized with pass k - 1's (written
// with float weights beside the output, then removed), so that every layer
// sees the inputs its quantized predecessors give it, as GPTQ's sequential
// scheme does (arXiv 2210.17323, section 4), at the cost of a collection per
// pass instead of one per layer. AWQ's input Mul would change what a layer
// sees, so the intermediate passes use GPTQ where awq or auto is asked.
static Result<std::unique_ptr<CalibStatsFile>> SequentialStats(
    const QuantizeModelOptions& o, const TensorSelector& sel,
    const ImportanceFile* imp) {
  LB_ASSIGN_OR_RETURN(std::unique_ptr<CalibStatsFile> stats,
                      CalibrationStats(o));
  for (int pass = 2; pass <= o.calib_passes; ++pass) {
    QuantizeModelOptions p = o;
    p.out = o.out + ".lowbit-pass" + std::to_string(pass - 1) + ".onnx";
    p.onnx_format = "float";
    p.external_data = false;
    if (p.method == "awq" || p.method == "auto" || p.method == "adaround" ||
        p.method == "brecq") {
      p.method = "gptq";
    }
    const pipeline_internal::RemoveOnExit remove{p.out};
    LB_RETURN_IF_ERROR(
        pipeline_internal::QuantizeOnnxModel(p, sel, imp, stats.get())
            .status());
    LB_ASSIGN_OR_RETURN(CalibResult cr,
                        CollectCalibStats(CalibOptionsFor(o, p.out)));
    cr.info.model = o.model;
    cr.info.mode = "sequential, pass " + std::to_string(pass) + " of " +
                   std::to_string(o.calib_passes) +
                   ": inputs from the model quantized with pass " +
                   std::to_string(pass - 1) + "'s statistics";
    stats = CalibStatsFile::FromLayers(
        cr.layers, cr.info,
        "--calib " + o.calib + " (pass " + std::to_string(pass) + ")");
  }
  return stats;
}

Result<QuantizeModelResult> QuantizeModel(const QuantizeModelOptions& o) {
  if (o.per_tensor + o.per_channel + (o.group_size != 0) > 1) {
    return InvalidArgument(
        "--per-tensor, --per-channel and --group-size exclude each other");
  }
  if (o.symmetric && o.asymmetric) {
    return InvalidArgument("--symmetric and --asymmetric exclude each other");
  }
  LB_ASSIGN_OR_RETURN(TensorSelector sel,
                      TensorSelector::Create(o.scheme, o.include, o.exclude,
                                             o.rules, o.min_elements));
  if (o.out == o.model) {
    return InvalidArgument("-o " + o.out +
                           ": refusing to overwrite the input model");
  }
  if (!o.calib.empty() && !o.stats.empty()) {
    return InvalidArgument("--calib and --stats exclude each other");
  }
  const bool calibrated = !o.calib.empty() || !o.stats.empty();
  if (o.method == "brecq" && o.calib.empty()) {
    return InvalidArgument(
        "--method brecq needs --calib DIR: the samples whose block outputs "
        "the quantized blocks learn (statistics alone are not enough)");
  }
  if (o.method == "brecq" && o.target_bpw > 0.0) {
    return InvalidArgument(
        "--method brecq and --target-bpw exclude each other");
  }
  if ((o.method == "gptq" || o.method == "auto" || o.method == "awq" ||
       o.method == "adaround") &&
      !calibrated) {
    return InvalidArgument("--method " + o.method +
                           " needs calibration data: --calib DIR (samples) or "
                           "--stats FILE (from lowbit stats)");
  }
  if (o.calib_passes < 1 || o.calib_passes > 8) {
    return InvalidArgument("--calib-passes " + std::to_string(o.calib_passes) +
                           ": 1 to 8");
  }
  if (o.calib_passes > 1 && (o.calib.empty() || o.target_bpw > 0.0)) {
    return InvalidArgument(
        "--calib-passes needs --calib DIR (the samples are run again on each "
        "pass's model) and no --target-bpw");
  }
  if (o.target_bpw > 0.0 && o.calib.empty()) {
    return InvalidArgument(
        "--target-bpw needs --calib DIR: each layer's candidates are "
        "measured on the model's outputs for those samples");
  }
  const bool gguf = LooksLikeGguf(o.model);
  if (!o.calib.empty() && !HasOnnxExtension(o.model)) {
    return InvalidArgument(
        "--calib works on ONNX models (lowbit's engine runs them to collect "
        "the statistics); GGUF models take --stats FILE (by tensor name)");
  }
  if (!o.stats.empty() && !HasOnnxExtension(o.model) && !gguf) {
    return InvalidArgument("--stats works on ONNX and GGUF models");
  }
  if (gguf && (o.method == "auto" || o.method == "awq" ||
               o.method == "adaround" || o.method == "brecq")) {
    return InvalidArgument("--method " + o.method +
                           " works on ONNX models; GGUF models take gptq");
  }
  std::unique_ptr<ImportanceFile> imp;
  if (!o.importance.empty()) {
    LB_ASSIGN_OR_RETURN(imp, ImportanceFile::Open(o.importance));
  }
  // Every scheme named must suit the input's format, whether or not a tensor
  // ends up using it.
  for (const auto& [option, name] : sel.AllSchemes()) {
    if (gguf) {
      const GgmlTypeInfo* info = FindGgmlTypeInfoByName(name);
      if (info == nullptr || !info->codec) {
        return InvalidArgument(option + ": GGUF models take the ggml types " +
                               AllGgmlTypeNames());
      }
    } else {
      const Status st = ConfigFor(o, name).status();
      if (!st.ok() && option.rfind("--rule", 0) == 0) {
        return InvalidArgument(option + ": " + st.message());
      }
      if (!st.ok()) return st;
    }
  }
  using namespace pipeline_internal;
  if (gguf) {
    LB_ASSIGN_OR_RETURN(std::unique_ptr<CalibStatsFile> stats,
                        CalibrationStats(o));
    return QuantizeGgufModel(o, sel, imp.get(), stats.get());
  }
  if (HasOnnxExtension(o.model)) {
    LB_ASSIGN_OR_RETURN(std::unique_ptr<CalibStatsFile> stats,
                        o.calib_passes > 1 ? SequentialStats(o, sel, imp.get())
                                           : CalibrationStats(o));
    if (o.target_bpw <= 0.0) {
      return QuantizeOnnxModel(o, sel, imp.get(), stats.get());
    }
    return QuantizeMixedPrecision(o, sel, imp.get(), stats.get());
  }
  return QuantizeSafetensorsModel(o, sel, imp.get());
}

}  // namespace lowbit
