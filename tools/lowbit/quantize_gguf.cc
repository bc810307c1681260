// `lowbit quantize` for GGUF files: ggml block formats chosen per tensor, every
// key and non-weight tensor kept, written tensor by tensor (memory bounded by
// the largest tensor).
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/progress.h"
#include "core/thread_pool.h"
#include "eval/report.h"
#include "formats/ggml/encode.h"
#include "formats/ggml/ggml_type.h"
#include "io/gguf_model.h"
#include "tools/lowbit/commands.h"
#include "tools/lowbit/quantize_options.h"

namespace lowbit::cli {
namespace {

// The nearest type whose block fits rows of `cols` values (llama.cpp's
// choices).
GgmlType FitRow(GgmlType t, int64_t cols) {
  const GgmlTypeInfo& info = GetGgmlTypeInfo(t);
  if (cols % info.block_elements == 0) return t;
  GgmlType next = GgmlType::kF16;
  switch (t) {
    case GgmlType::kQ2_K:
    case GgmlType::kQ3_K:
    case GgmlType::kIQ4_XS:
      next = GgmlType::kIQ4_NL;
      break;
    case GgmlType::kTQ1_0:
    case GgmlType::kTQ2_0:
      next = GgmlType::kQ4_0;
      break;
    case GgmlType::kQ4_K:
      next = GgmlType::kQ5_0;
      break;
    case GgmlType::kQ5_K:
      next = GgmlType::kQ5_1;
      break;
    case GgmlType::kQ6_K:
      next = GgmlType::kQ8_0;
      break;
    default:
      break;
  }
  return next == t ? GgmlType::kF16 : FitRow(next, cols);
}

void SetKV(std::vector<GgufKV>& kvs, const std::string& key, GgufValue v) {
  for (GgufKV& kv : kvs) {
    if (kv.key == key) {
      kv.value = std::move(v);
      return;
    }
  }
  kvs.push_back(GgufKV{key, std::move(v)});
}

struct Plan {
  const ModelTensor* t;
  uint32_t type_out;
  bool quantize;
};

}  // namespace

Status QuantizeGguf(const QuantizeOptions& o, const TensorSelector& sel,
                    const ImportanceFile* importance) {
  if (o.per_tensor || o.per_channel || o.group_size != 0 || o.symmetric ||
      o.asymmetric || o.scale_dtype != "auto" || o.method != "mse") {
    return InvalidArgument(
        "--per-tensor, --per-channel, --group-size, --symmetric, --asymmetric, "
        "--method "
        "and --scale-dtype shape lowbit's schemes; ggml block formats fix all "
        "of them");
  }
  LB_ASSIGN_OR_RETURN(auto in, GgufModel::Open(o.model));
  std::vector<Plan> plans;
  std::vector<std::string> notes;
  std::map<uint32_t, int64_t> params_by_type;
  for (const ModelTensor& t : in->tensors()) {
    Plan p{&t, t.gguf->ggml_type, false};
    if (sel.Selected(t)) {
      const std::string& name = sel.SchemeFor(t.name);
      const GgmlTypeInfo* info = FindGgmlTypeInfoByName(name);
      if (info == nullptr || !info->codec) {
        return InvalidArgument("scheme " + name + " (for tensor '" + t.name +
                               "'): GGUF files take the ggml types " +
                               AllGgmlTypeNames());
      }
      const int64_t cols = t.shape.back();
      const GgmlType fit = FitRow(info->type, cols);
      if (fit != info->type) {
        notes.push_back(fmt::format(
            "{}: rows of {} values do not fit {} blocks of {}; wrote {}",
            t.name, cols, info->ggml_name, info->block_elements,
            GetGgmlTypeInfo(fit).ggml_name));
      }
      p.type_out = static_cast<uint32_t>(fit);
      p.quantize = p.type_out != t.gguf->ggml_type;
      if (p.quantize) params_by_type[p.type_out] += NumElements(t.shape);
    }
    plans.push_back(p);
  }
  // general.file_type and lowbit.scheme name the requested scheme (llama.cpp
  // does the same when some tensors fall back to other types).
  std::vector<GgufKV> kvs = in->file().kvs();
  if (!params_by_type.empty()) {
    const GgmlTypeInfo* main = FindGgmlTypeInfoByName(o.scheme);
    if (main != nullptr && main->codec) {
      const int ft = GgufFileType(static_cast<uint32_t>(main->type));
      if (ft >= 0)
        SetKV(kvs, "general.file_type",
              GgufValue::U32(static_cast<uint32_t>(ft)));
      SetKV(kvs, "lowbit.scheme",
            GgufValue::String(std::string(main->scheme_name)));
    }
  }
  SetKV(kvs, "lowbit.version", GgufValue::String(LOWBIT_VERSION));
  std::vector<GgufTensorDesc> descs;
  for (const Plan& p : plans)
    descs.push_back({p.t->name, p.t->gguf->ne, p.type_out});
  LB_ASSIGN_OR_RETURN(
      auto w, GgufWriter::Create(o.out, kvs, descs, in->file().alignment()));

  ThreadPool pool(o.threads);
  int64_t total = 0;
  for (const Plan& p : plans) total += p.quantize;
  Progress progress(total, "tensors");
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<uint8_t> out;
  for (const Plan& p : plans) {
    const ModelTensor& t = *p.t;
    if (!p.quantize) {
      LB_RETURN_IF_ERROR(w->Write(t.name, t.gguf->data, t.gguf->nbytes));
      in->Release(t);
      continue;
    }
    LB_ASSIGN_OR_RETURN(std::vector<float> x, in->ReadFloat(t));
    in->Release(t);
    for (size_t i = 0; i < x.size(); ++i) {
      if (!std::isfinite(x[i])) {
        return InvalidArgument(o.model + ": tensor '" + t.name + "': value " +
                               std::to_string(i) + " is " +
                               (std::isnan(x[i]) ? "NaN" : "infinite") +
                               ": only finite weights can be quantized");
      }
    }
    const int64_t cols = t.shape.back();
    const int64_t rows = NumElements(t.shape) / cols;
    std::vector<float> imp;
    if (importance != nullptr) {
      LB_ASSIGN_OR_RETURN(imp, importance->For(t.name, cols));
    }
    std::vector<float> wrow;
    const GgmlType type = static_cast<GgmlType>(p.type_out);
    const int64_t rb = GetGgmlTypeInfo(type).RowBytes(cols);
    out.assign(static_cast<size_t>(rows * rb), 0);
    pool.ParallelFor(rows, 0, [&](int64_t r0, int64_t r1) {
      QuantizeGgmlRows(type, x.data() + r0 * cols, out.data() + r0 * rb,
                       r1 - r0, cols, imp.empty() ? nullptr : imp.data());
    });
    LB_RETURN_IF_ERROR(w->Write(t.name, out.data(), out.size()));
    progress.Step(t.name);
  }
  progress.Done();
  LB_RETURN_IF_ERROR(w->Commit());
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();

  LB_ASSIGN_OR_RETURN(auto back, GgufModel::Open(o.out));
  ThreadPool report_pool(o.threads);
  LB_ASSIGN_OR_RETURN(ModelReport r, CompareModels(*in, *back, report_pool));
  nlohmann::json j = ReportToJson(r);
  j["seconds"] = secs;
  j["notes"] = notes;
  if (!o.report.empty())
    LB_RETURN_IF_ERROR(WriteTextFile(o.report, j.dump(2) + "\n"));
  if (o.json) {
    fmt::print("{}\n", j.dump(2));
  } else if (!o.quiet) {
    fmt::print("{}", ReportToText(r));
    for (const std::string& n : notes) fmt::print("note: {}\n", n);
    fmt::print("quantized {} tensors in {:.2f} s, wrote {}\n", total, secs,
               o.out);
  }
  return Status::Ok();
}

}  // namespace lowbit::cli
