#include "pipeline/brecq.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <numeric>
#include <optional>
#include <random>

#include "core/progress.h"
#include "graph/autodiff.h"
#include "graph/blocks.h"
#include "graph/session.h"
#include "io/onnx_import.h"
#include "io/onnx_quantized.h"
#include "pipeline/calibrate.h"
#include "pipeline/decisions.h"
#include "quant/soft_rounding.h"
#include "train/distill.h"
#include "train/loop.h"

namespace lowbit {
namespace {

graph::Tensor Copy(const graph::Tensor& t) {
  graph::Tensor c = graph::Tensor::Zeros(t.dtype(), t.shape());
  if (t.nbytes() > 0) std::memcpy(c.bytes(), t.bytes(), t.nbytes());
  return c;
}

// A weight of the block being reconstructed.
struct Rounded {
  BrecqWeight* w = nullptr;
  int id = -1;  // its value id
  SoftRounding sr;
  std::vector<float> buf;  // channel-first scratch
};

// Writes channel-first values `front` into the graph constant of `r`.
void WriteWeight(const Rounded& r, const float* front, graph::Graph& g) {
  graph::Tensor& t = g.constants.at(r.id);
  if (r.w->axis == 0) {
    std::copy_n(front, t.numel(), t.data<float>());
    return;
  }
  const std::vector<float> back = AxisFromFront(front, r.w->shape, r.w->axis);
  std::copy(back.begin(), back.end(), t.data<float>());
}

// A block output's loss against fp32's: with `fisher` (defined), the mean
// of fisher (out - target)^2, else DistillLossOf's.
Result<LossResult> BlockLoss(const graph::Tensor& out,
                             const graph::Tensor& target,
                             const graph::Tensor* fisher, DistillLoss kind) {
  if (fisher == nullptr || !fisher->defined()) {
    return DistillLossOf(out, target, kind);
  }
  if (out.shape() != target.shape() || fisher->shape() != out.shape()) {
    return InvalidArgument("the block output " + out.Describe() +
                           " does not match fp32's " + target.Describe());
  }
  LossResult r;
  r.grad = graph::Tensor::Zeros(DType::kF32, out.shape());
  const double n = static_cast<double>(out.numel());
  const float* y = out.data<float>();
  const float* t = target.data<float>();
  const float* f = fisher->data<float>();
  float* gr = r.grad.data<float>();
  for (int64_t i = 0; i < out.numel(); ++i) {
    const double d = static_cast<double>(y[i]) - t[i];
    r.loss += f[i] * d * d / n;
    gr[i] = static_cast<float>(2.0 * f[i] * d / n);
  }
  return r;
}

// The mean over the samples of the block output's loss; the outputs into
// `outs`.
Result<double> BlockError(graph::Tape& tape, const std::string& input,
                          const std::vector<graph::Tensor>& xs,
                          const std::vector<graph::Tensor>& ys,
                          const std::vector<graph::Tensor>& fisher,
                          DistillLoss kind, std::vector<graph::Tensor>* outs) {
  double sum = 0.0;
  outs->clear();
  for (size_t i = 0; i < xs.size(); ++i) {
    LB_ASSIGN_OR_RETURN(std::vector<graph::Tensor> out,
                        tape.Forward({{input, xs[i]}}));
    outs->push_back(Copy(out[0]));
    LB_ASSIGN_OR_RETURN(
        LossResult l,
        BlockLoss(out[0], ys[i], fisher.empty() ? nullptr : &fisher[i], kind));
    sum += l.loss;
  }
  return sum / static_cast<double>(std::max<size_t>(1, xs.size()));
}

// g with the weights `qs` (by ws's order; empty ones skipped) decoded into
// its constants.
std::shared_ptr<graph::Graph> WithWeights(
    const graph::Graph& g, const std::vector<BrecqWeight>& ws,
    const std::vector<QuantizedTensor>& qs) {
  auto q = std::make_shared<graph::Graph>(g);
  for (size_t k = 0; k < ws.size(); ++k) {
    const BrecqWeight& w = ws[k];
    const int id = q->Find(w.name);
    if (id < 0 || !q->constants.count(id) || qs[k].codes.empty()) continue;
    const std::vector<float> d = Dequantize(qs[k]);
    graph::Tensor t = graph::Tensor::Zeros(DType::kF32, w.shape);
    const std::vector<float> back =
        w.axis == 0 ? d : AxisFromFront(d.data(), w.shape, w.axis);
    std::copy(back.begin(), back.end(), t.data<float>());
    q->constants[id] = t;
  }
  return q;
}

// The model's decisions when block b gives `ys`: the blocks after it run on
// them with their weights as started, each sample's decisions compared with
// fp32's (pipeline/decisions.h).
class DecisionJudge {
 public:
  DecisionJudge(std::shared_ptr<graph::Graph> started,
                const std::vector<graph::Block>& blocks,
                std::vector<std::vector<int64_t>> ref, bool ctc,
                std::optional<OcrCharset> cs, int threads)
      : started_(std::move(started)),
        blocks_(blocks),
        ref_(std::move(ref)),
        ctc_(ctc),
        cs_(std::move(cs)),
        threads_(threads) {}

  Result<int64_t> Edits(size_t b, const std::vector<graph::Tensor>& ys) {
    std::unique_ptr<graph::Session> rest;
    std::string input;
    if (b + 1 < blocks_.size()) {
      auto sub = std::make_shared<graph::Graph>(graph::ExtractBlock(
          *started_, graph::JoinBlocks(blocks_, b + 1, blocks_.size())));
      input = sub->inputs[0].name;
      graph::SessionOptions so;
      so.threads = threads_;
      LB_ASSIGN_OR_RETURN(rest, graph::Session::Create(sub, so));
    }
    int64_t edits = 0;
    for (size_t i = 0; i < ys.size(); ++i) {
      graph::Tensor out = ys[i];
      if (rest) {
        LB_ASSIGN_OR_RETURN(std::vector<graph::Tensor> o,
                            rest->Run({{input, ys[i]}}));
        out = o[0];
      }
      LB_ASSIGN_OR_RETURN(std::vector<int64_t> am, RowArgmax(out));
      edits += DecisionErrors(ref_[i], am, ctc_, cs_ ? &*cs_ : nullptr);
    }
    return edits;
  }

 private:
  std::shared_ptr<graph::Graph> started_;
  const std::vector<graph::Block>& blocks_;
  std::vector<std::vector<int64_t>> ref_;
  bool ctc_;
  std::optional<OcrCharset> cs_;
  int threads_;
};

}  // namespace

Result<BrecqResult> BrecqRefine(const QuantizeModelOptions& o,
                                std::vector<BrecqWeight>& ws,
                                ThreadPool& pool) {
  if (o.brecq_iterations < 1 || o.brecq_batch < 1) {
    return InvalidArgument("--brecq-iterations and --brecq-batch: at least 1");
  }
  if (o.calib.empty()) {
    return InvalidArgument(
        "--method brecq needs --calib DIR: the samples whose block outputs "
        "the quantized model learns");
  }
  const auto t0 = std::chrono::steady_clock::now();
  LB_ASSIGN_OR_RETURN(std::shared_ptr<graph::Graph> g, ImportOnnx(o.model));
  const bool logits = CutFinalSoftmax(*g);
  auto fine = graph::SingleValueBlocks(*g);
  if (!fine.ok()) return fine.status().WithPrefix(o.model);
  // The weights the soft rounding takes, by value id.
  std::map<int, BrecqWeight*> by_id;
  for (BrecqWeight& w : ws) {
    const int id = g->Find(w.name);
    if (id < 0 || !g->constants.count(id) || w.q == nullptr ||
        w.q->scheme.kind != SchemeKind::kInt ||
        w.q->granularity == Granularity::kTensor) {
      continue;
    }
    by_id[id] = &w;
  }
  auto weights_of = [&](const graph::Block& b) {
    std::vector<int> ids;
    for (int i : b.nodes) {
      for (int v : g->nodes[i].inputs) {
        if (v >= 0 && by_id.count(v) &&
            std::find(ids.begin(), ids.end(), v) == ids.end()) {
          ids.push_back(v);
        }
      }
    }
    return ids;
  };
  // Blocks without weights join the next block that has some (the last
  // ones the block before them).
  std::vector<graph::Block> blocks;
  {
    size_t a = 0;
    for (size_t k = 0; k < fine->size(); ++k) {
      if (weights_of((*fine)[k]).empty()) continue;
      blocks.push_back(graph::JoinBlocks(*fine, a, k + 1));
      a = k + 1;
    }
    if (blocks.empty()) {
      return InvalidArgument(
          o.model + ": no integer-quantized weight for --method brecq");
    }
    if (a < fine->size()) {
      std::vector<graph::Block> tail = {blocks.back()};
      tail.push_back(graph::JoinBlocks(*fine, a, fine->size()));
      blocks.back() = graph::JoinBlocks(tail, 0, 2);
    }
  }
  // The samples, as the model reads them (text lines at their own width, as
  // the statistics take them: padded to PaddleOCR's 320, the padding's
  // constant outputs would make most of a short line's block error).
  LB_ASSIGN_OR_RETURN(std::vector<std::string> files,
                      CalibSampleFiles(o.calib, o.calib_task));
  if (o.calib_samples > 0 &&
      static_cast<int64_t>(files.size()) > o.calib_samples) {
    files.resize(static_cast<size_t>(o.calib_samples));
  }
  // The inputs of the block: fp32's, the reconstructed model's, and the
  // start's (all GPTQ, for the report).
  std::vector<graph::Tensor> xf, xq, xs, x0;  // x0: the samples
  for (const std::string& f : files) {
    LB_ASSIGN_OR_RETURN(graph::Tensor x, LoadCalibSample(f, o.calib_task));
    xq.push_back(Copy(x));
    xs.push_back(Copy(x));
    x0.push_back(Copy(x));
    xf.push_back(std::move(x));
  }
  std::vector<QuantizedTensor> starts;
  for (const BrecqWeight& w : ws) {
    starts.push_back(w.q ? *w.q : QuantizedTensor());
  }
  const int iters = o.brecq_iterations;
  const int64_t batch =
      std::min<int64_t>(o.brecq_batch, static_cast<int64_t>(xf.size()));
  const int warm = static_cast<int>(0.2 * iters);
  const double lambda = o.brecq_lambda;
  const float lr = static_cast<float>(o.brecq_lr);
  // BRECQ's Fisher weights of each block output (arXiv 2102.05426, section
  // 3.2), with fp32's own decisions as the labels: per sample, the square of
  // d L / d output of L = the cross-entropy of every row's softmax against
  // fp32's argmax, at the fp32 model. The last block matches the logits by
  // their KL instead.
  std::vector<std::vector<graph::Tensor>> fisher(blocks.size());
  const bool use_fisher = o.brecq_loss == "fisher" && logits;
  if (use_fisher) {
    auto fg = std::make_shared<graph::Graph>(*g);
    std::vector<std::string> all;
    for (const auto& [id, w] : by_id) all.push_back(w->name);
    auto tape = graph::Tape::Create(fg, all, pool);
    if (!tape.ok()) return tape.status().WithPrefix(o.model);
    std::vector<int> keep;
    for (size_t bi = 0; bi + 1 < blocks.size(); ++bi) {
      keep.push_back(blocks[bi].output);
    }
    for (const graph::Tensor& x : x0) {
      LB_ASSIGN_OR_RETURN(std::vector<graph::Tensor> out,
                          (*tape)->Forward({{fg->inputs[0].name, x}}));
      const graph::Tensor& z = out[0];
      const int64_t c = z.shape().back(), rows = z.numel() / c;
      graph::Tensor gz = graph::Tensor::Zeros(DType::kF32, z.shape());
      for (int64_t r = 0; r < rows; ++r) {
        const float* zr = z.data<float>() + r * c;
        float* gr = gz.data<float>() + r * c;
        const int64_t top = std::max_element(zr, zr + c) - zr;
        double sum = 0.0;
        for (int64_t k = 0; k < c; ++k) sum += std::exp(zr[k] - zr[top]);
        for (int64_t k = 0; k < c; ++k) {
          gr[k] = static_cast<float>(std::exp(zr[k] - zr[top]) / sum) -
                  (k == top ? 1.0f : 0.0f);
        }
      }
      std::map<int, graph::Tensor> kept;
      LB_RETURN_IF_ERROR((*tape)->Backward({gz}, keep, &kept).status());
      for (size_t bi = 0; bi + 1 < blocks.size(); ++bi) {
        auto it = kept.find(blocks[bi].output);
        graph::Tensor f;  // undefined: no gradient reaches it
        if (it != kept.end()) {
          f = Copy(it->second);
          for (int64_t k = 0; k < f.numel(); ++k) {
            f.data<float>()[k] *= f.data<float>()[k];
          }
        }
        fisher[bi].push_back(std::move(f));
      }
    }
  }
  // With a final Softmax, a block's learned rounding is kept only where the
  // model's decisions on the samples are not worse (block outputs with lower
  // error can still change more decisions: measured on the recognizer).
  const bool ctc = o.calib_task == "ocr";
  std::optional<OcrCharset> charset;
  std::optional<DecisionJudge> judge;
  if (logits) {
    graph::SessionOptions so;
    so.threads = o.threads;
    auto fp32 = graph::Session::Create(std::make_shared<graph::Graph>(*g), so);
    if (!fp32.ok()) return fp32.status().WithPrefix(o.model);
    std::vector<std::vector<int64_t>> ref;
    for (const graph::Tensor& x : x0) {
      auto y = (*fp32)->Run({{g->inputs[0].name, x}});
      if (!y.ok()) return y.status().WithPrefix(o.model);
      if (ctc && !charset) {
        charset = RecognizerCharset(o.model, (*y)[0].shape().back());
      }
      LB_ASSIGN_OR_RETURN(std::vector<int64_t> am, RowArgmax((*y)[0]));
      ref.push_back(std::move(am));
    }
    judge.emplace(WithWeights(*g, ws, starts), blocks, std::move(ref), ctc,
                  charset, o.threads);
  }
  Progress progress(static_cast<int64_t>(blocks.size()) * iters, "BRECQ steps");
  BrecqResult res;
  nlohmann::json jblocks = nlohmann::json::array();
  double sum_e0 = 0.0, sum_e = 0.0, last_start = 0.0, last_error = 0.0;
  int kept = 0;
  for (size_t bi = 0; bi < blocks.size(); ++bi) {
    const auto tb = std::chrono::steady_clock::now();
    const graph::Block& b = blocks[bi];
    const graph::Graph sub = graph::ExtractBlock(*g, b);
    const std::string label =
        fmt::format("{} block {} ({} .. {})", o.model, bi,
                    g->value_names[b.input], g->value_names[b.output]);
    // The fp32 block's outputs (a copy of the subgraph: a session folds
    // and fuses the graph it is given).
    graph::SessionOptions so;
    so.threads = o.threads;
    auto fp32 = graph::Session::Create(std::make_shared<graph::Graph>(sub), so);
    if (!fp32.ok()) return fp32.status().WithPrefix(label);
    std::vector<graph::Tensor> yf;
    for (const graph::Tensor& x : xf) {
      auto y = (*fp32)->Run({{sub.inputs[0].name, x}});
      if (!y.ok()) return y.status().WithPrefix(label);
      yf.push_back(Copy((*y)[0]));
    }
    // The block on the tape, its weights in fresh tensors.
    auto tg = std::make_shared<graph::Graph>(sub);
    std::vector<Rounded> rs;
    std::vector<std::string> names;
    for (int id : weights_of(b)) {
      Rounded r;
      r.w = by_id.at(id);
      r.id = id;
      auto sr = SoftRounding::Create(r.w->front->data(), *r.w->q,
                                     o.brecq_init == "codes");
      if (!sr.ok()) return sr.status().WithPrefix(label + ": " + r.w->name);
      r.sr = std::move(sr).value();
      r.buf.resize(static_cast<size_t>(r.sr.size()));
      tg->constants[id] = Copy(g->constants.at(id));
      names.push_back(r.w->name);
      rs.push_back(std::move(r));
    }
    auto tape = graph::Tape::Create(tg, names, pool);
    if (!tape.ok()) return tape.status().WithPrefix(label);
    const std::string input = sub.inputs[0].name;
    // The logits by the KL of their softmax to fp32's (what decides, and
    // blind to a shift of every logit), other outputs by their MSE.
    const bool last = bi + 1 == blocks.size();
    const DistillLoss kind =
        last && logits ? DistillLoss::kKl : DistillLoss::kMse;
    const std::vector<graph::Tensor>& fw = fisher[bi];
    // The start's error.
    std::vector<QuantizedTensor> start;
    for (Rounded& r : rs) {
      start.push_back(*r.w->q);
      const std::vector<float> d = Dequantize(start.back());
      WriteWeight(r, d.data(), *tg);
    }
    // The start model's outputs and error (its own inputs); its outputs are
    // the next block's inputs.
    std::vector<graph::Tensor> ys;
    LB_ASSIGN_OR_RETURN(const double e_start,
                        BlockError(**tape, input, xs, yf, fw, kind, &ys));
    xs = std::move(ys);
    std::vector<graph::Tensor> y0, y1;  // the start's and the learned outputs
    LB_ASSIGN_OR_RETURN(const double e0,
                        BlockError(**tape, input, xq, yf, fw, kind, &y0));
    int64_t edits0 = -1, edits1 = -1;
    bool keep = false;
    double e1 = e0, undecided = 0.0;
    int64_t rounded = 0;
    if (e0 > 0.0) {
      std::mt19937_64 rng(o.seed + bi);
      std::vector<int64_t> perm(xq.size());
      std::iota(perm.begin(), perm.end(), 0);
      size_t at = perm.size();
      std::map<std::string, graph::Tensor> sum;
      for (int it = 0; it < iters; ++it) {
        for (Rounded& r : rs) {
          r.sr.Decode(r.buf.data());
          WriteWeight(r, r.buf.data(), *tg);
        }
        for (int64_t k = 0; k < batch; ++k) {
          if (at == perm.size()) {
            std::shuffle(perm.begin(), perm.end(), rng);
            at = 0;
          }
          const int64_t i = perm[at++];
          LB_ASSIGN_OR_RETURN(std::vector<graph::Tensor> out,
                              (*tape)->Forward({{input, xq[i]}}));
          LB_ASSIGN_OR_RETURN(
              LossResult l,
              BlockLoss(out[0], yf[i], fw.empty() ? nullptr : &fw[i], kind));
          const float scale = static_cast<float>(1.0 / (e0 * batch));
          for (int64_t j = 0; j < l.grad.numel(); ++j) {
            l.grad.data<float>()[j] *= scale;
          }
          LB_ASSIGN_OR_RETURN(auto grads, (*tape)->Backward({l.grad}));
          AddGradients(std::move(grads), k == 0, sum);
        }
        const bool reg = it >= warm;
        const double t =
            reg ? static_cast<double>(it - warm) / std::max(1, iters - warm)
                : 0.0;
        const float beta = static_cast<float>(20.0 + (2.0 - 20.0) * t);
        for (Rounded& r : rs) {
          const graph::Tensor& gw = sum.at(r.w->name);
          if (r.w->axis == 0) {
            r.sr.Step(gw.data<float>(), reg ? lambda : 0.0, beta, lr, it + 1,
                      pool);
          } else {
            const std::vector<float> gf =
                AxisToFront(gw.data<float>(), r.w->shape, r.w->axis);
            r.sr.Step(gf.data(), reg ? lambda : 0.0, beta, lr, it + 1, pool);
          }
        }
        progress.Step(label);
      }
      // The hard codes, kept where the block's output error is lower.
      std::vector<QuantizedTensor> hard;
      for (Rounded& r : rs) {
        undecided += r.sr.Undecided() * static_cast<double>(r.sr.size());
        rounded += r.sr.size();
        hard.push_back(r.sr.Harden());
        hard.back().method = "brecq";
        const std::vector<float> d = Dequantize(hard.back());
        WriteWeight(r, d.data(), *tg);
      }
      LB_ASSIGN_OR_RETURN(e1, BlockError(**tape, input, xq, yf, fw, kind, &y1));
      keep = e1 < e0;
      // Where the model's decisions are known: also no more decision errors
      // than the start's, the rest of the model as started.
      if (keep && judge) {
        LB_ASSIGN_OR_RETURN(edits1, judge->Edits(bi, y1));
        LB_ASSIGN_OR_RETURN(edits0, judge->Edits(bi, y0));
        keep = edits1 <= edits0;
      }
      if (keep) {
        for (size_t k = 0; k < rs.size(); ++k) *rs[k].w->q = hard[k];
        ++kept;
      }
    } else {
      for (int it = 0; it < iters; ++it) progress.Step(label);
    }
    // The next block's inputs: this block's outputs, quantized as kept.
    xq = keep ? std::move(y1) : std::move(y0);
    xf = std::move(yf);
    sum_e0 += e0;
    sum_e += keep ? e1 : e0;
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - tb)
            .count();
    last_start = e_start;
    last_error = keep ? e1 : e0;
    jblocks.push_back(
        {{"input", g->value_names[b.input]},
         {"output", g->value_names[b.output]},
         {"nodes", b.nodes.size()},
         {"weights", names},
         {"start_error", e0},
         {"start_model_error", e_start},
         {"error", keep ? e1 : e0},
         {"reconstructed_error", e1},
         {"kept", keep},
         {"undecided_before_hardening",
          rounded ? undecided / static_cast<double>(rounded) : 0.0},
         {"seconds", secs}});
    if (edits0 >= 0) {
      jblocks.back()["start_decision_errors"] = edits0;
      jblocks.back()["reconstructed_decision_errors"] = edits1;
    }
  }
  progress.Done();
  // The whole model with the weights as written (and as started), run on
  // the samples: its output error must be the last block's (a check of the
  // blocks' chaining); and its decisions against fp32's.
  auto whole = [&](bool started) -> Result<std::pair<double, int64_t>> {
    std::vector<QuantizedTensor> now;
    for (const BrecqWeight& w : ws) {
      now.push_back(w.q ? *w.q : QuantizedTensor());
    }
    auto q = WithWeights(*g, ws, started ? starts : now);
    graph::SessionOptions so;
    so.threads = o.threads;
    auto run = graph::Session::Create(q, so);
    if (!run.ok()) return run.status().WithPrefix(o.model);
    double err = 0.0;
    int64_t edits = 0;
    for (size_t i = 0; i < x0.size(); ++i) {
      auto y = (*run)->Run({{g->inputs[0].name, x0[i]}});
      if (!y.ok()) return y.status().WithPrefix(o.model);
      LB_ASSIGN_OR_RETURN(
          LossResult l,
          DistillLossOf((*y)[0], xf[i],
                        logits ? DistillLoss::kKl : DistillLoss::kMse));
      err += l.loss / static_cast<double>(x0.size());
      LB_ASSIGN_OR_RETURN(std::vector<int64_t> ref, RowArgmax(xf[i]));
      LB_ASSIGN_OR_RETURN(std::vector<int64_t> got, RowArgmax((*y)[0]));
      if (ctc && !charset) {
        charset = RecognizerCharset(o.model, xf[i].shape().back());
      }
      edits += DecisionErrors(ref, got, ctc, charset ? &*charset : nullptr);
    }
    return std::make_pair(err, edits);
  };
  LB_ASSIGN_OR_RETURN(const auto whole_end, whole(false));
  LB_ASSIGN_OR_RETURN(const auto whole_start, whole(true));
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  res.report = {
      {"blocks", jblocks},
      {"cut_points", fine->size() - 1},
      {"samples", xf.size()},
      {"iterations", iters},
      {"batch", batch},
      {"lambda", lambda},
      {"loss", use_fisher ? "fisher-weighted mse (fp32's decisions "
                            "as labels), the logits by KL"
                          : (logits ? "mse, the logits by KL" : "mse")},
      {"matched", logits ? "logits (the final Softmax's input)" : "the output"},
      {"kept_blocks", kept},
      {"error_over_start", sum_e0 > 0.0 ? sum_e / sum_e0 : 1.0},
      {"output_error", last_error},
      {"start_model_output_error", last_start},
      {"whole_model_output_error", whole_end.first},
      {"decision_errors", whole_end.second},
      {"start_decision_errors", whole_start.second},
      {"decisions", ctc ? "CTC edits against fp32's texts"
                        : "rows whose argmax differs from fp32's"},
      {"seconds", secs}};
  res.text = fmt::format(
      "BRECQ: {} blocks ({} cut points) on {} samples, {} steps of {} each: "
      "block output error {:.3f} of the start's (GPTQ), the learned rounding "
      "kept in {} blocks; the model's output {} on the samples {:.4g} (the "
      "start's {:.4g}){}; {:.1f} s\n",
      blocks.size(), fine->size() - 1, xf.size(), iters, batch,
      sum_e0 > 0.0 ? sum_e / sum_e0 : 1.0, kept,
      logits ? "KL to fp32" : "MSE to fp32", last_error, last_start,
      logits ? fmt::format(", {} {} (the start's {})", whole_end.second,
                           ctc ? "CTC edits against fp32's texts"
                               : "argmax changes against fp32",
                           whole_start.second)
             : std::string(),
      secs);
  return res;
}

}  // namespace lowbit
