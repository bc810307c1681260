// lowbit train: an fp32 model trained from scratch on lowbit's engine
// (pipeline/train_model.h), written as ONNX.
#include <fmt/format.h>

#include "pipeline/train_model.h"
#include "tools/lowbit/commands.h"

namespace lowbit::cli {

Runner AddTrain(CLI::App& app) {
  struct Opts {
    TrainModelOptions t;
    bool json = false, quiet = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "train",
      "Train an fp32 model from scratch on lowbit's engine (reverse-mode\n"
      "gradients on its own graph, graph/autodiff.h) and write it as ONNX.\n"
      "--arch fmnist-cnn: two 3x3 convolutions (32 and 64 channels, each with\n"
      "ReLU and 2x2 max-pool), fully connected 1600 -> 128 -> 10, 225,034\n"
      "parameters; input x [N, 1, 28, 28] holding pixel / 255, output the 10\n"
      "logits. --data fashion-mnist reads Debian's dataset-fashion-mnist\n"
      "(60,000 training images; the test accuracy is measured on the 10,000\n"
      "test images with the written file). Progress per step on stderr.\n"
      "Example:\n"
      "  lowbit train --arch fmnist-cnn --data fashion-mnist --epochs 5 -o "
      "fmnist.onnx");
  sub->add_option("--arch", o->t.arch,
                  "the architecture: fmnist-cnn, or fmnist-cnn-bn (a "
                  "BatchNormalization after each convolution, trained on each "
                  "batch's statistics)")
      ->capture_default_str();
  sub->add_option("--data", o->t.data, "the dataset: fashion-mnist")
      ->capture_default_str();
  sub->add_option("--data-dir", o->t.data_dir, "where the dataset's files are")
      ->capture_default_str();
  sub->add_option("-o,--output", o->t.out, "the trained model (.onnx)")
      ->required();
  AddTrainOptions(sub, &o->t.train);
  AddImageCountOptions(sub, &o->t.train_images, &o->t.test_images);
  sub->add_option("--threads", o->t.threads, "threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  sub->add_flag("--json", o->json, "print the report as JSON");
  sub->add_flag("-q,--quiet", o->quiet, "print nothing on success");
  return [o]() -> Status {
    o->t.progress = !o->quiet && !o->json;
    LB_ASSIGN_OR_RETURN(TrainModelResult r, TrainModel(o->t));
    if (o->json) {
      fmt::print("{}\n", r.report.dump(2));
    } else if (!o->quiet) {
      fmt::print("{}", r.text);
    }
    return Status::Ok();
  };
}

}  // namespace lowbit::cli
