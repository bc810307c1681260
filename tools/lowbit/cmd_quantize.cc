// lowbit quantize: quantize the selected weights of a safetensors model with
// one scheme, write the result (temporary file + rename), and print the error
// report.
#include <fmt/format.h>

#include <chrono>
#include <regex>
#include <set>

#include "core/progress.h"
#include "eval/report.h"
#include "io/quantized_safetensors.h"
#include "quant/quantize.h"
#include "tools/lowbit/commands.h"

namespace lowbit::cli {

Runner AddQuantize(CLI::App& app) {
  struct Opts {
    std::string model, out, scheme, method = "mse", report,
                                    scale_dtype = "auto";
    bool per_tensor = false, per_channel = false, symmetric = false,
         asymmetric = false;
    int64_t group_size = 0;
    std::vector<std::string> include, exclude;
    int64_t min_elements = 0;
    int threads = 0;
    bool json = false, quiet = false;
    uint64_t seed = 0x10b17;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "quantize",
      "Quantize the weights of MODEL with a scheme and write OUT.\n"
      "By default every float tensor with 2 or more dimensions is quantized; "
      "1-D tensors\n"
      "(biases, norms) are kept. Defaults per scheme: int2..int4, nf4 (64), "
      "fp4_e2m1 and\n"
      "mxfp4 use groups of 32 along the input dimension; int5..int8, fp8, "
      "binary, ternary\n"
      "and kmeans use one scale (or codebook) per output channel.\n"
      "Example: lowbit quantize m.safetensors -o m.q.safetensors --scheme int4 "
      "--group-size 128");
  sub->add_option("MODEL", o->model, "input .safetensors model")->required();
  sub->add_option("-o,--output", o->out, "output .safetensors file")
      ->required();
  sub->add_option("--scheme", o->scheme, "one of: " + AllSchemeNames())
      ->required();
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
         "scale / clipping choice: minmax, percentile:P (e.g. "
         "percentile:99.9), "
         "or mse (search of the clipping range, never worse than minmax)")
      ->capture_default_str();
  sub->add_option(
         "--scale-dtype", o->scale_dtype,
         "storage of scales and codebooks: auto (f16 when it fits), f16, f32")
      ->check(CLI::IsMember({"auto", "f16", "f32"}))
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
  sub->add_option("--report", o->report,
                  "also write the JSON report to this file");
  sub->add_flag("--json", o->json, "print the report as JSON on stdout");
  sub->add_flag("-q,--quiet", o->quiet, "print nothing on success");

  return [o]() -> Status {
    const auto scheme = ParseScheme(o->scheme);
    if (!scheme) {
      return InvalidArgument("--scheme " + o->scheme +
                             ": unknown scheme; one of " + AllSchemeNames());
    }
    QuantConfig base;
    base.scheme = *scheme;
    LB_ASSIGN_OR_RETURN(base.method, ParseMethod(o->method));
    if (o->per_tensor)
      base.granularity = static_cast<int>(Granularity::kTensor);
    if (o->per_channel)
      base.granularity = static_cast<int>(Granularity::kChannel);
    if (o->group_size != 0) {
      base.granularity = static_cast<int>(Granularity::kGroup);
      base.group_size = o->group_size;
    }
    if (o->symmetric) base.symmetric = 1;
    if (o->asymmetric) base.symmetric = 0;
    base.seed = o->seed;
    if (o->scale_dtype == "f16") base.scale_type = ScaleType::kF16;
    if (o->scale_dtype == "f32") base.scale_type = ScaleType::kF32;
    // Check the options once, before reading anything.
    {
      QuantConfig probe = base;
      LB_RETURN_IF_ERROR(probe.Resolve(1024));
    }
    std::vector<std::regex> inc, exc;
    for (const auto& r : o->include) {
      try {
        inc.emplace_back(r);
      } catch (const std::regex_error& e) {
        return InvalidArgument("--include " + r + ": bad regular expression");
      }
    }
    for (const auto& r : o->exclude) {
      try {
        exc.emplace_back(r);
      } catch (const std::regex_error& e) {
        return InvalidArgument("--exclude " + r + ": bad regular expression");
      }
    }
    if (o->out == o->model) {
      return InvalidArgument("-o " + o->out +
                             ": refusing to overwrite the input model");
    }

    LB_ASSIGN_OR_RETURN(auto m, SafetensorsModel::Open(o->model));
    auto selected = [&](const ModelTensor& t) {
      if (t.quantized() || !IsFloatWeight(t.dtype) || t.shape.size() < 2)
        return false;
      if (NumElements(t.shape) < o->min_elements || NumElements(t.shape) == 0)
        return false;
      if (!inc.empty() &&
          std::none_of(inc.begin(), inc.end(), [&](const std::regex& r) {
            return std::regex_search(t.name, r);
          }))
        return false;
      return std::none_of(exc.begin(), exc.end(), [&](const std::regex& r) {
        return std::regex_search(t.name, r);
      });
    };
    int64_t total = 0;
    for (const ModelTensor& t : m->tensors()) total += selected(t);

    ThreadPool pool(o->threads);
    Progress progress(total, "tensors");
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<OutputTensor> outs;
    int64_t nq = 0;
    for (const ModelTensor& t : m->tensors()) {
      OutputTensor ot;
      ot.name = t.name;
      ot.dtype = t.dtype;
      ot.shape = t.shape;
      if (t.quantized()) {
        ot.q = t.q;  // already quantized: kept as is
      } else if (selected(t)) {
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
        auto q = Quantize(data, t.shape, base, pool);
        if (!q.ok())
          return q.status().WithPrefix(o->model + ": tensor '" + t.name + "'");
        q->source_dtype = t.dtype;
        ot.q = std::make_shared<QuantizedTensor>(std::move(q).value());
        ++nq;
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
    LB_RETURN_IF_ERROR(WriteSafetensorsModel(o->out, outs, meta));

    // Report: the written file read back against the original.
    LB_ASSIGN_OR_RETURN(auto back, SafetensorsModel::Open(o->out));
    LB_ASSIGN_OR_RETURN(ModelReport r, CompareModels(*m, *back, pool));
    nlohmann::json j = ReportToJson(r);
    j["seconds"] = secs;
    if (!o->report.empty())
      LB_RETURN_IF_ERROR(WriteTextFile(o->report, j.dump(2) + "\n"));
    if (o->json) {
      fmt::print("{}\n", j.dump(2));
    } else if (!o->quiet) {
      fmt::print("{}", ReportToText(r));
      fmt::print("quantized {} tensors with {} in {:.2f} s, wrote {}\n", nq,
                 scheme->Name(), secs, o->out);
    }
    return Status::Ok();
  };
}

}  // namespace lowbit::cli
