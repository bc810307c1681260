#include "pipeline/eval_classifier.h"

#include <fmt/format.h>

#include <chrono>
#include <functional>

#include "graph/session.h"
#include "io/onnx_import.h"
#include "train/classifier.h"

namespace lowbit {

namespace {

// Top-1 accuracy of the graph on `data`, every batch's logits also handed to
// `sink` (when set).
Result<double> RunClassifier(
    std::shared_ptr<graph::Graph> g, const ImageDataset& data, int threads,
    bool fast, const std::string& what, int64_t batch,
    const std::function<void(const graph::Tensor&)>& sink) {
  graph::SessionOptions so;
  so.threads = threads;
  so.fast = fast;
  auto s = graph::Session::Create(std::make_shared<graph::Graph>(*g), so);
  if (!s.ok()) return s.status().WithPrefix(what);
  if ((*s)->inputs().size() != 1) {
    return InvalidArgument(what +
                           ": a classifier takes one input; this model takes " +
                           std::to_string((*s)->inputs().size()));
  }
  const std::string input = (*s)->inputs()[0].name;
  auto acc = ClassifierAccuracy(
      data, batch, [&](const graph::Tensor& x) -> Result<graph::Tensor> {
        LB_ASSIGN_OR_RETURN(auto out, (*s)->Run({{input, x}}));
        if (sink) sink(out[0]);
        return out[0];
      });
  if (!acc.ok()) return acc.status().WithPrefix(what);
  return *acc;
}

}  // namespace

Result<double> GraphAccuracy(std::shared_ptr<graph::Graph> g,
                             const ImageDataset& data, int threads, bool fast,
                             const std::string& what, int64_t batch) {
  return RunClassifier(std::move(g), data, threads, fast, what, batch, nullptr);
}

Result<std::vector<float>> GraphLogits(std::shared_ptr<graph::Graph> g,
                                       const ImageDataset& data, int threads,
                                       const std::string& what, int64_t batch) {
  std::vector<float> logits;
  LB_RETURN_IF_ERROR(
      RunClassifier(std::move(g), data, threads, false, what, batch,
                    [&](const graph::Tensor& z) {
                      logits.insert(logits.end(), z.data<float>(),
                                    z.data<float>() + z.numel());
                    })
          .status());
  if (static_cast<int64_t>(logits.size()) != data.n * data.classes) {
    return InvalidArgument(what + ": the output is not " +
                           std::to_string(data.classes) + " logits per image");
  }
  return logits;
}

Result<ImageDataset> LoadFashionMnistFirst(const std::string& dir,
                                           const std::string& split,
                                           int64_t first) {
  LB_ASSIGN_OR_RETURN(ImageDataset d, LoadFashionMnist(dir, split));
  LB_RETURN_IF_ERROR(KeepFirst(&d, first).WithPrefix("--" + split + "-images"));
  return d;
}

Result<ClassifierEvalResult> EvalFashionMnist(const ClassifierEvalOptions& o) {
  LB_ASSIGN_OR_RETURN(ImageDataset test,
                      LoadFashionMnistFirst(o.data_dir, "test", o.test_images));
  LB_ASSIGN_OR_RETURN(auto g, ImportOnnx(o.model));
  const auto t0 = std::chrono::steady_clock::now();
  LB_ASSIGN_OR_RETURN(
      const double acc,
      GraphAccuracy(g, test, o.threads, o.fast, o.model, o.batch));
  ClassifierEvalResult r;
  r.accuracy = acc;
  r.images = test.n;
  r.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  r.report = {{"model", o.model},     {"task", "fashion-mnist"},
              {"images", r.images},   {"accuracy", r.accuracy},
              {"seconds", r.seconds}, {"fast", o.fast}};
  r.text = fmt::format(
      "{}: top-1 accuracy {:.2f}% on the {} Fashion-MNIST test images "
      "({:.2f} s, lowbit's engine)\n",
      o.model, 100.0 * r.accuracy, r.images, r.seconds);
  return r;
}

}  // namespace lowbit
