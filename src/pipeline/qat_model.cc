#include "pipeline/qat_model.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>

#include "eval/ocr.h"
#include "formats/scheme.h"
#include "graph/autodiff.h"
#include "graph/session.h"
#include "io/image.h"
#include "io/onnx_import.h"
#include "io/onnx_model.h"
#include "io/onnx_quantized.h"
#include "pipeline/brecq.h"
#include "pipeline/calibrate.h"
#include "pipeline/decisions.h"
#include "pipeline/eval_classifier.h"
#include "pipeline/quantize_layer.h"
#include "pipeline/quantize_model.h"
#include "pipeline/quantize_paths.h"
#include "train/checkpoint.h"
#include "train/distill.h"
#include "train/fake_quant.h"
#include "train/line_augment.h"

namespace lowbit {
namespace {

struct QatWeight {
  std::string name;
  Shape shape;
  int axis = 0;
  std::string op;
  Shape front;  // the channel-first shape
  FakeQuantWeight fq;
  graph::Tensor grad_latent, grad_step, grad_zero;
};

// The fake-quantized values of every weight into the graph's constants.
void WriteFakeQuant(std::vector<QatWeight>& ws, graph::Graph& g) {
  for (QatWeight& w : ws) {
    graph::Tensor& t = g.constants.at(g.Find(w.name));
    if (w.axis == 0) {
      w.fq.Forward(t.data<float>());
    } else {
      std::vector<float> front(static_cast<size_t>(t.numel()));
      w.fq.Forward(front.data());
      const std::vector<float> back =
          AxisFromFront(front.data(), w.shape, w.axis);
      std::copy(back.begin(), back.end(), t.data<float>());
    }
  }
}

// The options of lowbit's own quantization for the starting point.
QuantizeModelOptions StartOptions(const QatOptions& o) {
  QuantizeModelOptions q;
  q.model = o.model;
  q.scheme = o.scheme;
  q.method = o.init;
  q.calib = o.calib;
  q.calib_task = o.calib_task;
  q.threads = o.threads;
  if (o.group_size > 0) {
    q.group_size = o.group_size;
  } else {
    q.per_channel = true;
  }
  q.symmetric = !o.asymmetric;
  q.asymmetric = o.asymmetric;
  q.zero_point = o.asymmetric && o.zero_point == "auto" ? "f16" : o.zero_point;
  q.equalize = "off";  // the latent weights are the layer's own
  return q;
}

// Every Conv, Gemm and MatMul weight, fake-quantized from lowbit's
// quantization of it (--init brecq: GPTQ's, then every block reconstructed,
// pipeline/brecq.h).
Result<std::vector<QatWeight>> StartingWeights(const QatOptions& o,
                                               OnnxModel& model,
                                               const graph::Graph& g,
                                               ThreadPool& pool,
                                               nlohmann::json* brecq_report) {
  QuantizeModelOptions qo = StartOptions(o);
  const bool brecq = o.init == "brecq";
  if (brecq) qo.method = "gptq";
  std::unique_ptr<CalibStatsFile> stats;
  if (o.init == "gptq" || brecq) {
    LB_ASSIGN_OR_RETURN(stats, CalibrationStats(qo));
  }
  std::vector<QatWeight> ws;
  // Per weight: its fp32 values (channel first) and the method's result.
  std::vector<std::vector<float>> fronts;
  std::vector<QuantizedTensor> qs;
  const auto uses = model.Weights(false);
  for (const ModelTensor& t : model.tensors()) {
    auto u = uses.find(t.name);
    if (u == uses.end() || t.dtype != DType::kF32) continue;
    const int id = g.Find(t.name);
    if (id < 0 || !g.constants.count(id)) continue;
    const graph::Tensor& v = g.constants.at(id);
    QatWeight w;
    w.name = t.name;
    w.shape = v.shape();
    w.axis = u->second.channel_axis;
    w.op = u->second.op;
    const int64_t rows = w.shape[w.axis], cols = v.numel() / rows;
    std::vector<float> front = AxisToFront(v.data<float>(), w.shape, w.axis);
    w.front = {rows, cols};
    LB_ASSIGN_OR_RETURN(QuantConfig cfg, ConfigFor(qo, o.scheme));
    const CalibLayer* cl = stats ? stats->Find(t.name) : nullptr;
    auto choice = QuantizeLayer(
        front.data(), rows, cols, WeightTaps(w.op, w.shape), cfg, qo.method, cl,
        {}, pool, pipeline_internal::LayerOptionsFor(qo, u->second, cfg, cols));
    if (!choice.ok()) {
      return choice.status().WithPrefix(o.model + ": '" + t.name + "'");
    }
    fronts.push_back(std::move(front));
    qs.push_back(std::move(choice->q));
    ws.push_back(std::move(w));
  }
  if (ws.empty()) {
    return InvalidArgument(o.model + ": no Conv, Gemm or MatMul weight");
  }
  if (brecq) {
    std::vector<BrecqWeight> bw;
    for (size_t k = 0; k < ws.size(); ++k) {
      bw.push_back({ws[k].name, ws[k].shape, ws[k].axis, &fronts[k], &qs[k]});
    }
    QuantizeModelOptions bo = qo;
    bo.method = "brecq";
    bo.calib_samples = o.max_samples;
    LB_ASSIGN_OR_RETURN(BrecqResult br, BrecqRefine(bo, bw, pool));
    *brecq_report = std::move(br.report);
  }
  for (size_t k = 0; k < ws.size(); ++k) {
    QatWeight& w = ws[k];
    // From GPTQ (or BRECQ), the latent weights are its decoded ones, so that
    // training starts where it ended.
    const std::vector<float> latent =
        o.init == "mse" ? std::move(fronts[k]) : Dequantize(qs[k]);
    auto fq =
        FakeQuantWeight::FromQuantized(latent.data(), qs[k], o.method == "lsq");
    if (!fq.ok()) return fq.status().WithPrefix(o.model + ": '" + w.name + "'");
    w.fq = std::move(fq).value();
    const int64_t rows = w.front[0];
    w.grad_latent = graph::Tensor::Zeros(DType::kF32, w.front);
    w.grad_step = graph::Tensor::Zeros(DType::kF32, {rows, w.fq.groups()});
    w.grad_zero = graph::Tensor::Zeros(DType::kF32, {rows, w.fq.groups()});
    fronts[k] = {};
    qs[k] = {};
  }
  return ws;
}

// The weights and biases of the Conv, Gemm and MatMul layers (other
// constants, such as an input normalisation, stay).
std::vector<std::string> TrainedParams(const graph::Graph& g) {
  std::vector<std::string> params;
  for (const graph::Node& n : g.nodes) {
    if (n.op != "Conv" && n.op != "Gemm" && n.op != "MatMul") continue;
    for (int k = 1; k <= 2 && k < n.num_inputs(); ++k) {
      const int id = n.inputs[k];
      if (id < 0 || !g.constants.count(id)) continue;
      const graph::Tensor& t = g.constants.at(id);
      const std::string& name = g.value_names[id];
      if (t.dtype() == DType::kF32 && t.numel() > 0 &&
          std::find(params.begin(), params.end(), name) == params.end()) {
        params.push_back(name);
      }
    }
  }
  return params;
}

// What a checkpoint of this run must match: the model and every option that
// shapes the trained tensors or the order of the data.
std::string QatFingerprint(const QatOptions& o) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(o.model, ec);
  return fmt::format(
      "qat of {} ({} bytes): {} {} {}, {} from {}, data {}{}, batch {}, {} "
      "seed {}",
      std::filesystem::path(o.model).filename().string(),
      ec ? 0 : static_cast<uint64_t>(size), o.scheme,
      o.group_size > 0 ? "g" + std::to_string(o.group_size) : "channel",
      o.asymmetric ? "asymmetric " + o.zero_point : "symmetric", o.method,
      o.init, o.calib.empty() ? o.data : o.calib,
      (o.max_samples > 0 ? " (" + std::to_string(o.max_samples) + ")"
                         : std::string()) +
          (o.distill ? fmt::format(", {} held out", o.holdout) : "") +
          (o.distill_loss == "mse" ? ", loss mse" : "") +
          (o.hard_weight > 0.0 ? fmt::format(", hard {}", o.hard_weight) : "") +
          (o.distill_confidence > 0.0
               ? fmt::format(", confidence {} ({})", o.distill_confidence,
                             o.distill_unsure)
               : "") +
          (o.features.empty()
               ? std::string()
               : fmt::format(", features {} x{}", fmt::join(o.features, " "),
                             o.feature_weight)) +
          (!o.distill && o.train.validation > 0
               ? fmt::format(", {} held out", o.train.validation)
               : "") +
          (o.train_images > 0
               ? fmt::format(", the first {} images", o.train_images)
               : "") +
          (o.train.teacher_weight > 0.0
               ? fmt::format(", teacher {}", o.train.teacher_weight)
               : "") +
          (o.batchnorm == "train" ? ", batchnorm train" : "") +
          (o.train.augment != "none"
               ? fmt::format(", augment {} {}", o.train.augment, o.train.shift)
               : ""),
      o.train.batch, o.train.optimizer.kind, o.train.seed);
}

// The named intermediate values as outputs of g, after the model's own.
Status AddFeatureOutputs(graph::Graph& g, const std::vector<std::string>& names,
                         const std::string& model) {
  for (const std::string& name : names) {
    const int id = g.Find(name);
    bool computed = false;
    for (const graph::Node& n : g.nodes) {
      computed = computed || std::find(n.outputs.begin(), n.outputs.end(),
                                       id) != n.outputs.end();
    }
    if (id < 0 || !computed) {
      return InvalidArgument(model + ": --features '" + name +
                             "': no value of that name is computed by a node");
    }
    if (std::find(g.output_ids.begin(), g.output_ids.end(), id) !=
        g.output_ids.end()) {
      return InvalidArgument(model + ": --features '" + name +
                             "': an output already (or named twice)");
    }
    g.output_ids.push_back(id);
    graph::ValueInfo vi;
    vi.name = name;
    g.outputs.push_back(vi);
  }
  return Status::Ok();
}

}  // namespace

double DefaultDistillLr(const std::string& scheme) {
  const std::optional<Scheme> s = ParseScheme(scheme);
  if (!s) return 1e-4;
  const int intervals =
      s->kind == SchemeKind::kBinary    ? 1
      : s->kind == SchemeKind::kTernary ? 2
      : s->kind == SchemeKind::kInt && s->bits >= 2 && s->bits <= 8
          ? (1 << s->bits) - 1
          : 3;
  return 3e-4 / intervals;
}

Result<QatResult> QatModel(const QatOptions& o) {
  namespace fs = std::filesystem;
  const bool distill = o.distill;
  if (distill && o.calib.empty()) {
    return InvalidArgument(
        "--distill takes --calib DIR: the samples whose fp32 outputs the "
        "quantized model learns");
  }
  if (o.train.teacher_weight > 0.0 && (distill || o.train.augment != "none")) {
    return InvalidArgument(
        "--teacher-weight mixes the fp32 model's outputs on the training "
        "images into the labels' loss: labeled data without --augment (with "
        "--distill the fp32 outputs are the only targets)");
  }
  if (o.batchnorm != "frozen" && o.batchnorm != "train") {
    return InvalidArgument("--batchnorm " + o.batchnorm +
                           ": expected frozen or train");
  }
  if (o.batchnorm == "train" && !o.train.resume.empty()) {
    return InvalidArgument(
        "--resume with --batchnorm train: a checkpoint holds the trained "
        "weights and steps, not the running statistics");
  }
  if (distill && o.batchnorm == "train") {
    return InvalidArgument(
        "--batchnorm train needs batches of images; --distill runs the "
        "calibration samples one at a time (their statistics would be one "
        "sample's)");
  }
  const bool line_views = o.train.augment == "text-line";
  if (line_views && !(distill && o.calib_task == "ocr")) {
    return InvalidArgument(
        "--augment text-line changes --distill's line images (--calib-task "
        "ocr); labeled images take flip or flip-shift");
  }
  if (distill && !line_views && o.train.augment != "none") {
    return InvalidArgument("--augment " + o.train.augment +
                           ": --distill's samples change with text-line "
                           "(line images) or not at all");
  }
  if (!o.features.empty() && !distill) {
    return InvalidArgument(
        "--features are learned from the fp32 model by --distill");
  }
  if (!(o.feature_weight >= 0.0)) {
    return InvalidArgument("--feature-weight: expected >= 0");
  }
  if (o.distill_loss != "auto" && o.distill_loss != "kl" &&
      o.distill_loss != "mse") {
    return InvalidArgument("--distill-loss '" + o.distill_loss +
                           "': expected auto, kl or mse");
  }
  if (o.distill_loss != "auto" && !distill) {
    return InvalidArgument("--distill-loss chooses --distill's loss");
  }
  if (o.hard_weight > 0.0 && o.distill_loss == "mse") {
    return InvalidArgument(
        "--hard-weight adds to the KL; --distill-loss mse has none");
  }
  if (o.distill_confidence != 0.0 &&
      !(o.distill_confidence > 0.0 && o.distill_confidence < 1.0)) {
    return InvalidArgument(
        fmt::format("--distill-confidence {}: a probability in (0, 1)",
                    o.distill_confidence));
  }
  if (o.distill_confidence > 0.0 && !distill) {
    return InvalidArgument(
        "--distill-confidence leaves fp32's unsure rows out of --distill's "
        "loss; without --distill there is none");
  }
  if (o.distill_unsure != "own" && o.distill_unsure != "start") {
    return InvalidArgument("--distill-unsure '" + o.distill_unsure +
                           "': own or start");
  }
  if (o.distill_unsure != "own" && !(o.distill_confidence > 0.0)) {
    return InvalidArgument(
        "--distill-unsure says what the rows --distill-confidence leaves "
        "out learn: give --distill-confidence");
  }
  if (o.distill_unsure == "start" && o.train.augment != "none") {
    return InvalidArgument(
        "--distill-unsure start keeps the start's output on each sample; "
        "--augment changes the samples every step");
  }
  if (o.distill_confidence > 0.0 && o.hard_weight > 0.0) {
    return InvalidArgument(
        "--distill-confidence leaves fp32's unsure rows out; --hard-weight "
        "would still count their decisions: choose one");
  }
  if (o.hard_weight > 0.0 && !distill) {
    return InvalidArgument(
        "--hard-weight weighs fp32's decisions in --distill's loss; with "
        "labels, --teacher-weight mixes in fp32's outputs");
  }
  if (distill && o.train.validation > 0) {
    return InvalidArgument(
        "--validation holds out labeled images; with --distill, --holdout "
        "holds out calibration samples");
  }
  if (distill && (o.train_images > 0 || o.test_images > 0)) {
    return InvalidArgument(
        std::string(o.train_images > 0 ? "--train-images" : "--test-images") +
        " counts Fashion-MNIST images; with --distill the samples are "
        "--calib's (--max-samples, --holdout)");
  }
  if (!distill && o.data != "fashion-mnist") {
    return InvalidArgument("--data " + o.data +
                           ": expected fashion-mnist (or --calib DIR "
                           "--distill, without labels)");
  }
  if (o.method != "lsq" && o.method != "ste") {
    return InvalidArgument("--method " + o.method + ": expected lsq or ste");
  }
  if (o.init != "mse" && o.init != "gptq" && o.init != "brecq") {
    return InvalidArgument("--init " + o.init +
                           ": expected mse, gptq or brecq");
  }
  if (o.init == "brecq" && (o.scheme == "ternary" || o.scheme == "binary")) {
    return InvalidArgument(
        "--init brecq learns integer codes' rounding: "
        "int2..int8, not " +
        o.scheme);
  }
  if (o.init != "mse" && o.calib.empty()) {
    return InvalidArgument("--init " + o.init +
                           " needs --calib DIR (its statistics" +
                           (o.init == "brecq" ? " and samples)" : ")"));
  }
  if (fs::path(o.out).extension() != ".onnx") {
    return InvalidArgument("-o " + o.out + ": the model is written as .onnx");
  }
  if (o.out == o.model) {
    return InvalidArgument("-o " + o.out +
                           ": refusing to overwrite the input model");
  }
  const std::optional<Scheme> scheme = ParseScheme(o.scheme);
  if (!scheme ||
      (scheme->kind != SchemeKind::kInt &&
       scheme->kind != SchemeKind::kTernary &&
       scheme->kind != SchemeKind::kBinary) ||
      (scheme->kind == SchemeKind::kInt && scheme->bits < 2)) {
    return InvalidArgument("--scheme " + o.scheme +
                           ": quantization-aware training takes int2..int8, "
                           "ternary or binary");
  }
  LB_ASSIGN_OR_RETURN(auto model, OnnxModel::Open(o.model));
  LB_RETURN_IF_ERROR(model->Materialize());
  LB_ASSIGN_OR_RETURN(std::shared_ptr<graph::Graph> g, ImportOnnx(o.model));
  if (g->inputs.size() != 1) {
    return InvalidArgument(o.model +
                           ": qat feeds models with one input; "
                           "this one takes " +
                           std::to_string(g->inputs.size()));
  }
  const std::string input = g->inputs[0].name;
  ThreadPool pool(o.threads);

  // The data, and what the fp32 model does on it, before any weight is
  // touched (the graphs share their constants).
  ImageDataset train, test, val;
  std::vector<float> teacher;  // the fp32 logits of the training images
  double fp32_acc = 0.0;
  std::vector<DistillSample> samples, held_out;
  bool kl = false;           // the output learned by KL (else the MSE)
  bool logits = false;       // the final Softmax cut: the output is the logits
  size_t first_feature = 1;  // --features: the graph output of the first
  // With --augment text-line: the training lines as read, and the fp32 model
  // kept for training on constants of its own (the student's are overwritten
  // every step); without, it runs here only and shares the constants.
  std::vector<Image> lines;
  std::unique_ptr<graph::Session> teacher_session;
  if (!distill) {
    LB_ASSIGN_OR_RETURN(
        train, LoadFashionMnistFirst(o.data_dir, "train", o.train_images));
    LB_ASSIGN_OR_RETURN(
        test, LoadFashionMnistFirst(o.data_dir, "test", o.test_images));
    if (o.train.validation > 0) {
      LB_ASSIGN_OR_RETURN(val, HoldOutLast(&train, o.train.validation));
    }
    LB_ASSIGN_OR_RETURN(fp32_acc,
                        GraphAccuracy(g, test, o.threads, false, o.model));
    if (o.train.teacher_weight > 0.0) {
      LB_ASSIGN_OR_RETURN(teacher, GraphLogits(g, train, o.threads, o.model));
    }
  } else {
    logits = CutFinalSoftmax(*g);
    if (o.distill_loss == "kl" && !logits) {
      return InvalidArgument(o.model +
                             ": --distill-loss kl needs logits (a model that "
                             "ends in a Softmax)");
    }
    kl = logits && o.distill_loss != "mse";
    first_feature = g->output_ids.size();
    LB_RETURN_IF_ERROR(AddFeatureOutputs(*g, o.features, o.model));
    if (o.distill_confidence > 0.0 && !logits) {
      return InvalidArgument(
          o.model +
          ": --distill-confidence needs logits (a model that ends in a "
          "Softmax): fp32's confidence is its top probability");
    }
    if (o.hard_weight > 0.0 && !kl) {
      return InvalidArgument(
          o.model +
          ": --hard-weight needs logits (a model that ends in a Softmax); "
          "this one's output is learned by the mean squared error");
    }
    LB_ASSIGN_OR_RETURN(std::vector<std::string> files,
                        CalibSampleFiles(o.calib, o.calib_task));
    if (o.max_samples > 0 &&
        static_cast<int64_t>(files.size()) > o.max_samples) {
      files.resize(o.max_samples);
    }
    graph::SessionOptions so;
    so.threads = o.threads;
    auto fp32 = std::make_shared<graph::Graph>(*g);
    if (line_views) {
      for (auto& [id, t] : fp32->constants) {
        graph::Tensor own = graph::Tensor::Zeros(t.dtype(), t.shape());
        std::copy_n(t.bytes(), t.nbytes(), own.bytes());
        t = std::move(own);
      }
    }
    LB_ASSIGN_OR_RETURN(teacher_session, graph::Session::Create(fp32, so));
    graph::Session* teacher = teacher_session.get();
    if (!(o.holdout >= 0.0 && o.holdout < 1.0)) {
      return InvalidArgument("--holdout " + std::to_string(o.holdout) +
                             ": a fraction in [0, 1)");
    }
    const int64_t stride =
        o.holdout > 0.0 ? std::max<int64_t>(2, std::llround(1.0 / o.holdout))
                        : 0;
    for (size_t i = 0; i < files.size(); ++i) {
      // Line images padded as PaddleOCR reads them (pipeline/eval_ocr.h).
      LB_ASSIGN_OR_RETURN(graph::Tensor x,
                          LoadCalibSample(files[i], o.calib_task,
                                          o.calib_task == "ocr" ? 320 : 0));
      auto y = teacher->Run({{input, x}});
      if (!y.ok()) return y.status().WithPrefix(o.model + ": " + files[i]);
      const bool held = stride > 0 && files.size() >= 5 &&
                        static_cast<int64_t>(i) % stride == stride - 1;
      DistillSample s{std::move(x), std::move((*y)[0]), {}};
      for (size_t k = 0; k < o.features.size(); ++k) {
        const graph::Tensor& f = (*y)[first_feature + k];
        if (f.dtype() != DType::kF32 || f.numel() < 1) {
          return InvalidArgument(o.model + ": --features '" + o.features[k] +
                                 "': " + f.Describe() +
                                 ", expected float values");
        }
        // Held-out samples are judged by the output alone.
        if (!held) s.features.push_back(std::move((*y)[first_feature + k]));
      }
      (held ? held_out : samples).push_back(std::move(s));
      if (line_views && !held) {
        LB_ASSIGN_OR_RETURN(Image img, ReadImage(files[i]));
        lines.push_back(std::move(img));
      }
    }
    if (!line_views) teacher_session.reset();
  }
  nlohmann::json brecq_report;
  LB_ASSIGN_OR_RETURN(std::vector<QatWeight> ws,
                      StartingWeights(o, *model, *g, pool, &brecq_report));
  const std::vector<std::string> params = TrainedParams(*g);
  LB_ASSIGN_OR_RETURN(auto tape, graph::Tape::Create(g, params, pool));
  const int bn_nodes =
      o.batchnorm == "train" ? tape->SetBatchNormTraining(true) : 0;
  const DistillLoss loss_kind = kl ? DistillLoss::kKl : DistillLoss::kMse;
  const double hard = o.hard_weight;
  const double conf = o.distill_confidence;
  // --distill-confidence: the rows fp32 is unsure of, counted.
  int64_t rows = 0, unsure_rows = 0;
  if (conf > 0.0) {
    for (const DistillSample& s : samples) {
      for (bool u : UnsureRows(s.teacher, conf)) {
        ++rows;
        unsure_rows += u ? 1 : 0;
      }
    }
  }
  // The distillation loss over the samples, the weights as they are, and
  // the features' relative squared error (--features; their mean).
  const auto sample_loss = [&](double* feature_error) -> Result<double> {
    double sum = 0.0, fsum = 0.0;
    for (const DistillSample& s : samples) {
      LB_ASSIGN_OR_RETURN(std::vector<graph::Tensor> out,
                          tape->Forward({{input, s.x}}));
      LB_ASSIGN_OR_RETURN(
          LossResult l, DistillLossOf(out[0], s.teacher, loss_kind, hard, conf,
                                      s.UnsureTarget()));
      sum += l.loss;
      for (size_t k = 0; k < s.features.size(); ++k) {
        LB_ASSIGN_OR_RETURN(
            LossResult f, FeatureLossOf(out[first_feature + k], s.features[k]));
        fsum += f.loss / static_cast<double>(s.features.size());
      }
    }
    const double n = static_cast<double>(std::max<size_t>(1, samples.size()));
    *feature_error = fsum / n;
    return sum / n;
  };
  // The starting point: lowbit's post-training quantization.
  WriteFakeQuant(ws, *g);
  double ptq_acc = 0.0, ptq_loss = 0.0, ptq_features = 0.0;
  if (o.distill_unsure == "start") {
    // The start's outputs: what the rows fp32 is unsure of keep.
    for (auto* set : {&samples, &held_out}) {
      for (DistillSample& s : *set) {
        LB_ASSIGN_OR_RETURN(std::vector<graph::Tensor> out,
                            tape->Forward({{input, s.x}}));
        s.unsure_target = graph::Tensor::Zeros(DType::kF32, out[0].shape());
        std::copy_n(out[0].data<float>(), out[0].numel(),
                    s.unsure_target.data<float>());
      }
    }
  }
  if (distill) {
    auto l = sample_loss(&ptq_features);
    if (!l.ok()) return l.status().WithPrefix(o.model);
    ptq_loss = *l;
  } else {
    LB_ASSIGN_OR_RETURN(ptq_acc,
                        GraphAccuracy(g, test, o.threads, false, o.model));
  }
  std::map<std::string, QatWeight*> by_name;
  for (QatWeight& w : ws) by_name[w.name] = &w;
  TrainHooks hooks;
  hooks.before_forward = [&]() -> Status {
    WriteFakeQuant(ws, *g);
    return Status::Ok();
  };
  // What the optimiser steps, in one order: per parameter, its own tensor, or
  // a quantized weight's latent values, steps and zero points (as trained).
  const auto targets_of = [&](std::map<std::string, graph::Tensor>* grads,
                              std::vector<graph::Tensor*>* targets,
                              std::vector<const graph::Tensor*>* gs) {
    for (const std::string& p : params) {
      auto it = by_name.find(p);
      if (it == by_name.end()) {
        targets->push_back(&tape->param(p));
        if (grads) gs->push_back(&grads->at(p));
        continue;
      }
      QatWeight& w = *it->second;
      if (grads) {
        const graph::Tensor& gq = grads->at(p);
        const std::vector<float> front =
            w.axis == 0 ? std::vector<float>()
                        : AxisToFront(gq.data<float>(), w.shape, w.axis);
        w.fq.Backward(w.axis == 0 ? gq.data<float>() : front.data(),
                      w.grad_latent.data<float>(), w.grad_step.data<float>(),
                      w.grad_zero.data<float>());
        gs->push_back(&w.grad_latent);
        if (w.fq.lsq()) gs->push_back(&w.grad_step);
        if (w.fq.trains_zero()) gs->push_back(&w.grad_zero);
      }
      targets->push_back(&w.fq.latent());
      if (w.fq.lsq()) targets->push_back(&w.fq.step());
      if (w.fq.trains_zero()) targets->push_back(&w.fq.zero());
    }
  };
  hooks.step_targets = [&](std::map<std::string, graph::Tensor>& grads,
                           std::vector<graph::Tensor*>* targets,
                           std::vector<const graph::Tensor*>* gs) -> Status {
    targets_of(&grads, targets, gs);
    return Status::Ok();
  };
  hooks.state_tensors = [&]() {
    std::vector<graph::Tensor*> t;
    targets_of(nullptr, &t, nullptr);
    return t;
  };
  // Early stopping on the held-out samples: their decisions' distance to
  // fp32's, ties by the loss.
  const bool ctc = o.calib_task == "ocr";
  // With --distill-confidence, where fp32 is unsure the reference is the
  // quantized model's own decision, or the start's with --distill-unsure
  // start (fp32's decisions where it is sure).
  std::vector<std::vector<int64_t>> held_ref;
  // Per held-out sample: fp32's unsure rows, and the start's decisions.
  std::vector<std::vector<bool>> held_unsure;
  std::vector<std::vector<int64_t>> held_start;
  std::optional<OcrCharset> charset;
  for (const DistillSample& s : held_out) {
    held_unsure.push_back(conf > 0.0 ? UnsureRows(s.teacher, conf)
                                     : std::vector<bool>());
    held_start.emplace_back();
    if (const graph::Tensor* start = s.UnsureTarget()) {
      LB_ASSIGN_OR_RETURN(held_start.back(), RowArgmax(*start));
    }
    LB_ASSIGN_OR_RETURN(std::vector<int64_t> am, RowArgmax(s.teacher));
    if (ctc && !charset) {
      charset = RecognizerCharset(o.model, s.teacher.shape().back());
    }
    held_ref.push_back(std::move(am));
  }
  ValidationResult validation;
  if (!distill && o.train.validation > 0) {
    // Evaluated with the running statistics (and without moving them).
    hooks.validate = ClassifierValidation(*tape, input, val, 256);
    hooks.validation_out = &validation;
  }
  if (!held_out.empty()) {
    hooks.validate = [&]() -> Result<double> {
      double loss = 0.0;
      int64_t errors = 0;
      std::vector<int64_t> ref;
      for (size_t i = 0; i < held_out.size(); ++i) {
        LB_ASSIGN_OR_RETURN(std::vector<graph::Tensor> out,
                            tape->Forward({{input, held_out[i].x}}));
        LB_ASSIGN_OR_RETURN(
            LossResult l,
            DistillLossOf(out[0], held_out[i].teacher, loss_kind, hard, conf,
                          held_out[i].UnsureTarget()));
        loss += l.loss / static_cast<double>(held_out.size());
        LB_ASSIGN_OR_RETURN(std::vector<int64_t> am, RowArgmax(out[0]));
        ref = held_ref[i];
        const std::vector<int64_t>& keep =
            held_start[i].empty() ? am : held_start[i];
        for (size_t t = 0;
             t < held_unsure[i].size() && t < ref.size() && t < keep.size();
             ++t) {
          if (held_unsure[i][t]) ref[t] = keep[t];
        }
        errors += DecisionErrors(ref, am, ctc, charset ? &*charset : nullptr);
      }
      return static_cast<double>(errors) + loss / (1.0 + loss);
    };
    hooks.validation_out = &validation;
  }
  TrainState resumed;
  LB_RETURN_IF_ERROR(UseCheckpoints(CheckpointPath(o.train, o.out),
                                    o.train.resume, QatFingerprint(o), &resumed,
                                    &hooks));
  DistillView view;
  if (line_views) {
    view = [&](int64_t i, uint64_t seed) -> Result<DistillSample> {
      DistillSample s;
      s.x = PreprocessOcrLine(AugmentTextLine(lines[i], seed), 320);
      LB_ASSIGN_OR_RETURN(std::vector<graph::Tensor> y,
                          teacher_session->Run({{input, s.x}}));
      s.teacher = std::move(y[0]);
      for (size_t k = 0; k < o.features.size(); ++k) {
        s.features.push_back(std::move(y[first_feature + k]));
      }
      return s;
    };
  }
  const StepPrinter on_step(o.progress);
  const auto t0 = std::chrono::steady_clock::now();
  Result<std::vector<EpochReport>> trained =
      distill ? TrainDistill(*tape, input, samples,
                             {loss_kind, hard,
                              o.features.empty() ? 0.0 : o.feature_weight,
                              first_feature, conf},
                             o.train, on_step, hooks, view)
              : TrainClassifier(*tape, input, train, o.train, on_step, hooks,
                                teacher.empty() ? nullptr : &teacher);
  on_step.Finish();
  if (!trained.ok()) return trained.status().WithPrefix(o.model);
  const std::vector<EpochReport>& epochs = *trained;
  const double train_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  WriteFakeQuant(ws, *g);
  double qat_loss = 0.0, qat_features = 0.0;
  if (distill) {
    auto l = sample_loss(&qat_features);
    if (!l.ok()) return l.status().WithPrefix(o.model);
    qat_loss = *l;
  }
  // The model: quantized weights as codes, the other constants as trained.
  onnx::ModelProto& proto = model->proto();
  for (auto& t : *proto.mutable_graph()->mutable_initializer()) {
    if (by_name.count(t.name())) continue;
    const int id = g->Find(t.name());
    if (id < 0 || !g->constants.count(id)) continue;
    const graph::Tensor& v = g->constants.at(id);
    if (v.dtype() != DType::kF32 || t.data_type() != onnx::TensorProto::FLOAT) {
      continue;
    }
    t.clear_float_data();
    t.set_raw_data(v.bytes(), static_cast<size_t>(v.nbytes()));
  }
  int64_t qparams = 0, stored = 0;
  for (QatWeight& w : ws) {
    const QuantizedTensor q = w.fq.Export(w.front);
    const OnnxEncoding enc = pipeline_internal::ChooseOnnxEncoding(
        "auto", q, model->opset(), w.shape, w.axis, w.op);
    auto wr =
        WriteOnnxWeight(proto, model->opset(), w.name, w.shape, w.axis, q, enc);
    if (!wr.ok()) return wr.status().WithPrefix(o.model);
    qparams += q.rows * q.cols;
    stored += wr->stored_bytes;
  }
  const std::string granularity =
      o.group_size > 0 ? "groups of " + std::to_string(o.group_size)
                       : std::string("channel");
  auto* meta = proto.add_metadata_props();
  meta->set_key("lowbit.qat");
  meta->set_value(fmt::format("{} per {}, {}, {} epochs{}", o.scheme,
                              granularity, o.method, epochs.size(),
                              distill ? ", distilled" : ""));
  LB_RETURN_IF_ERROR(WriteOnnxModel(proto, o.out, false));
  QatResult r;
  r.text = EpochsText(epochs);
  r.report = {{"model", o.model},
              {"output", o.out},
              {"scheme", o.scheme},
              {"granularity", granularity},
              {"symmetric", !o.asymmetric},
              {"method", o.method},
              {"init", o.init},
              {"quantized_weights", ws.size()},
              {"quantized_params", qparams},
              {"weight_bits_per_param",
               qparams ? 8.0 * static_cast<double>(stored) / qparams : 0.0},
              {"epochs", EpochsJson(epochs)},
              {"batch", o.train.batch},
              {"lr", o.train.lr},
              {"optimizer", o.train.optimizer.kind},
              {"augment", o.train.augment},
              {"teacher_weight", o.train.teacher_weight},
              {"hard_weight", o.hard_weight},
              {"features", o.features},
              {"feature_weight", o.features.empty() ? 0.0 : o.feature_weight},
              {"batchnorm", o.batchnorm},
              {"batchnorm_nodes_trained", bn_nodes},
              {"train_seconds", train_seconds},
              {"checkpoint", CheckpointPath(o.train, o.out)},
              {"resumed_from", o.train.resume}};
  if (!brecq_report.is_null()) r.report["brecq"] = brecq_report;
  if (distill) {
    r.report["distill"] = {{"samples", samples.size()},
                           {"loss", kl       ? "kl on the logits"
                                    : logits ? "mse on the logits"
                                             : "mse"},
                           {"ptq_loss", ptq_loss},
                           {"qat_loss", qat_loss}};
    if (conf > 0.0) {
      r.report["distill"]["confidence"] = conf;
      r.report["distill"]["unsure_learn"] = o.distill_unsure;
      r.report["distill"]["unsure_rows"] = unsure_rows;
      r.report["distill"]["rows"] = rows;
    }
    if (!o.features.empty()) {
      r.report["distill"]["ptq_feature_error"] = ptq_features;
      r.report["distill"]["qat_feature_error"] = qat_features;
    }
    if (!held_out.empty()) {
      r.report["distill"]["held_out"] = {
          {"samples", held_out.size()},
          {"measure", std::string(ctc ? "CTC edits" : "argmax changes") +
                          " against fp32 + loss / (1 + loss)"},
          {"start", validation.start},
          {"best", validation.best},
          {"written_epoch", validation.best_epoch}};
    }
    r.text += fmt::format(
        "{} per {} ({}, distilled on {} samples): {} before training {:.4g}, "
        "after {:.4g}",
        o.scheme, granularity, o.method, samples.size(),
        kl ? "KL to fp32" : "MSE to fp32", ptq_loss, qat_loss);
    if (!o.features.empty()) {
      r.text += fmt::format(
          "; the {} features' relative squared error before {:.4g}, after "
          "{:.4g}",
          o.features.size(), ptq_features, qat_features);
    }
    if (!held_out.empty()) {
      r.text += fmt::format(
          "; {} held-out samples: {:.4g} before training, the best {:.4g} "
          "after epoch {} (written)",
          held_out.size(), validation.start, validation.best,
          validation.best_epoch);
    }
    r.text += fmt::format("; {:.1f} s; wrote {}\n", train_seconds, o.out);
    return r;
  }
  LB_ASSIGN_OR_RETURN(auto written, ImportOnnx(o.out));
  LB_ASSIGN_OR_RETURN(const double qat_acc,
                      GraphAccuracy(written, test, o.threads, false, o.out));
  r.report["train_images"] = train.n;  // trained on (not held out)
  r.report["test_images"] = test.n;
  r.report["fp32_accuracy"] = fp32_acc;
  r.report["ptq_accuracy"] = ptq_acc;
  r.report["qat_accuracy"] = qat_acc;
  if (o.train.validation > 0) {
    r.report["validation"] = ValidationJson(validation, val.n);
    r.text += ValidationText(validation, val.n);
  }
  r.text += fmt::format(
      "{} per {} ({}): test accuracy on {} images fp32 {:.2f}%, quantized "
      "before training {:.2f}%, after {} epochs {:.2f}% (the written file, "
      "lowbit's engine); {:.1f} s; wrote {}\n",
      o.scheme, granularity, o.method, test.n, 100.0 * fp32_acc,
      100.0 * ptq_acc, epochs.size(), 100.0 * qat_acc, train_seconds, o.out);
  return r;
}

}  // namespace lowbit
