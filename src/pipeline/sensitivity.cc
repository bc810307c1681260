#include "pipeline/sensitivity.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>

#include "core/progress.h"
#include "graph/session.h"
#include "io/onnx_import.h"
#include "io/onnx_model.h"
#include "io/onnx_quantized.h"
#include "pipeline/calibrate.h"
#include "pipeline/quantize_layer.h"
#include "pipeline/quantize_paths.h"
#include "pipeline/tensor_selector.h"

namespace lowbit {
namespace {

using Outputs = std::vector<std::vector<graph::Tensor>>;  // by sample

Result<Outputs> RunAll(const std::shared_ptr<graph::Graph>& g,
                       const graph::SessionOptions& so,
                       const std::string& input,
                       const std::vector<graph::Tensor>& samples) {
  LB_ASSIGN_OR_RETURN(auto s, graph::Session::Create(g, so));
  Outputs out;
  for (const graph::Tensor& x : samples) {
    LB_ASSIGN_OR_RETURN(std::vector<graph::Tensor> y, s->Run({{input, x}}));
    out.push_back(std::move(y));
  }
  return out;
}

// sum ||a - b||^2 and sum ||b||^2 over the float outputs.
void AddErrors(const Outputs& a, const Outputs& b, double* num, double* den) {
  for (size_t s = 0; s < a.size(); ++s) {
    for (size_t k = 0; k < a[s].size(); ++k) {
      const graph::Tensor& x = a[s][k];
      const graph::Tensor& y = b[s][k];
      if (x.dtype() != DType::kF32 || x.shape() != y.shape()) continue;
      for (int64_t i = 0; i < x.numel(); ++i) {
        const double d =
            static_cast<double>(x.data<float>()[i]) - y.data<float>()[i];
        *num += d * d;
        *den += static_cast<double>(y.data<float>()[i]) * y.data<float>()[i];
      }
    }
  }
}

}  // namespace

Result<SensitivityResult> MeasureSensitivity(
    const QuantizeModelOptions& o, const std::vector<std::string>& candidates,
    const CalibStatsFile* given) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  if (!HasOnnxExtension(o.model)) {
    return InvalidArgument(o.model +
                           ": sensitivity runs ONNX models on lowbit's engine");
  }
  if (o.calib.empty()) {
    return InvalidArgument(
        "sensitivity needs --calib DIR: the samples its outputs are measured "
        "on");
  }
  if (candidates.empty()) return InvalidArgument("no candidate scheme");
  for (const std::string& c : candidates) {
    const Status st = ConfigForSpec(o, c).status();
    if (!st.ok()) return st;
  }
  LB_ASSIGN_OR_RETURN(std::vector<std::string> files,
                      CalibSampleFiles(o.calib, o.calib_task));
  LB_ASSIGN_OR_RETURN(TensorSelector sel,
                      TensorSelector::Create(candidates[0], o.include,
                                             o.exclude, {}, o.min_elements));
  LB_ASSIGN_OR_RETURN(auto m, OnnxModel::Open(o.model));
  LB_RETURN_IF_ERROR(m->Materialize());
  const auto weights = m->Weights(o.gather);
  std::unique_ptr<CalibStatsFile> own;
  const CalibStatsFile* stats = given;
  if (stats == nullptr) {
    LB_ASSIGN_OR_RETURN(own, CalibrationStats(o));
    stats = own.get();
  }
  const int64_t n =
      std::min<int64_t>(static_cast<int64_t>(files.size()),
                        o.sensitivity_samples > 0 ? o.sensitivity_samples : 16);
  std::vector<graph::Tensor> samples;
  for (int64_t i = 0; i < n; ++i) {
    LB_ASSIGN_OR_RETURN(graph::Tensor x,
                        LoadCalibSample(files[i], o.calib_task));
    samples.push_back(std::move(x));
  }
  LB_ASSIGN_OR_RETURN(auto g0, ImportOnnxModel(*m));
  if (g0->inputs.size() != 1) {
    return InvalidArgument(o.model +
                           ": sensitivity feeds models with one "
                           "input; this one has " +
                           std::to_string(g0->inputs.size()));
  }
  const std::string input = g0->inputs[0].name;
  graph::SessionOptions so;
  so.threads = o.threads;
  auto ref = RunAll(std::make_shared<graph::Graph>(*g0), so, input, samples);
  if (!ref.ok()) return ref.status().WithPrefix(o.model);
  std::vector<const ModelTensor*> chosen;
  for (const ModelTensor& t : m->tensors()) {
    if (weights.count(t.name) && sel.Selected(t) && g0->Find(t.name) >= 0) {
      chosen.push_back(&t);
    }
  }
  ThreadPool pool(o.threads);
  Progress progress(static_cast<int64_t>(chosen.size()), "layers");
  SensitivityResult res;
  res.samples = n;
  for (const ModelTensor* t : chosen) {
    const OnnxWeightUse& use = weights.at(t->name);
    LB_ASSIGN_OR_RETURN(std::vector<float> x, m->ReadFloat(*t));
    const std::vector<float> front =
        AxisToFront(x.data(), t->shape, use.channel_axis);
    const int64_t rows = t->shape[use.channel_axis];
    const int64_t cols = NumElements(t->shape) / rows;
    const CalibLayer* cl = stats->Find(t->name);
    if (cl != nullptr && (cl->cols != cols || rows % cl->groups != 0)) {
      return InvalidArgument(stats->path() + ": does not match " + o.model +
                             ": weight '" + t->name + "'");
    }
    LayerSensitivity ls;
    ls.weight = t->name;
    ls.op = use.op;
    ls.params = rows * cols;
    for (const std::string& spec : candidates) {
      LB_ASSIGN_OR_RETURN(QuantConfig cfg, ConfigForSpec(o, spec));
      const int64_t taps = WeightTaps(use.op, t->shape);
      auto choice = QuantizeLayer(
          front.data(), rows, cols, taps, cfg, o.method, cl, {}, pool,
          pipeline_internal::LayerOptionsFor(o, use, cfg, cols));
      if (!choice.ok()) {
        return choice.status().WithPrefix(o.model + ": weight '" + t->name +
                                          "'");
      }
      LayerCost c;
      c.spec = spec;
      c.method = choice->method;
      c.layer_error = choice->layer_error;
      LB_ASSIGN_OR_RETURN(c.stored_bytes,
                          pipeline_internal::OnnxStoredBytes(
                              o.onnx_format, choice->q, m->opset(), t->shape,
                              use.channel_axis, use.op));
      const std::vector<float> deq =
          AppliedWeight(choice->q, choice->input_scale, taps);
      // AWQ or equalization: the input scales' bytes too.
      c.stored_bytes += static_cast<int64_t>(choice->input_scale.size()) * 4;
      const std::vector<float> back =
          AxisFromFront(deq.data(), t->shape, use.channel_axis);
      graph::Tensor w = graph::Tensor::Zeros(DType::kF32, t->shape);
      std::copy(back.begin(), back.end(), w.data<float>());
      auto g = std::make_shared<graph::Graph>(*g0);
      g->constants[g->Find(t->name)] = std::move(w);
      auto out = RunAll(g, so, input, samples);
      if (!out.ok()) return out.status().WithPrefix(o.model);
      double num = 0.0, den = 0.0;
      AddErrors(*out, *ref, &num, &den);
      c.output_error = den > 0.0 ? num / den : num;
      ls.costs.push_back(std::move(c));
    }
    res.layers.push_back(std::move(ls));
    progress.Step(t->name);
  }
  progress.Done();
  res.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerSensitivity& l : res.layers) {
    nlohmann::json costs = nlohmann::json::array();
    for (const LayerCost& c : l.costs) {
      costs.push_back({{"spec", c.spec},
                       {"method", c.method},
                       {"stored_bytes", c.stored_bytes},
                       {"bits_per_weight", 8.0 * c.stored_bytes / l.params},
                       {"output_error", c.output_error},
                       {"layer_error", c.layer_error}});
    }
    layers.push_back({{"weight", l.weight},
                      {"op", l.op},
                      {"params", l.params},
                      {"candidates", costs}});
  }
  res.report = {{"model", o.model},
                {"method", o.method},
                {"samples", n},
                {"seconds", res.seconds},
                {"layers", layers}};
  return res;
}

Result<MixedChoice> ChooseMixedPrecision(const SensitivityResult& s,
                                         double target_bpw,
                                         const std::vector<bool>& allowed) {
  MixedChoice mc;
  const auto ok = [&](size_t k) { return allowed.empty() || allowed[k]; };
  size_t first = 0;
  while (!allowed.empty() && first < allowed.size() && !allowed[first]) {
    ++first;
  }
  if (!allowed.empty() && first == allowed.size()) {
    return InvalidArgument("no candidate allowed");
  }
  std::vector<size_t> pick(s.layers.size(), first);
  for (size_t l = 0; l < s.layers.size(); ++l) {
    const auto& c = s.layers[l].costs;
    for (size_t k = first + 1; k < c.size(); ++k) {
      if (!ok(k)) continue;
      const auto& a = c[k];
      const auto& b = c[pick[l]];
      if (a.stored_bytes < b.stored_bytes ||
          (a.stored_bytes == b.stored_bytes && a.output_error < b.output_error))
        pick[l] = k;
    }
    mc.bytes += c[pick[l]].stored_bytes;
    mc.params += s.layers[l].params;
  }
  mc.budget = static_cast<int64_t>(
      std::floor(target_bpw * static_cast<double>(mc.params) / 8.0));
  if (mc.bytes > mc.budget) {
    return InvalidArgument(fmt::format(
        "--target-bpw {}: the smallest candidates already take {:.3f} bits "
        "per weight",
        target_bpw, 8.0 * mc.bytes / std::max<int64_t>(1, mc.params)));
  }
  for (;;) {
    double best_ratio = 0.0;
    size_t best_l = 0, best_k = 0;
    bool found = false;
    for (size_t l = 0; l < s.layers.size(); ++l) {
      const auto& c = s.layers[l].costs;
      const LayerCost& cur = c[pick[l]];
      for (size_t k = 0; k < c.size(); ++k) {
        if (!ok(k)) continue;
        const int64_t add = c[k].stored_bytes - cur.stored_bytes;
        const double gain = cur.output_error - c[k].output_error;
        if (gain <= 0.0 || mc.bytes + add > mc.budget) continue;
        const double ratio =
            add <= 0 ? INFINITY : gain / static_cast<double>(add);
        if (!found || ratio > best_ratio) {
          found = true;
          best_ratio = ratio;
          best_l = l;
          best_k = k;
        }
      }
    }
    if (!found) break;
    mc.bytes += s.layers[best_l].costs[best_k].stored_bytes -
                s.layers[best_l].costs[pick[best_l]].stored_bytes;
    pick[best_l] = best_k;
  }
  for (size_t l = 0; l < s.layers.size(); ++l) {
    const LayerCost& c = s.layers[l].costs[pick[l]];
    mc.spec_by_tensor[s.layers[l].weight] = c.spec;
    mc.output_error += c.output_error;
  }
  return mc;
}

}  // namespace lowbit
