#include "pipeline/compare_outputs.h"

#include <fmt/format.h>

#include <cmath>
#include <random>

#include "graph/session.h"
#include "io/npy.h"
#include "io/onnx_import.h"

namespace lowbit {
namespace {

Result<std::unique_ptr<graph::Session>> Load(const std::string& path,
                                             int threads, bool fast) {
  LB_ASSIGN_OR_RETURN(auto g, ImportOnnx(path));
  graph::SessionOptions so;
  so.threads = threads;
  so.fast = fast;
  auto s = graph::Session::Create(g, so);
  if (!s.ok()) return s.status().WithPrefix(path);
  return std::move(s).value();
}

}  // namespace

OutputDiff DiffTensors(const graph::Tensor& got, const graph::Tensor& ref) {
  OutputDiff d;
  double dot = 0, na = 0, nb = 0;
  const int64_t n = ref.numel();
  bool prob = n > 0 && ref.rank() >= 1;
  for (int64_t i = 0; i < n; ++i) {
    const double a = got.GetDouble(i), b = ref.GetDouble(i);
    d.max_abs_err = std::max(d.max_abs_err, std::fabs(a - b));
    d.max_abs_ref = std::max(d.max_abs_ref, std::fabs(b));
    dot += a * b;
    na += a * a;
    nb += b * b;
    prob = prob && b >= 0 && b <= 1 && a >= 0;
  }
  d.max_rel_err = d.max_abs_ref > 0 ? d.max_abs_err / d.max_abs_ref
                                    : (d.max_abs_err > 0 ? 1.0 : 0.0);
  d.cosine =
      na > 0 && nb > 0 ? dot / std::sqrt(na * nb) : (na == nb ? 1.0 : 0.0);
  if (prob) {  // rows along the last axis must sum to 1
    const int64_t k = ref.dim(ref.rank() - 1);
    const int64_t rows = k > 0 ? n / k : 0;
    double kl = 0;
    for (int64_t r = 0; r < rows && prob; ++r) {
      double s = 0;
      for (int64_t j = 0; j < k; ++j) s += ref.GetDouble(r * k + j);
      prob = std::fabs(s - 1.0) < 1e-3;
      for (int64_t j = 0; j < k && prob; ++j) {
        const double p = ref.GetDouble(r * k + j), q = got.GetDouble(r * k + j);
        if (p > 0) kl += p * std::log(p / std::max(q, 1e-30));
      }
    }
    if (prob && rows > 0) d.kl = kl / static_cast<double>(rows);
  }
  return d;
}

Result<CompareResult> CompareOutputs(const CompareOptions& o) {
  LB_ASSIGN_OR_RETURN(auto model, Load(o.model, o.threads, o.fast));
  LB_ASSIGN_OR_RETURN(auto ref, Load(o.reference, o.threads, false));
  std::map<std::string, graph::Tensor> feeds;
  for (const auto& [name, path] : o.inputs) {
    LB_ASSIGN_OR_RETURN(feeds[name], ReadNpy(path));
  }
  std::mt19937_64 rng(o.seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  for (const graph::ValueInfo& v : model->inputs()) {
    if (feeds.count(v.name)) continue;
    Shape s;
    auto it = o.shapes.find(v.name);
    if (it != o.shapes.end()) {
      s = it->second;
    } else {
      for (int64_t d : v.dims) {
        if (d < 0) {
          return InvalidArgument(
              "input '" + v.name + "' has free dimensions: give --input " +
              v.name + "=FILE.npy or --shape " + v.name + "=d0,d1,...");
        }
        s.push_back(d);
      }
    }
    if (v.dtype && *v.dtype != DType::kF32) {
      return InvalidArgument("input '" + v.name + "' is " +
                             std::string(DTypeName(*v.dtype)) +
                             ": random inputs are f32 only; give --input");
    }
    graph::Tensor t = graph::Tensor::Zeros(DType::kF32, s);
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
    feeds[v.name] = t;
  }
  auto a = model->Run(feeds);
  if (!a.ok()) return a.status().WithPrefix(o.model);
  auto b = ref->Run(feeds);
  if (!b.ok()) return b.status().WithPrefix(o.reference);
  if (a->size() != b->size()) {
    return InvalidArgument(o.model + " has " + std::to_string(a->size()) +
                           " outputs, " + o.reference + " " +
                           std::to_string(b->size()));
  }
  CompareResult r;
  double err = 0, ref_max = 0;
  nlohmann::json outs = nlohmann::json::array();
  for (size_t k = 0; k < a->size(); ++k) {
    if ((*a)[k].shape() != (*b)[k].shape()) {
      return InvalidArgument("output " + model->outputs()[k].name +
                             " has shape " + ShapeString((*a)[k].shape()) +
                             " but " + ShapeString((*b)[k].shape()) +
                             " in the reference");
    }
    OutputDiff d = DiffTensors((*a)[k], (*b)[k]);
    d.name = model->outputs()[k].name;
    err = std::max(err, d.max_abs_err);
    ref_max = std::max(ref_max, d.max_abs_ref);
    nlohmann::json j = {{"name", d.name},
                        {"max_rel_err", d.max_rel_err},
                        {"cosine", d.cosine},
                        {"max_abs_err", d.max_abs_err}};
    if (d.kl >= 0) j["kl_divergence"] = d.kl;
    outs.push_back(j);
    r.text += fmt::format("{:<30} max rel. error {:.3e}  cosine {:.6f}{}\n",
                          d.name, d.max_rel_err, d.cosine,
                          d.kl >= 0 ? fmt::format("  KL {:.3e}", d.kl) : "");
    r.outputs.push_back(d);
  }
  r.max_rel_err = ref_max > 0 ? err / ref_max : (err > 0 ? 1.0 : 0.0);
  r.report = {{"model", o.model},
              {"reference", o.reference},
              {"outputs", outs},
              {"max_rel_err", r.max_rel_err}};
  r.text += fmt::format("max relative error over all outputs: {:.3e}\n",
                        r.max_rel_err);
  return r;
}

}  // namespace lowbit
