// QuantizeModel on ONNX models: the weights of Conv, ConvTranspose, Gemm and
// MatMul (and Gather with --gather) are quantized with a lowbit scheme, one
// scale per output channel along the operator's channel axis, and written as
// QDQ, a standard-operator decode subgraph, or dequantized floats
// (io/onnx_quantized.h). Everything else in the model is kept.
#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/progress.h"
#include "eval/error_stats.h"
#include "eval/quantized_error.h"
#include "io/onnx_model.h"
#include "io/onnx_quantized.h"
#include "pipeline/brecq.h"
#include "pipeline/quantize_layer.h"
#include "pipeline/quantize_paths.h"
#include "quant/quantize.h"

namespace lowbit::pipeline_internal {
namespace {

struct Row {
  std::string name, op, scheme, encoding, written, method;
  std::string awq_input;    // AWQ: "Mul" or "folded into ..." (else empty)
  double layer_error = -1;  // tr(D H D^T) with calibration statistics
  std::map<std::string, double> candidates;  // every method tried
  Shape shape;
  int axis = 0;
  ErrorStats err;
  int64_t params = 0, stored = 0;
  // Chosen, then written.
  QuantizedTensor q;
  std::vector<float> front, input_scale;
  int64_t taps = 1;
};

}  // namespace

OnnxEncoding ChooseOnnxEncoding(const std::string& format,
                                const QuantizedTensor& q, int64_t opset,
                                const Shape& shape, int axis,
                                const std::string& op) {
  OnnxEncoding enc = OnnxEncoding::kDecode;
  if (format == "qdq") enc = OnnxEncoding::kQdq;
  if (format == "float") enc = OnnxEncoding::kFloat;
  // matmulnbits: MatMul weights as MatMulNBits, the others as auto.
  const bool nbits = format == "matmulnbits";
  if (nbits && op == "MatMul") enc = OnnxEncoding::kMatMulNBits;
  // auto: QDQ where DequantizeLinear stores each code in exactly its bits
  // (8-bit integers and FP8, and from opset 21 4-bit codes); otherwise the
  // packed decode form, which stores every width exactly (2, 3, 5, 6 and 7
  // bits too).
  const bool qdq = CanWriteQdq(q, opset, shape, axis);
  const int bits = q.scheme.bits;
  const bool compact = bits == 8 || (bits == 4 && opset >= 21);
  if ((format == "auto" || (nbits && op != "MatMul")) && qdq && compact) {
    enc = OnnxEncoding::kQdq;
  }
  return enc;
}

Result<int64_t> OnnxStoredBytes(const std::string& format,
                                const QuantizedTensor& q, int64_t opset,
                                const Shape& shape, int axis,
                                const std::string& op) {
  // The writer on a model holding only this weight: the bytes it adds.
  onnx::ModelProto m;
  m.add_opset_import()->set_version(opset);
  onnx::TensorProto* t = m.mutable_graph()->add_initializer();
  t->set_name("w");
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : shape) t->add_dims(d);
  LB_ASSIGN_OR_RETURN(
      OnnxWritten w,
      WriteOnnxWeight(m, opset, "w", shape, axis, q,
                      ChooseOnnxEncoding(format, q, opset, shape, axis, op)));
  return w.stored_bytes;
}

LayerOptions LayerOptionsFor(const QuantizeModelOptions& o,
                             const OnnxWeightUse& use, const QuantConfig& cfg,
                             int64_t cols) {
  LayerOptions l;
  l.gptq.refit = o.gptq_refit;
  l.groups = use.groups;
  if (!use.input_scalable) {
    l.equalize = false;
  } else if (o.equalize == "auto") {
    QuantConfig r = cfg;
    // Not for HQQ (its own fit; measured worse with it: int4 g32 97.2% ->
    // 89.1% of the recognizer's characters).
    l.equalize = o.method != "hqq" && r.Resolve(cols).ok() &&
                 r.scheme.kind == SchemeKind::kInt && !r.is_symmetric() &&
                 r.zero_type == ZeroType::kF16 &&
                 r.gran() == Granularity::kGroup && r.group_size <= 128;
  } else {
    l.equalize = o.equalize == "on";
  }
  return l;
}

Result<QuantizeModelResult> QuantizeOnnxModel(const QuantizeModelOptions& o,
                                              const TensorSelector& sel,
                                              const ImportanceFile* importance,
                                              const CalibStatsFile* stats) {
  if (!HasOnnxExtension(o.out)) {
    return InvalidArgument("-o " + o.out +
                           ": ONNX models are written to .onnx files");
  }
  LB_ASSIGN_OR_RETURN(auto m, OnnxModel::Open(o.model));
  const auto weights = m->Weights(o.gather);
  std::vector<const ModelTensor*> chosen;
  for (const ModelTensor& t : m->tensors()) {
    if (weights.count(t.name) && sel.Selected(t)) chosen.push_back(&t);
  }
  // Last layer first: a layer's input scales (AWQ, equalization) may fold
  // into the layer before it (io/onnx_awq_fold.h), whose weight must then
  // still be float. The report lists the weights in graph order.
  std::map<std::string, int> first_reader;
  {
    const auto& nodes = m->proto().graph().node();
    for (int i = nodes.size() - 1; i >= 0; --i) {
      for (const auto& in : nodes.Get(i).input()) first_reader[in] = i;
    }
  }
  auto order = [&](const std::string& name) {
    auto it = first_reader.find(name);
    return it == first_reader.end() ? -1 : it->second;
  };
  std::stable_sort(chosen.begin(), chosen.end(),
                   [&](const ModelTensor* a, const ModelTensor* b) {
                     return order(a->name) > order(b->name);
                   });
  ThreadPool pool(o.threads);
  Progress progress(static_cast<int64_t>(chosen.size()), "weights");
  const auto t0 = std::chrono::steady_clock::now();
  LB_RETURN_IF_ERROR(m->Materialize());
  std::vector<Row> rows;
  ErrorStats total;
  int64_t params = 0, stored = 0, matched = 0;
  for (const ModelTensor* t : chosen) {
    const OnnxWeightUse& use = weights.at(t->name);
    auto spec = o.spec_by_tensor.find(t->name);
    LB_ASSIGN_OR_RETURN(QuantConfig cfg,
                        ConfigForSpec(o, spec != o.spec_by_tensor.end()
                                             ? spec->second
                                             : sel.SchemeFor(t->name)));
    LB_ASSIGN_OR_RETURN(std::vector<float> x, m->ReadFloat(*t));
    const std::vector<float> front =
        AxisToFront(x.data(), t->shape, use.channel_axis);
    const int64_t R = t->shape[use.channel_axis];
    const int64_t C = NumElements(t->shape) / R;
    std::vector<float> imp;
    if (importance != nullptr) {
      LB_ASSIGN_OR_RETURN(imp, importance->For(t->name, C));
    }
    const CalibLayer* cl = stats != nullptr ? stats->Find(t->name) : nullptr;
    if (cl != nullptr && (cl->cols != C || R % cl->groups != 0)) {
      return InvalidArgument(
          stats->path() + ": does not match " + o.model + ": weight '" +
          t->name + "' has " + std::to_string(R) + " x " + std::to_string(C) +
          ", the statistics are for " + std::to_string(cl->groups) +
          " group(s) of " + std::to_string(cl->cols) + " columns");
    }
    if (cl != nullptr) ++matched;
    Row r;
    // Columns per input channel: a Conv's kernel size.
    const int64_t taps = WeightTaps(use.op, t->shape);
    // BRECQ starts from GPTQ (then reconstructs every block, below).
    auto choice = QuantizeLayer(
        front.data(), R, C, taps, cfg, o.method == "brecq" ? "gptq" : o.method,
        cl, std::move(imp), pool, LayerOptionsFor(o, use, cfg, C));
    if (!choice.ok()) {
      return choice.status().WithPrefix(o.model + ": weight '" + t->name + "'");
    }
    r.method = choice->method;
    if (!choice->input_scale.empty()) {
      LB_RETURN_IF_ERROR(InsertInputScale(m->proto(), t->name,
                                          choice->input_scale,
                                          static_cast<int>(t->shape.size()),
                                          &r.stored, &r.awq_input)
                             .WithPrefix(o.model));
    }
    r.layer_error = choice->layer_error;
    r.candidates = choice->candidates;
    r.q = std::move(choice->q);
    r.input_scale = std::move(choice->input_scale);
    r.front = std::move(front);
    r.taps = taps;
    r.name = t->name;
    r.op = use.op;
    r.shape = t->shape;
    r.axis = use.channel_axis;
    rows.push_back(std::move(r));
    progress.Step(t->name);
  }
  progress.Done();
  std::optional<BrecqResult> brecq;
  if (o.method == "brecq") {
    std::vector<BrecqWeight> bw;
    for (Row& r : rows) {
      if (r.input_scale.empty()) {
        bw.push_back({r.name, r.shape, r.axis, &r.front, &r.q});
      }
    }
    LB_ASSIGN_OR_RETURN(brecq, BrecqRefine(o, bw, pool));
    for (Row& r : rows) {
      if (r.q.method == "brecq") r.method = "brecq";
    }
  }
  for (Row& r : rows) {
    const QuantizedTensor& q = r.q;
    const OnnxEncoding enc =
        ChooseOnnxEncoding(o.onnx_format, q, m->opset(), r.shape, r.axis, r.op);
    r.scheme = q.scheme.Name();
    if (r.input_scale.empty()) {
      r.err = QuantizedError(q, r.front.data(), pool);
    } else {  // the codes are W s's
      const std::vector<float> y = AppliedWeight(q, r.input_scale, r.taps);
      r.err.Add(r.front.data(), y.data(), q.rows * q.cols);
    }
    auto w = WriteOnnxWeight(m->proto(), m->opset(), r.name, r.shape, r.axis, q,
                             enc);
    if (!w.ok()) return w.status().WithPrefix(o.model);
    r.encoding = OnnxEncodingName(w->encoding);
    r.written = w->op;
    r.params = NumElements(r.shape);
    r.stored += w->stored_bytes;
    total.Merge(r.err);
    params += r.params;
    stored += r.stored;
    r.front = std::vector<float>();
  }
  std::reverse(rows.begin(), rows.end());
  if (stats != nullptr && matched == 0 && !chosen.empty()) {
    return InvalidArgument(stats->path() + ": does not match " + o.model +
                           ": no statistics for any of its " +
                           std::to_string(chosen.size()) + " weights");
  }
  // Provenance, as metadata_props.
  auto* meta = m->proto().add_metadata_props();
  meta->set_key("lowbit.version");
  meta->set_value(LOWBIT_VERSION);
  LB_RETURN_IF_ERROR(WriteOnnxModel(m->proto(), o.out, o.external_data));
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  // The file written must read back.
  LB_ASSIGN_OR_RETURN(auto back, OnnxModel::Open(o.out));
  const uint64_t in_size = m->file_size(), out_size = back->file_size();

  nlohmann::json j;
  j["model"] = o.model;
  j["output"] = o.out;
  j["opset"] = m->opset();
  j["lifted_constants"] = m->lifted_constants();
  j["input_bytes"] = in_size;
  j["output_bytes"] = out_size;
  j["quantized_weights"] = rows.size();
  j["quantized_params"] = params;
  j["weight_bits_per_param"] = params ? 8.0 * stored / params : 0.0;
  j["rel_rmse"] = total.rel_rmse();
  j["seconds"] = secs;
  j["method"] = o.method;
  if (stats != nullptr) {
    j["calibration"] = {{"source", stats->path()},
                        {"samples", stats->info().samples},
                        {"mode", stats->info().mode},
                        {"weights_with_statistics", matched}};
  }
  nlohmann::json arr = nlohmann::json::array();
  for (const Row& r : rows) {
    arr.push_back(
        {{"name", r.name},
         {"op", r.op},
         {"shape", r.shape},
         {"channel_axis", r.axis},
         {"scheme", r.scheme},
         {"encoding", r.encoding},
         {"written_as", r.written},
         {"params", r.params},
         {"stored_bytes", r.stored},
         {"bits_per_param", r.params ? 8.0 * r.stored / r.params : 0.0},
         {"rel_rmse", r.err.rel_rmse()},
         {"sqnr_db", std::min(999.0, r.err.sqnr_db())},
         {"method", r.method}});
    if (!r.awq_input.empty()) arr.back()["awq_input_scale"] = r.awq_input;
    if (r.layer_error >= 0) {
      arr.back()["layer_error"] = r.layer_error;
      arr.back()["layer_error_by_method"] = r.candidates;
    }
  }
  j["weights"] = arr;
  if (brecq) j["brecq"] = brecq->report;
  QuantizeModelResult res;
  res.seconds = secs;
  res.quantized = static_cast<int64_t>(rows.size());
  res.report = std::move(j);
  res.text +=
      fmt::format("{:<40} {:>13} {:>9} {:>8} {:>32} {:>7} {:>10}\n", "weight",
                  "op", "scheme", "format", "written as", "bits", "rel.RMSE");
  for (const Row& r : rows) {
    res.text += fmt::format(
        "{:<40} {:>13} {:>9} {:>8} {:>32} {:>7.3f} {:>10.5f}\n", r.name, r.op,
        r.scheme, r.encoding, r.written,
        r.params ? 8.0 * r.stored / r.params : 0.0, r.err.rel_rmse());
  }
  res.text += fmt::format(
      "{} weights ({} params) quantized in {:.2f} s: {:.3f} bits/param as "
      "stored, rel. RMSE {:.5f}\n"
      "file {} -> {} bytes ({:.2f}x smaller), opset {}, {} Constant tensors "
      "lifted; wrote {}\n",
      rows.size(), params, secs, params ? 8.0 * stored / params : 0.0,
      total.rel_rmse(), in_size, out_size,
      out_size ? static_cast<double>(in_size) / out_size : 0.0, m->opset(),
      m->lifted_constants(), o.out);
  if (brecq) res.text += brecq->text;
  if (stats != nullptr) {
    // The layer-output error of the codes kept against the weighted mse
    // fit's (round to nearest), summed over the layers with statistics.
    double rtn = 0, kept = 0;
    std::map<std::string, int> won;
    for (const Row& r : rows) {
      if (r.layer_error < 0) continue;
      for (const auto& [name, e] : r.candidates) {
        if (name.rfind("mse", 0) == 0) rtn += e;
      }
      kept += r.layer_error;
      ++won[r.method];
    }
    res.text += fmt::format(
        "calibration ({}, {} samples): statistics for {} of {} weights",
        stats->path(), stats->info().samples, matched, rows.size());
    if (rtn > 0) {
      res.text += fmt::format(
          "; layer-output error {:.3f} of round-to-nearest's", kept / rtn);
      res.report["layer_error_over_rtn"] = kept / rtn;
    }
    std::string methods;
    for (const auto& [name, n] : won) {
      methods += fmt::format("{}{} {}", methods.empty() ? "" : ", ", name, n);
    }
    res.report["methods_used"] = won;
    res.text += "; methods: " + methods + "\n";
  }
  return res;
}

}  // namespace lowbit::pipeline_internal
