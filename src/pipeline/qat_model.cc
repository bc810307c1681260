#include "pipeline/qat_model.h"

#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>

#include "graph/autodiff.h"
#include "graph/session.h"
#include "io/onnx_import.h"
#include "io/onnx_model.h"
#include "io/onnx_quantized.h"
#include "pipeline/eval_classifier.h"
#include "pipeline/quantize_paths.h"
#include "train/fake_quant.h"

namespace lowbit {
namespace {

struct QatWeight {
  std::string name;
  Shape shape;
  int axis = 0;
  std::string op;
  Shape front;  // the channel-first shape
  FakeQuantWeight fq;
  graph::Tensor grad_latent, grad_step;
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

}  // namespace

Result<QatResult> QatModel(const QatOptions& o) {
  namespace fs = std::filesystem;
  if (o.data != "fashion-mnist") {
    return InvalidArgument("--data " + o.data + ": expected fashion-mnist");
  }
  if (o.method != "lsq" && o.method != "ste") {
    return InvalidArgument("--method " + o.method + ": expected lsq or ste");
  }
  if (fs::path(o.out).extension() != ".onnx") {
    return InvalidArgument("-o " + o.out + ": the model is written as .onnx");
  }
  const std::optional<Scheme> scheme = ParseScheme(o.scheme);
  if (!scheme ||
      (scheme->kind != SchemeKind::kInt &&
       scheme->kind != SchemeKind::kTernary) ||
      (scheme->kind == SchemeKind::kInt && scheme->bits < 2)) {
    return InvalidArgument("--scheme " + o.scheme +
                           ": quantization-aware training takes int2..int8 "
                           "or ternary");
  }
  LB_ASSIGN_OR_RETURN(auto model, OnnxModel::Open(o.model));
  LB_RETURN_IF_ERROR(model->Materialize());
  LB_ASSIGN_OR_RETURN(std::shared_ptr<graph::Graph> g, ImportOnnx(o.model));
  LB_ASSIGN_OR_RETURN(ImageDataset train,
                      LoadFashionMnist(o.data_dir, "train"));
  LB_ASSIGN_OR_RETURN(ImageDataset test, LoadFashionMnist(o.data_dir, "test"));
  if (g->inputs.size() != 1) {
    return InvalidArgument(o.model +
                           ": a classifier takes one input; this "
                           "model takes " +
                           std::to_string(g->inputs.size()));
  }
  const std::string input = g->inputs[0].name;
  ThreadPool pool(o.threads);
  LB_ASSIGN_OR_RETURN(const double fp32_acc,
                      GraphAccuracy(g, test, o.threads, false, o.model));
  // The weights to quantize, and every float constant to train.
  std::vector<QatWeight> ws;
  const auto uses = model->Weights(false);
  for (const ModelTensor& t : model->tensors()) {
    auto u = uses.find(t.name);
    if (u == uses.end() || t.dtype != DType::kF32) continue;
    const int id = g->Find(t.name);
    if (id < 0 || !g->constants.count(id)) continue;
    const graph::Tensor& v = g->constants.at(id);
    QatWeight w;
    w.name = t.name;
    w.shape = v.shape();
    w.axis = u->second.channel_axis;
    w.op = u->second.op;
    const int64_t rows = w.shape[w.axis], cols = v.numel() / rows;
    const std::vector<float> front =
        AxisToFront(v.data<float>(), w.shape, w.axis);
    w.front = {rows, cols};
    auto fq = FakeQuantWeight::Create(front.data(), rows, cols, *scheme,
                                      o.method == "lsq", pool);
    if (!fq.ok()) return fq.status().WithPrefix(o.model + ": '" + t.name + "'");
    w.fq = std::move(fq).value();
    w.grad_latent = graph::Tensor::Zeros(DType::kF32, {rows, cols});
    w.grad_step = graph::Tensor::Zeros(DType::kF32, {rows});
    ws.push_back(std::move(w));
  }
  if (ws.empty()) {
    return InvalidArgument(o.model + ": no Conv, Gemm or MatMul weight");
  }
  // Trained: the weights and biases of the Conv, Gemm and MatMul layers
  // (other constants, such as an input normalisation, stay).
  std::vector<std::string> params;
  for (const graph::Node& n : g->nodes) {
    if (n.op != "Conv" && n.op != "Gemm" && n.op != "MatMul") continue;
    for (int k = 1; k <= 2 && k < n.num_inputs(); ++k) {
      const int id = n.inputs[k];
      if (id < 0 || !g->constants.count(id)) continue;
      const graph::Tensor& t = g->constants.at(id);
      const std::string& name = g->value_names[id];
      if (t.dtype() == DType::kF32 && t.numel() > 0 &&
          std::find(params.begin(), params.end(), name) == params.end()) {
        params.push_back(name);
      }
    }
  }
  LB_ASSIGN_OR_RETURN(auto tape, graph::Tape::Create(g, params, pool));
  // Post-training quantization with the initial steps: the starting point.
  WriteFakeQuant(ws, *g);
  LB_ASSIGN_OR_RETURN(const double ptq_acc,
                      GraphAccuracy(g, test, o.threads, false, o.model));
  std::map<std::string, QatWeight*> by_name;
  for (QatWeight& w : ws) by_name[w.name] = &w;
  TrainHooks hooks;
  hooks.before_forward = [&]() -> Status {
    WriteFakeQuant(ws, *g);
    return Status::Ok();
  };
  hooks.step_targets = [&](std::map<std::string, graph::Tensor>& grads,
                           std::vector<graph::Tensor*>* targets,
                           std::vector<const graph::Tensor*>* gs) -> Status {
    for (const std::string& p : params) {
      auto it = by_name.find(p);
      if (it == by_name.end()) {
        targets->push_back(&tape->param(p));
        gs->push_back(&grads.at(p));
        continue;
      }
      QatWeight& w = *it->second;
      const graph::Tensor& gq = grads.at(p);
      if (w.axis == 0) {
        w.fq.Backward(gq.data<float>(), w.grad_latent.data<float>(),
                      w.grad_step.data<float>());
      } else {
        const std::vector<float> front =
            AxisToFront(gq.data<float>(), w.shape, w.axis);
        w.fq.Backward(front.data(), w.grad_latent.data<float>(),
                      w.grad_step.data<float>());
      }
      targets->push_back(&w.fq.latent());
      gs->push_back(&w.grad_latent);
      if (w.fq.lsq()) {
        targets->push_back(&w.fq.step());
        gs->push_back(&w.grad_step);
      }
    }
    return Status::Ok();
  };
  const StepPrinter on_step(o.progress);
  const auto t0 = std::chrono::steady_clock::now();
  LB_ASSIGN_OR_RETURN(
      std::vector<EpochReport> epochs,
      TrainClassifier(*tape, input, train, o.train, on_step, hooks));
  on_step.Finish();
  const double train_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
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
  auto* meta = proto.add_metadata_props();
  meta->set_key("lowbit.qat");
  meta->set_value(fmt::format("{} per channel, {}, {} epochs", o.scheme,
                              o.method, epochs.size()));
  LB_RETURN_IF_ERROR(WriteOnnxModel(proto, o.out, false));
  LB_ASSIGN_OR_RETURN(auto written, ImportOnnx(o.out));
  LB_ASSIGN_OR_RETURN(const double qat_acc,
                      GraphAccuracy(written, test, o.threads, false, o.out));
  QatResult r;
  r.text = EpochsText(epochs);
  r.report = {{"model", o.model},
              {"output", o.out},
              {"scheme", o.scheme},
              {"granularity", "channel"},
              {"method", o.method},
              {"quantized_weights", ws.size()},
              {"quantized_params", qparams},
              {"weight_bits_per_param",
               qparams ? 8.0 * static_cast<double>(stored) / qparams : 0.0},
              {"epochs", EpochsJson(epochs)},
              {"batch", o.train.batch},
              {"lr", o.train.lr},
              {"train_seconds", train_seconds},
              {"test_images", test.n},
              {"fp32_accuracy", fp32_acc},
              {"ptq_accuracy", ptq_acc},
              {"qat_accuracy", qat_acc}};
  r.text += fmt::format(
      "{} per channel ({}): test accuracy fp32 {:.2f}%, quantized before "
      "training {:.2f}%, after {} epochs {:.2f}% (the written file, lowbit's "
      "engine); {:.1f} s; wrote {}\n",
      o.scheme, o.method, 100.0 * fp32_acc, 100.0 * ptq_acc, epochs.size(),
      100.0 * qat_acc, train_seconds, o.out);
  return r;
}

}  // namespace lowbit
