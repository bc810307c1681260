// QuantizeModel for safetensors: lowbit's schemes, written as lowbit's
// quantized safetensors; the report is measured on the codes in memory while
// each tensor's input is still mapped.
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <set>

#include "core/progress.h"
#include "eval/quantized_error.h"
#include "eval/report.h"
#include "io/quantized_safetensors.h"
#include "kernels/dequant.h"
#include "pipeline/quantize_paths.h"
#include "quant/quantize.h"

namespace lowbit::pipeline_internal {
namespace {

// The report row of a tensor kept as it is: no error, and the sums of its
// values so that the totals weigh it.
Status KeptReport(const Model& m, const ModelTensor& t, TensorReport& tr) {
  tr.scheme = t.SchemeName();
  tr.quantized = t.quantized();
  tr.bits_per_weight = t.BitsPerWeight();
  tr.bytes_out = t.stored_bytes;
  if (t.q) {
    tr.granularity = GranularityLabel(*t.q);
    tr.method = t.q->method;
  }
  if (!t.is_float() || tr.numel == 0) return Status::Ok();
  LB_ASSIGN_OR_RETURN(std::vector<float> x, m.ReadFloat(t));
  tr.stats.Add(x.data(), x.data(), tr.numel);
  return Status::Ok();
}

}  // namespace

Result<QuantizeModelResult> QuantizeSafetensorsModel(
    const QuantizeModelOptions& o, const TensorSelector& sel,
    const ImportanceFile* importance) {
  LB_RETURN_IF_ERROR(ConfigFor(o, o.scheme).status());
  LB_ASSIGN_OR_RETURN(auto m, SafetensorsModel::Open(o.model));
  int64_t total = 0;
  for (const ModelTensor& t : m->tensors()) total += sel.Selected(t);
  ThreadPool pool(o.threads);
  Progress progress(total, "tensors");
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<OutputTensor> outs;
  ModelReport report;
  report.original = o.model;
  report.quantized = o.out;
  report.bytes_in = m->file_size();
  for (const ModelTensor& t : m->tensors()) {
    OutputTensor ot;
    ot.name = t.name;
    ot.dtype = t.dtype;
    ot.shape = t.shape;
    TensorReport tr;
    tr.name = t.name;
    tr.shape = t.shape;
    tr.numel = NumElements(t.shape);
    tr.bytes_in = t.stored_bytes;
    if (sel.Selected(t)) {
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
      tr.quantized = true;
      tr.scheme = q->scheme.Name();
      tr.bits_per_weight = q->BitsPerWeight();
      tr.bytes_out = static_cast<uint64_t>(q->StoredBytes());
      tr.granularity = GranularityLabel(*q);
      tr.method = q->method;
      tr.stats = QuantizedError(*q, data, pool);
      ot.q = std::make_shared<QuantizedTensor>(std::move(q).value());
      m->Release(t);
      progress.Step(t.name);
    } else {
      if (t.quantized()) {
        ot.q = t.q;  // already quantized: kept as is
      } else {
        ot.bytes = t.plain->data;
      }
      LB_RETURN_IF_ERROR(KeptReport(*m, t, tr));
    }
    AddTensorReport(report, std::move(tr));
    outs.push_back(std::move(ot));
  }
  progress.Done();
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
  std::error_code ec;
  report.bytes_out = std::filesystem::file_size(o.out, ec);

  QuantizeModelResult res;
  res.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  res.quantized = total;
  res.report = ReportToJson(report);
  res.report["seconds"] = res.seconds;
  res.text = ReportToText(report) +
             fmt::format("quantized {} tensors in {:.2f} s, wrote {}\n", total,
                         res.seconds, o.out);
  return res;
}

}  // namespace lowbit::pipeline_internal
