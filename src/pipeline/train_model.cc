#include "pipeline/train_model.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>

#include "graph/autodiff.h"
#include "graph/session.h"
#include "io/onnx_import.h"
#include "io/onnx_model.h"
#include "pipeline/eval_classifier.h"
#include "train/checkpoint.h"
#include "train/fmnist_cnn.h"

namespace lowbit {

Result<TrainModelResult> TrainModel(const TrainModelOptions& o) {
  namespace fs = std::filesystem;
  if (o.arch != "fmnist-cnn" && o.arch != "fmnist-cnn-bn") {
    return InvalidArgument("--arch " + o.arch +
                           ": expected fmnist-cnn or fmnist-cnn-bn");
  }
  const bool batchnorm = o.arch == "fmnist-cnn-bn";
  if (batchnorm && !o.train.resume.empty()) {
    return InvalidArgument(
        "--resume with --arch fmnist-cnn-bn: a checkpoint holds the trained "
        "weights, not the running statistics");
  }
  if (o.data != "fashion-mnist") {
    return InvalidArgument("--data " + o.data + ": expected fashion-mnist");
  }
  if (fs::path(o.out).extension() != ".onnx") {
    return InvalidArgument("-o " + o.out + ": the model is written as .onnx");
  }
  LB_ASSIGN_OR_RETURN(
      ImageDataset train,
      LoadFashionMnistFirst(o.data_dir, "train", o.train_images));
  LB_ASSIGN_OR_RETURN(ImageDataset test,
                      LoadFashionMnistFirst(o.data_dir, "test", o.test_images));
  ImageDataset val;
  if (o.train.validation > 0) {
    LB_ASSIGN_OR_RETURN(val, HoldOutLast(&train, o.train.validation));
  }
  onnx::ModelProto proto = FashionMnistCnn(o.train.seed, batchnorm);
  // The engine's graph of the fresh model (through a file: the importer
  // checks what it reads).
  const std::string init = o.out + ".init.tmp";
  LB_RETURN_IF_ERROR(WriteOnnxModel(proto, init, false));
  auto imported = ImportOnnx(init);
  std::error_code ec;
  fs::remove(init, ec);
  LB_ASSIGN_OR_RETURN(std::shared_ptr<graph::Graph> g, std::move(imported));
  std::vector<std::string> params;
  for (const auto& t : proto.graph().initializer()) {
    const std::string& n = t.name();
    const bool weight = n.ends_with(".weight") || n.ends_with(".bias");
    if (weight) params.push_back(n);
  }
  ThreadPool pool(o.threads);
  LB_ASSIGN_OR_RETURN(auto tape, graph::Tape::Create(g, params, pool));
  // BatchNormalization trains on each batch's statistics; the running ones
  // it updates are written.
  if (batchnorm) tape->SetBatchNormTraining(true);
  TrainHooks hooks;
  ValidationResult validation;
  if (o.train.validation > 0) {
    hooks.validate = ClassifierValidation(*tape, "x", val, 256);
    hooks.validation_out = &validation;
  }
  TrainState resumed;
  LB_RETURN_IF_ERROR(UseCheckpoints(
      CheckpointPath(o.train, o.out), o.train.resume,
      fmt::format("train of {} on {}, batch {}, {} seed {}{}", o.arch, o.data,
                  o.train.batch, o.train.optimizer.kind, o.train.seed,
                  (o.train.validation > 0
                       ? fmt::format(", {} held out", o.train.validation)
                       : "") +
                      (o.train_images > 0 ? fmt::format(", the first {} images",
                                                        o.train_images)
                                          : "") +
                      (o.train.augment != "none"
                           ? fmt::format(", augment {} {}", o.train.augment,
                                         o.train.shift)
                           : "")),
      &resumed, &hooks));
  const StepPrinter on_step(o.progress);
  const auto t0 = std::chrono::steady_clock::now();
  LB_ASSIGN_OR_RETURN(
      std::vector<EpochReport> epochs,
      TrainClassifier(*tape, "x", train, o.train, on_step, hooks));
  on_step.Finish();
  const double train_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  // The trained values into the model's initializers.
  for (auto& t : *proto.mutable_graph()->mutable_initializer()) {
    const bool stats = t.name().ends_with(".running_mean") ||
                       t.name().ends_with(".running_var");
    if (!stats &&
        std::find(params.begin(), params.end(), t.name()) == params.end()) {
      continue;
    }
    const graph::Tensor& v = g->constants.at(g->Find(t.name()));
    t.clear_float_data();
    t.set_raw_data(v.bytes(), static_cast<size_t>(v.nbytes()));
  }
  auto* meta = proto.add_metadata_props();
  meta->set_key("lowbit.trained");
  meta->set_value(
      fmt::format("{} on {}, {} epochs", o.arch, o.data, epochs.size()));
  LB_RETURN_IF_ERROR(WriteOnnxModel(proto, o.out, false));
  // The written file, on lowbit's engine: the test accuracy.
  LB_ASSIGN_OR_RETURN(auto written, ImportOnnx(o.out));
  LB_ASSIGN_OR_RETURN(const double acc,
                      GraphAccuracy(written, test, o.threads, false, o.out));
  TrainModelResult r;
  r.text = EpochsText(epochs);
  int64_t nparams = 0;
  for (const std::string& p : params) nparams += tape->param(p).numel();
  r.report = {{"arch", o.arch},
              {"data", o.data},
              {"output", o.out},
              {"parameters", nparams},
              {"epochs", EpochsJson(epochs)},
              {"batch", o.train.batch},
              {"lr", o.train.lr},
              {"optimizer", o.train.optimizer.kind},
              {"schedule", o.train.schedule},
              {"augment", o.train.augment},
              {"seed", o.train.seed},
              {"threads", pool.num_threads()},
              {"train_seconds", train_seconds},
              {"train_images", train.n},  // trained on (not held out)
              {"test_images", test.n},
              {"test_accuracy", acc}};
  if (o.train.validation > 0) {
    r.report["validation"] = ValidationJson(validation, val.n);
    r.text += ValidationText(validation, val.n);
  }
  r.text += fmt::format(
      "{} ({} parameters) trained in {:.1f} s; test accuracy {:.2f}% on {} "
      "images (lowbit's engine); wrote {}\n",
      o.arch, nparams, train_seconds, 100.0 * acc, test.n, o.out);
  return r;
}

}  // namespace lowbit
