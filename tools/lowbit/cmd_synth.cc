// lowbit synth: write the deterministic synthetic model used by the demo and
// the tests.
#include <fmt/format.h>

#include "eval/synthetic.h"
#include "tools/lowbit/commands.h"

namespace lowbit::cli {

Runner AddSynth(CLI::App& app) {
  struct Opts {
    std::string out;
    uint64_t seed = 1;
    int layers = 4, dim = 256;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub =
      app.add_subcommand("synth",
                         "Write a deterministic synthetic transformer-shaped "
                         "model (f32/f16/bf16 weights "
                         "with heavy tails and outlier channels) for trying "
                         "lowbit without a real model");
  sub->add_option("-o,--output", o->out, "output .safetensors file")
      ->required();
  sub->add_option("--seed", o->seed, "seed")->capture_default_str();
  sub->add_option("--layers", o->layers, "transformer blocks")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  sub->add_option("--dim", o->dim, "model width")
      ->check(CLI::Range(16, 4096))
      ->capture_default_str();
  return [o]() -> Status {
    LB_RETURN_IF_ERROR(WriteSyntheticModel(o->out, o->seed, o->layers, o->dim));
    fmt::print(stderr, "wrote {}\n", o->out);
    return Status::Ok();
  };
}

}  // namespace lowbit::cli
