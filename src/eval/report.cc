#include "eval/report.h"

#include <fmt/format.h>

#include <cmath>
#include <mutex>

namespace lowbit {
namespace {

// JSON has no infinity: an exact match reports 999 dB.
double FiniteDb(double db) {
  if (std::isinf(db)) return db > 0 ? 999.0 : -999.0;
  return db;
}

nlohmann::json StatsJson(const ErrorStats& s) {
  return {{"mse", s.mse()},
          {"rel_rmse", s.rel_rmse()},
          {"sqnr_db", FiniteDb(s.sqnr_db())},
          {"cosine", s.cosine()},
          {"max_abs_err", s.max_abs_err}};
}

}  // namespace

std::string GranularityLabel(const QuantizedTensor& q) {
  switch (q.granularity) {
    case Granularity::kTensor:
      return "tensor";
    case Granularity::kChannel:
      return "channel";
    case Granularity::kGroup:
      return "group:" + std::to_string(q.group_size);
  }
  return "?";
}

void AddTensorReport(ModelReport& r, TensorReport t) {
  if (t.stats.count > 0) {
    r.total.Merge(t.stats);
    if (t.quantized) r.total_quantized.Merge(t.stats);
  }
  r.params += t.numel;
  if (t.quantized) {
    r.params_quantized += t.numel;
    r.bits_quantized += t.bits_per_weight * static_cast<double>(t.numel);
  }
  r.tensors.push_back(std::move(t));
}

Result<ModelReport> CompareModels(const Model& orig, const Model& quant,
                                  ThreadPool& pool) {
  ModelReport r;
  r.original = orig.path();
  r.quantized = quant.path();
  r.bytes_in = orig.file_size();
  r.bytes_out = quant.file_size();
  for (const ModelTensor& a : orig.tensors()) {
    const ModelTensor* b = quant.Find(a.name);
    if (b == nullptr) {
      std::string hint;
      if (quant.format() == "onnx") {
        hint =
            " (lowbit's quantized ONNX weights are outputs of decode nodes, "
            "not initializers: `lowbit quantize --report FILE` records their "
            "error, and --onnx-format float writes a file this command can "
            "compare)";
      }
      return BadInput(quant.path() + ": tensor '" + a.name + "' of " +
                      orig.path() + " is missing" + hint);
    }
    if (b->shape != a.shape) {
      return BadInput(quant.path() + ": tensor '" + a.name + "' has shape " +
                      ShapeString(b->shape) + " but " + ShapeString(a.shape) +
                      " in " + orig.path());
    }
    TensorReport t;
    t.name = a.name;
    t.shape = a.shape;
    t.numel = NumElements(a.shape);
    t.bytes_in = a.stored_bytes;
    t.bytes_out = b->stored_bytes;
    t.quantized = b->quantized();
    t.scheme = b->SchemeName();
    t.bits_per_weight = b->BitsPerWeight();
    if (b->q) {
      t.granularity = GranularityLabel(*b->q);
      t.method = b->q->method;
    }
    const bool is_float = a.is_float() && b->is_float();
    if (is_float && t.numel > 0) {
      LB_ASSIGN_OR_RETURN(std::vector<float> x, orig.ReadFloat(a));
      LB_ASSIGN_OR_RETURN(std::vector<float> y, quant.ReadFloat(*b));
      orig.Release(a);
      quant.Release(*b);
      std::mutex mu;
      pool.ParallelFor(t.numel, 1 << 16, [&](int64_t s, int64_t e) {
        ErrorStats part;
        part.Add(x.data() + s, y.data() + s, e - s);
        std::lock_guard<std::mutex> lock(mu);
        t.stats.Merge(part);
      });
    }
    AddTensorReport(r, std::move(t));
  }
  return r;
}

nlohmann::json ReportToJson(const ModelReport& r) {
  nlohmann::json j;
  j["original"] = r.original;
  j["quantized"] = r.quantized;
  j["tensors"] = nlohmann::json::array();
  for (const TensorReport& t : r.tensors) {
    nlohmann::json o = {
        {"name", t.name},           {"scheme", t.scheme},
        {"quantized", t.quantized}, {"shape", t.shape},
        {"params", t.numel},        {"bits_per_weight", t.bits_per_weight},
        {"bytes_in", t.bytes_in},   {"bytes_out", t.bytes_out}};
    if (t.quantized) {
      o["granularity"] = t.granularity;
      o["method"] = t.method;
    }
    if (t.stats.count > 0) {
      o.update(StatsJson(t.stats));
    } else {  // not float data (or empty): the same keys, without values
      for (const char* k :
           {"mse", "rel_rmse", "sqnr_db", "cosine", "max_abs_err"}) {
        o[k] = nullptr;
      }
    }
    j["tensors"].push_back(o);
  }
  nlohmann::json total = {
      {"bytes_in", r.bytes_in},
      {"bytes_out", r.bytes_out},
      {"compression",
       r.bytes_out ? static_cast<double>(r.bytes_in) / r.bytes_out : 0.0},
      {"params", r.params},
      {"params_quantized", r.params_quantized},
      {"bits_per_weight",
       r.params ? 8.0 * static_cast<double>(r.bytes_out) / r.params : 0.0},
      {"bits_per_quantized_weight",
       r.params_quantized ? r.bits_quantized / r.params_quantized : 0.0}};
  total.update(StatsJson(r.total));
  total["quantized_only"] = StatsJson(r.total_quantized);
  j["total"] = total;
  return j;
}

std::string ReportToText(const ModelReport& r) {
  std::string s;
  s += fmt::format("{:<40} {:>10} {:>14} {:>7} {:>10} {:>8} {:>10}\n", "tensor",
                   "scheme", "shape", "bpw", "rel_rmse", "sqnr_dB", "cosine");
  for (const TensorReport& t : r.tensors) {
    std::string name =
        t.name.size() > 40 ? "…" + t.name.substr(t.name.size() - 39) : t.name;
    if (t.stats.count > 0) {
      s += fmt::format(
          "{:<40} {:>10} {:>14} {:>7.3f} {:>10.5f} {:>8.2f} {:>10.6f}\n", name,
          t.scheme, ShapeString(t.shape), t.bits_per_weight, t.stats.rel_rmse(),
          FiniteDb(t.stats.sqnr_db()), t.stats.cosine());
    } else {
      s += fmt::format("{:<40} {:>10} {:>14} {:>7.3f} {:>10} {:>8} {:>10}\n",
                       name, t.scheme, ShapeString(t.shape), t.bits_per_weight,
                       "-", "-", "-");
    }
  }
  s += fmt::format(
      "total: {} params ({} quantized, {:.3f} bits/weight), {} -> {} bytes "
      "({:.2f}x), "
      "rel_rmse {:.5f}, sqnr {:.2f} dB, cosine {:.6f}\n",
      r.params, r.params_quantized,
      r.params_quantized ? r.bits_quantized / r.params_quantized : 0.0,
      r.bytes_in, r.bytes_out,
      r.bytes_out ? static_cast<double>(r.bytes_in) / r.bytes_out : 0.0,
      r.total.rel_rmse(), FiniteDb(r.total.sqnr_db()), r.total.cosine());
  return s;
}

}  // namespace lowbit
