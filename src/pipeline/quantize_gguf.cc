// QuantizeModel for GGUF: ggml block formats chosen per tensor, every key and
// non-weight tensor kept. Each tensor streams through in blocks of rows:
// converted (or read in place when f32), checked, quantized, decoded again
// for the report and appended to the output, so that memory holds one
// tensor's mapped input and a few MiB of buffers.
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>

#include "core/progress.h"
#include "core/thread_pool.h"
#include "eval/quantized_error.h"
#include "eval/report.h"
#include "formats/ggml/decode.h"
#include "formats/ggml/ggml_type.h"
#include "io/gguf_model.h"
#include "kernels/error_sums.h"
#include "pipeline/quantize_paths.h"
#include "quant/ggml_quantize.h"
#include "quant/gptq_ggml.h"

namespace lowbit::pipeline_internal {
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

// The refusal of tensor t's value number `at`, v (NaN or infinite).
Status NonFinite(const QuantizeModelOptions& o, const ModelTensor& t,
                 int64_t at, float v) {
  return InvalidArgument(o.model + ": tensor '" + t.name + "': value " +
                         std::to_string(at) + " is " +
                         (std::isnan(v) ? "NaN" : "infinite") +
                         ": only finite weights can be quantized");
}

// Quantizes tensor p.t to p.type_out, appending it to w, and measures the
// error of the written blocks against the input.
Status QuantizeTensor(const QuantizeModelOptions& o, const GgufModel& in,
                      const Plan& p, const std::vector<float>& imp,
                      ThreadPool& pool, GgufWriter& w, ErrorStats& stats) {
  const ModelTensor& t = *p.t;
  const GgmlTypeInfo& src = *FindGgmlTypeInfoById(t.gguf->ggml_type);
  const GgmlType type = static_cast<GgmlType>(p.type_out);
  const int64_t cols = t.shape.back();
  const int64_t rows = NumElements(t.shape) / cols;
  const int64_t in_rb = src.RowBytes(cols);
  const int64_t out_rb = GetGgmlTypeInfo(type).RowBytes(cols);
  const int64_t block = std::min(rows, ErrorBlockRows(cols));
  // The input is read with pread a block at a time (faster than the mapped
  // pages for data read once, and nothing stays resident), then decoded to
  // f32 unless it is f32.
  const bool is_f32 = src.type == GgmlType::kF32;
  std::vector<uint8_t> raw(is_f32 ? 0 : static_cast<size_t>(block * in_rb));
  std::vector<float> x(static_cast<size_t>(block * cols));
  std::vector<float> y(static_cast<size_t>(block * cols));
  std::vector<uint8_t> out(static_cast<size_t>(block * out_rb));
  int64_t bad = -1;
  std::mutex mu;
  for (int64_t b0 = 0; b0 < rows; b0 += block) {
    const int64_t nb = std::min(block, rows - b0);
    uint8_t* dst = is_f32 ? reinterpret_cast<uint8_t*>(x.data()) : raw.data();
    LB_RETURN_IF_ERROR(in.file().mapped().CopyOut(
        t.gguf->data + b0 * in_rb, static_cast<uint64_t>(nb * in_rb), dst));
    if (!is_f32) {
      pool.ParallelFor(nb, 0, [&](int64_t r0, int64_t r1) {
        DequantizeGgmlRow(src.type, raw.data() + r0 * in_rb,
                          x.data() + r0 * cols, (r1 - r0) * cols);
      });
    }
    const float* xb = x.data();
    // One pass per range of rows while they are in the cache: the
    // finiteness check, the blocks, their decode and the error sums.
    pool.ParallelFor(nb, 0, [&](int64_t r0, int64_t r1) {
      const float* xr = xb + r0 * cols;
      const int64_t i = FirstNonFinite(xr, (r1 - r0) * cols);
      if (i >= 0) {
        std::lock_guard<std::mutex> lock(mu);
        if (bad < 0 || r0 * cols + i < bad) bad = r0 * cols + i;
        return;
      }
      uint8_t* ob = out.data() + r0 * out_rb;
      QuantizeGgmlRows(type, xr, ob, r1 - r0, cols,
                       imp.empty() ? nullptr : imp.data());
      float* yb = y.data() + r0 * cols;
      DequantizeGgmlRow(type, ob, yb, (r1 - r0) * cols);
      ErrorStats part;
      part.Add(xr, yb, (r1 - r0) * cols);
      std::lock_guard<std::mutex> lock(mu);
      stats.Merge(part);
    });
    if (bad >= 0) return NonFinite(o, t, b0 * cols + bad, xb[bad]);
    LB_RETURN_IF_ERROR(
        w.WritePart(t.name, out.data(), static_cast<size_t>(nb * out_rb)));
  }
  return Status::Ok();
}

// GPTQ on tensor p.t with the statistics `layer` (its H), appending the
// blocks to w; the error sums of the written blocks into stats.
Result<GgmlGptqResult> QuantizeTensorGptq(const QuantizeModelOptions& o,
                                          GgufModel& in, const Plan& p,
                                          const CalibLayer& layer,
                                          ThreadPool& pool, GgufWriter& w,
                                          ErrorStats& stats) {
  const ModelTensor& t = *p.t;
  const GgmlType type = static_cast<GgmlType>(p.type_out);
  const int64_t cols = t.shape.back();
  const int64_t rows = NumElements(t.shape) / cols;
  LB_ASSIGN_OR_RETURN(std::vector<float> x, in.ReadFloat(t));
  const int64_t bad = FirstNonFinite(x.data(), rows * cols);
  if (bad >= 0) return NonFinite(o, t, bad, x[bad]);
  // (The block scales stay as fitted: GptqOptions' refit is for lowbit's
  // schemes, whose scales are free floats.)
  LB_ASSIGN_OR_RETURN(GgmlGptqResult r,
                      QuantizeGgmlGptq(type, x.data(), rows, cols,
                                       layer.xtx.data(), GptqOptions{}, pool));
  std::vector<float> y(x.size());
  DequantizeGgmlRow(type, r.bytes.data(), y.data(), rows * cols);
  stats.Add(x.data(), y.data(), rows * cols);
  LB_RETURN_IF_ERROR(w.WritePart(t.name, r.bytes.data(), r.bytes.size()));
  return r;
}

}  // namespace

Result<QuantizeModelResult> QuantizeGgufModel(const QuantizeModelOptions& o,
                                              const TensorSelector& sel,
                                              const ImportanceFile* importance,
                                              const CalibStatsFile* stats) {
  const bool gptq = o.method == "gptq";
  if (o.per_tensor || o.per_channel || o.group_size != 0 || o.symmetric ||
      o.asymmetric || o.scale_dtype != "auto" || (o.method != "mse" && !gptq) ||
      o.zero_point != "auto") {
    return InvalidArgument(
        "--per-tensor, --per-channel, --group-size, --symmetric, --asymmetric, "
        "--zero-point, --method (but gptq with --stats) and --scale-dtype "
        "shape lowbit's schemes; ggml block formats fix all of them");
  }
  if (importance != nullptr && stats != nullptr) {
    return InvalidArgument(
        "--importance and --stats both weight the blocks' errors: give one");
  }
  LB_ASSIGN_OR_RETURN(auto in, GgufModel::Open(o.model));
  std::vector<Plan> plans;
  std::vector<std::string> notes;
  std::map<uint32_t, int64_t> params_by_type;
  int64_t with_stats = 0;
  for (const ModelTensor& t : in->tensors()) {
    Plan p{&t, t.gguf->ggml_type, false};
    const CalibLayer* layer = stats ? stats->Find(t.name) : nullptr;
    if (layer != nullptr && sel.Selected(t)) {
      const int64_t cols = t.shape.back();
      if (layer->groups != 1 || layer->cols != cols) {
        return BadInput(stats->path() + ": the statistics of '" + t.name +
                        "' have " + std::to_string(layer->groups) + " x " +
                        std::to_string(layer->cols) +
                        " inputs; the tensor's rows have " +
                        std::to_string(cols));
      }
      ++with_stats;
    }
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
  if (stats != nullptr && with_stats == 0) {
    return BadInput(stats->path() + ": no statistics for any tensor of " +
                    o.model + " chosen for quantization");
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
  nlohmann::json gptq_errors = nlohmann::json::object();
  ModelReport report;
  report.original = o.model;
  report.quantized = o.out;
  report.bytes_in = in->file_size();
  for (const Plan& p : plans) {
    const ModelTensor& t = *p.t;
    TensorReport tr;
    tr.name = t.name;
    tr.shape = t.shape;
    tr.numel = NumElements(t.shape);
    tr.bytes_in = t.stored_bytes;
    if (!p.quantize) {
      LB_RETURN_IF_ERROR(w->Write(t.name, t.gguf->data, t.gguf->nbytes));
      tr.scheme = t.SchemeName();
      tr.quantized = t.quantized();
      tr.bits_per_weight = t.BitsPerWeight();
      tr.bytes_out = t.stored_bytes;
      if (t.is_float() && tr.numel > 0) {  // kept: no error, its sums count
        LB_ASSIGN_OR_RETURN(std::vector<float> x, in->ReadFloat(t));
        tr.stats.Add(x.data(), x.data(), tr.numel);
      }
      in->Release(t);
      AddTensorReport(report, std::move(tr));
      continue;
    }
    std::vector<float> imp;
    if (importance != nullptr) {
      LB_ASSIGN_OR_RETURN(imp, importance->For(t.name, t.shape.back()));
    }
    const CalibLayer* layer = stats ? stats->Find(t.name) : nullptr;
    if (layer != nullptr) imp = layer->x_sq_mean;  // groups == 1: cols values
    const GgmlTypeInfo& out_type = GetGgmlTypeInfo(
        static_cast<GgmlType>(p.type_out));  // a codec type: FitRow's result
    tr.scheme = std::string(out_type.ggml_name);
    Status st;
    if (gptq && layer != nullptr && GgmlRowGrid::Supports(out_type.type)) {
      Result<GgmlGptqResult> r =
          QuantizeTensorGptq(o, *in, p, *layer, pool, *w, tr.stats);
      st = r.status();
      if (r.ok()) {
        gptq_errors[t.name] = {{"rtn_error", r->rtn_error},
                               {"gptq_error", r->gptq_error}};
      }
    } else {
      if (gptq) {
        notes.push_back(t.name + ": " +
                        (layer
                             ? "no GPTQ for " + std::string(out_type.ggml_name)
                             : std::string("no statistics")) +
                        "; the blocks' search instead");
      }
      st = QuantizeTensor(o, *in, p, imp, pool, *w, tr.stats);
    }
    in->Release(t);
    LB_RETURN_IF_ERROR(st);
    tr.quantized = out_type.block_elements > 1;
    tr.bytes_out = static_cast<uint64_t>(out_type.RowBytes(t.shape.back()) *
                                         (tr.numel / t.shape.back()));
    tr.bits_per_weight =
        tr.numel > 0 ? 8.0 * static_cast<double>(tr.bytes_out) / tr.numel : 0;
    AddTensorReport(report, std::move(tr));
    progress.Step(t.name);
  }
  progress.Done();
  LB_RETURN_IF_ERROR(w->Commit());
  std::error_code ec;
  report.bytes_out = std::filesystem::file_size(o.out, ec);

  QuantizeModelResult res;
  res.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  res.quantized = total;
  res.report = ReportToJson(report);
  res.report["seconds"] = res.seconds;
  res.report["notes"] = notes;
  if (gptq) {
    // Per tensor, tr(D H D^T) of the nearest codes and of GPTQ's on the same
    // scales (quant/gptq_ggml.h).
    res.report["gptq"] = gptq_errors;
    for (const auto& [name, e] : gptq_errors.items()) {
      res.text += fmt::format(
          "gptq {}: layer-output error {:.4g} (nearest {:.4g})\n", name,
          e["gptq_error"].get<double>(), e["rtn_error"].get<double>());
    }
  }
  res.text = ReportToText(report);
  for (const std::string& n : notes) res.text += "note: " + n + "\n";
  res.text += fmt::format("quantized {} tensors in {:.2f} s, wrote {}\n", total,
                          res.seconds, o.out);
  return res;
}

}  // namespace lowbit::pipeline_internal
