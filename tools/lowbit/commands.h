// The lowbit subcommands: each registers its options on the CLI11 app and runs.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "core/status.h"

namespace lowbit {
struct TrainOptions;  // train/classifier.h
}  // namespace lowbit

namespace lowbit::cli {

// A registered subcommand: `run` is called when the user chose it.
using Runner = std::function<Status()>;

Runner AddInspect(CLI::App& app);
Runner AddQuantize(CLI::App& app);
Runner AddReport(CLI::App& app);
Runner AddConvert(CLI::App& app);
Runner AddSynth(CLI::App& app);
Runner AddBench(CLI::App& app);
Runner AddRun(CLI::App& app);
Runner AddEval(CLI::App& app);
Runner AddStats(CLI::App& app);
Runner AddSensitivity(CLI::App& app);
Runner AddTrain(CLI::App& app);
Runner AddQat(CLI::App& app);

// The training options of `train` and `qat` (epochs, batch, lr, optimizer,
// momentum, weight decay, schedule, seed, max steps).
void AddTrainOptions(CLI::App* sub, lowbit::TrainOptions* t);

// --train-images (train, qat; `train` may be null) and --test-images (train,
// qat, eval): the first N Fashion-MNIST images used (0: all).
void AddImageCountOptions(CLI::App* sub, int64_t* train, int64_t* test);

// Writes text to `path` through a temporary file and a rename.
Status WriteTextFile(const std::string& path, const std::string& text);

}  // namespace lowbit::cli
