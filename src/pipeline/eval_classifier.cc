#include "pipeline/eval_classifier.h"

#include <fmt/format.h>

#include <chrono>

#include "graph/session.h"
#include "io/onnx_import.h"
#include "train/classifier.h"

namespace lowbit {

Result<ClassifierEvalResult> EvalFashionMnist(const ClassifierEvalOptions& o) {
  LB_ASSIGN_OR_RETURN(ImageDataset test, LoadFashionMnist(o.data_dir, "test"));
  LB_ASSIGN_OR_RETURN(auto g, ImportOnnx(o.model));
  graph::SessionOptions so;
  so.threads = o.threads;
  so.fast = o.fast;
  LB_ASSIGN_OR_RETURN(auto s, graph::Session::Create(g, so));
  if (s->inputs().size() != 1) {
    return InvalidArgument(o.model +
                           ": a classifier takes one input; this model takes " +
                           std::to_string(s->inputs().size()));
  }
  const std::string input = s->inputs()[0].name;
  auto logits = [&](const graph::Tensor& x) -> Result<graph::Tensor> {
    auto out = s->Run({{input, x}});
    if (!out.ok()) return out.status().WithPrefix(o.model);
    return (*out)[0];
  };
  const auto t0 = std::chrono::steady_clock::now();
  auto acc = ClassifierAccuracy(test, o.batch, logits);
  if (!acc.ok()) return acc.status().WithPrefix(o.model);
  ClassifierEvalResult r;
  r.accuracy = *acc;
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
