#include "pipeline/mixed_precision.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include "core/progress.h"
#include "eval/ocr.h"
#include "graph/session.h"
#include "io/onnx_import.h"
#include "io/onnx_model.h"
#include "pipeline/calibrate.h"
#include "pipeline/decisions.h"
#include "pipeline/quantize_paths.h"
#include "pipeline/sensitivity.h"

namespace lowbit::pipeline_internal {
namespace {

// The argmax of every row (over the last axis) of the first output, by
// sample, and the size of that axis.
struct RowsBySample {
  std::vector<std::vector<int64_t>> rows;
  int64_t classes = 0;
};

// Line images are read as the recognizer is evaluated: padded to PaddleOCR's
// width (pipeline/eval_ocr.h).
constexpr int64_t kDecisionPadWidth = 320;

Result<RowsBySample> RunArgmax(const std::string& model,
                               const std::vector<std::string>& files,
                               const std::string& task, int threads) {
  LB_ASSIGN_OR_RETURN(auto m, OnnxModel::Open(model));
  LB_RETURN_IF_ERROR(m->Materialize());
  LB_ASSIGN_OR_RETURN(std::shared_ptr<graph::Graph> g, ImportOnnxModel(*m));
  if (g->inputs.size() != 1) {
    return InvalidArgument(model +
                           ": --target-bpw feeds models with one input");
  }
  graph::SessionOptions so;
  so.threads = threads;
  LB_ASSIGN_OR_RETURN(auto s, graph::Session::Create(g, so));
  RowsBySample out;
  for (const std::string& f : files) {
    LB_ASSIGN_OR_RETURN(graph::Tensor x,
                        LoadCalibSample(f, task, kDecisionPadWidth));
    auto y = s->Run({{g->inputs[0].name, x}});
    if (!y.ok()) return y.status().WithPrefix(model + ": " + f);
    auto am = RowArgmax((*y)[0]);
    if (!am.ok()) return am.status().WithPrefix(model);
    out.classes = (*y)[0].shape().back();
    out.rows.push_back(std::move(am).value());
  }
  return out;
}

int64_t DecisionError(const RowsBySample& ref, const RowsBySample& got,
                      bool ctc, const OcrCharset* cs) {
  int64_t e = 0;
  for (size_t i = 0; i < ref.rows.size(); ++i) {
    e += DecisionErrors(ref.rows[i], got.rows[i], ctc, cs);
  }
  return e;
}

// Which candidate subsets to try, as masks over the candidates.
std::vector<std::vector<bool>> Subsets(size_t n) {
  std::vector<std::vector<bool>> out;
  if (n <= 6) {
    for (uint32_t m = 1; m < (1u << n); ++m) {
      std::vector<bool> a(n);
      for (size_t k = 0; k < n; ++k) a[k] = (m >> k) & 1;
      out.push_back(std::move(a));
    }
    return out;
  }
  for (size_t k = 0; k < n; ++k) {
    std::vector<bool> one(n, false), but(n, true);
    one[k] = true;
    but[k] = false;
    out.push_back(std::move(one));
    out.push_back(std::move(but));
  }
  out.emplace_back(n, true);
  return out;
}

struct Trial {
  std::vector<std::string> subset;
  MixedChoice choice;
  int64_t decision_error = 0;
};

}  // namespace

Result<QuantizeModelResult> QuantizeMixedPrecision(
    const QuantizeModelOptions& o, const TensorSelector& sel,
    const ImportanceFile* imp, const CalibStatsFile* stats) {
  using Clock = std::chrono::steady_clock;
  std::vector<std::string> cands = o.candidates;
  if (cands.empty()) {
    // Every width at both granularities the recognizer's measurements
    // favour; the trials choose among their mixes (63 subsets at most).
    cands = {"int8:channel", "int4:channel", "int4:g32",
             "int3:channel", "int3:g32",     "int2:g32"};
  }
  LB_ASSIGN_OR_RETURN(SensitivityResult sr,
                      MeasureSensitivity(o, cands, stats));
  // The whole set's choice first: its error message names the smallest bits
  // per weight the candidates allow.
  LB_RETURN_IF_ERROR(ChooseMixedPrecision(sr, o.target_bpw).status());
  std::vector<Trial> trials;
  std::set<std::map<std::string, std::string>> seen;
  for (const std::vector<bool>& mask : Subsets(cands.size())) {
    auto mc = ChooseMixedPrecision(sr, o.target_bpw, mask);
    if (!mc.ok() || !seen.insert(mc->spec_by_tensor).second) continue;
    Trial t;
    for (size_t k = 0; k < cands.size(); ++k) {
      if (mask[k]) t.subset.push_back(cands[k]);
    }
    t.choice = std::move(*mc);
    trials.push_back(std::move(t));
  }

  const auto t0 = Clock::now();
  LB_ASSIGN_OR_RETURN(std::vector<std::string> files,
                      CalibSampleFiles(o.calib, o.calib_task));
  if (o.decision_samples > 0 &&
      static_cast<int64_t>(files.size()) > o.decision_samples) {
    files.resize(o.decision_samples);
  }
  const bool ctc = o.calib_task == "ocr";
  LB_ASSIGN_OR_RETURN(RowsBySample ref,
                      RunArgmax(o.model, files, o.calib_task, o.threads));
  // The recognizer's dictionary, when at hand, so that the texts are trimmed
  // as a reader's are.
  std::optional<OcrCharset> charset;
  if (ctc) charset = RecognizerCharset(o.model, ref.classes);
  Progress progress(static_cast<int64_t>(trials.size()), "trials");
  for (Trial& t : trials) {
    QuantizeModelOptions p = o;
    p.out = o.out + ".lowbit-trial.onnx";
    p.onnx_format = "float";
    p.external_data = false;
    p.target_bpw = 0.0;
    p.spec_by_tensor = t.choice.spec_by_tensor;
    const RemoveOnExit remove{p.out};
    LB_RETURN_IF_ERROR(QuantizeOnnxModel(p, sel, imp, stats).status());
    LB_ASSIGN_OR_RETURN(RowsBySample got,
                        RunArgmax(p.out, files, o.calib_task, o.threads));
    t.decision_error =
        DecisionError(ref, got, ctc, charset ? &*charset : nullptr);
    progress.Step(fmt::format("{} errors", t.decision_error));
  }
  progress.Done();
  const double trial_seconds =
      std::chrono::duration<double>(Clock::now() - t0).count();
  size_t best = 0;
  for (size_t i = 1; i < trials.size(); ++i) {
    const Trial& a = trials[i];
    const Trial& b = trials[best];
    if (a.decision_error < b.decision_error ||
        (a.decision_error == b.decision_error &&
         a.choice.output_error < b.choice.output_error)) {
      best = i;
    }
  }
  const MixedChoice& mc = trials[best].choice;
  QuantizeModelOptions chosen = o;
  chosen.spec_by_tensor = mc.spec_by_tensor;
  LB_ASSIGN_OR_RETURN(QuantizeModelResult r,
                      QuantizeOnnxModel(chosen, sel, imp, stats));

  const auto bpw = [](const MixedChoice& c) {
    return 8.0 * static_cast<double>(c.bytes) /
           static_cast<double>(std::max<int64_t>(1, c.params));
  };
  const std::string decision = ctc ? "ctc_edits" : "argmax_changes";
  std::map<std::string, int> count;
  for (const auto& [name, spec] : mc.spec_by_tensor) ++count[spec];
  nlohmann::json tj = nlohmann::json::array();
  std::string table;
  for (size_t i = 0; i < trials.size(); ++i) {
    const Trial& t = trials[i];
    tj.push_back({{"candidates", t.subset},
                  {"bpw", bpw(t.choice)},
                  {"estimated_output_error", t.choice.output_error},
                  {decision, t.decision_error},
                  {"chosen", i == best}});
    std::string subset;
    for (const std::string& s : t.subset) {
      subset += (subset.empty() ? "" : ",") + s;
    }
    table += fmt::format("  {} {:<48} {:.3f} bpw  estimate {:.4f}  {} {}\n",
                         i == best ? "*" : " ", subset, bpw(t.choice),
                         t.choice.output_error, t.decision_error,
                         ctc ? "CTC edits" : "argmax changes");
  }
  r.report["mixed_precision"] = {
      {"target_bpw", o.target_bpw},
      {"candidates", cands},
      {"budget_bytes", mc.budget},
      {"chosen_bytes", mc.bytes},
      {"chosen_bpw", bpw(mc)},
      {"estimated_output_error", mc.output_error},
      {"decision_error", {{decision, trials[best].decision_error}}},
      {"decision_samples", static_cast<int64_t>(files.size())},
      {"layers_per_spec", count},
      {"spec_by_weight", mc.spec_by_tensor},
      {"trials", tj},
      {"trial_seconds", trial_seconds},
      {"sensitivity_seconds", sr.seconds},
      {"sensitivity_samples", sr.samples}};
  std::string per;
  for (const auto& [spec, n] : count) {
    per += (per.empty() ? "" : ", ") + spec + " x" + std::to_string(n);
  }
  r.text += fmt::format(
      "mixed precision within {} bits per weight: {} ({:.3f} bits per "
      "weight)\n  sensitivity {:.1f} s on {} samples; {} trials (greedy "
      "choices from candidate subsets) run on {} samples in {:.1f} s, "
      "{} against fp32:\n{}",
      o.target_bpw, per, bpw(mc), sr.seconds, sr.samples, trials.size(),
      files.size(), trial_seconds, ctc ? "CTC edits" : "argmax changes", table);
  return r;
}

}  // namespace lowbit::pipeline_internal
