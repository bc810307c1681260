// The training options `train` and `qat` share (train/classifier.h).
#include "tools/lowbit/commands.h"
#include "train/classifier.h"

namespace lowbit::cli {

void AddTrainOptions(CLI::App* sub, TrainOptions* t) {
  sub->add_option("--epochs", t->epochs, "passes over the data")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  sub->add_option("--batch", t->batch, "images per step")
      ->check(CLI::Range(1, 65536))
      ->capture_default_str();
  sub->add_option("--lr", t->lr, "the base learning rate")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--optimizer", t->optimizer.kind,
                  "sgd (with momentum) or adam")
      ->check(CLI::IsMember({"sgd", "adam"}))
      ->capture_default_str();
  sub->add_option("--momentum", t->optimizer.momentum, "SGD's momentum")
      ->check(CLI::Range(0.0, 0.999))
      ->capture_default_str();
  sub->add_option("--weight-decay", t->optimizer.weight_decay,
                  "L2 weight decay")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--schedule", t->schedule,
                  "learning rate over the run: cosine, step or constant")
      ->check(CLI::IsMember({"cosine", "step", "constant"}))
      ->capture_default_str();
  sub->add_option("--seed", t->seed,
                  "initialisation and shuffling (the same seed, the same run)")
      ->capture_default_str();
  sub->add_option("--validation", t->validation,
                  "hold out the last N training images (not trained on): "
                  "their error after every epoch is reported, and the best "
                  "epoch (the start included) is written; tune options on "
                  "it, not on the test set (labeled data only; 0: none)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--augment", t->augment,
                  "random changes to each training image: none, flip "
                  "(mirrored left-right half the time) or flip-shift (and "
                  "moved up to --shift pixels), for labeled images; or "
                  "text-line, for qat --distill --calib-task ocr: each line "
                  "stretched, its margins cropped or padded, its contrast "
                  "changed and noise added, and the fp32 model's output "
                  "computed on the same changed line")
      ->check(CLI::IsMember({"none", "flip", "flip-shift", "text-line"}))
      ->capture_default_str();
  sub->add_option("--shift", t->shift, "flip-shift's largest move, in pixels")
      ->check(CLI::Range(0, 8))
      ->capture_default_str();
  sub->add_option("--checkpoint", t->checkpoint,
                  "the checkpoint written after every epoch (default "
                  "OUTPUT.ckpt; none: no checkpoint); an interrupted run "
                  "keeps its last one");
  sub->add_option("--resume", t->resume,
                  "go on from a checkpoint of the same run (the same model "
                  "and options; --epochs may be raised)");
  sub->add_option("--max-steps", t->max_steps,
                  "stop after N steps (0: every epoch in full; smoke runs)")
      ->check(CLI::NonNegativeNumber);
}

void AddImageCountOptions(CLI::App* sub, int64_t* train, int64_t* test) {
  if (train != nullptr) {
    sub->add_option("--train-images", *train,
                    "fashion-mnist: train on the first N of the 60,000 "
                    "training images only (0: all; --validation holds out the "
                    "last of them; quick checks)")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
  }
  sub->add_option("--test-images", *test,
                  "fashion-mnist: score only the first N of the 10,000 test "
                  "images (0: all; quick checks, not results)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
}

}  // namespace lowbit::cli
