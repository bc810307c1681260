#include "pipeline/eval_classifier.h"

#include <fmt/format.h>

#include <chrono>

#include "graph/session.h"
#include "io/onnx_import.h"
#include "train/classifier.h"

namespace lowbit {

Result<double> GraphAccuracy(std::shared_ptr<graph::Graph> g,
                             const ImageDataset& data, int threads, bool fast,
                             const std::string& what, int64_t batch) {
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
        return out[0];
      });
  if (!acc.ok()) return acc.status().WithPrefix(what);
  return *acc;
}

Result<std::vector<float>> GraphLogits(std::shared_ptr<graph::Graph> g,
                                       const ImageDataset& data, int threads,
                                       const std::string& what, int64_t batch) {
  graph::SessionOptions so;
  so.threads = threads;
  auto s = graph::Session::Create(std::make_shared<graph::Graph>(*g), so);
  if (!s.ok()) return s.status().WithPrefix(what);
  if ((*s)->inputs().size() != 1) {
    return InvalidArgument(what +
                           ": a classifier takes one input; this model takes " +
                           std::to_string((*s)->inputs().size()));
  }
  const std::string input = (*s)->inputs()[0].name;
  std::vector<float> logits;
  auto acc = ClassifierAccuracy(
      data, batch, [&](const graph::Tensor& x) -> Result<graph::Tensor> {
        LB_ASSIGN_OR_RETURN(auto out, (*s)->Run({{input, x}}));
        if (out[0].rank() == 2 && out[0].dim(1) == data.classes &&
            out[0].dtype() == DType::kF32) {
          logits.insert(logits.end(), out[0].data<float>(),
                        out[0].data<float>() + out[0].numel());
        }
        return out[0];
      });
  if (!acc.ok()) return acc.status().WithPrefix(what);
  if (static_cast<int64_t>(logits.size()) != data.n * data.classes) {
    return InvalidArgument(what + ": the output is not " +
                           std::to_string(data.classes) + " logits per image");
  }
  return logits;
}

Result<ClassifierEvalResult> EvalFashionMnist(const ClassifierEvalOptions& o) {
  LB_ASSIGN_OR_RETURN(ImageDataset test, LoadFashionMnist(o.data_dir, "test"));
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
