// lowbit: quantize the weights of neural-network models and measure what it
// costs. Exit status: 0 success, 2 bad input or bad options, 1 anything else.
#include <cstdio>
#include <exception>
#include <new>
#include <vector>

#include "tools/lowbit/commands.h"

int main(int argc, char** argv) {
  using namespace lowbit;
  CLI::App app{
      "lowbit " LOWBIT_VERSION
      ": quantize the weights of a neural-network model (ONNX, safetensors "
      "or GGUF)\n"
      "to few bits, run it, and report what it costs in error and saves in "
      "bytes.\n\n"
      "  lowbit inspect model.safetensors\n"
      "  lowbit quantize model.safetensors -o model.int4.safetensors --scheme "
      "int4\n"
      "  lowbit quantize model.gguf -o model.q4k.gguf --scheme q4_k\n"
      "  lowbit stats model.onnx --calib samples/ -o model.stats.safetensors\n"
      "  lowbit quantize model.onnx -o model.int4.onnx --scheme int4 --method "
      "gptq --stats model.stats.safetensors\n"
      "  lowbit report model.safetensors model.int4.safetensors --json\n"
      "  lowbit convert model.q4k.gguf -o model.f32.safetensors\n"
      "  lowbit run model.onnx --input x=image.npy --output-dir out/\n\n"
      "Run 'lowbit SUBCOMMAND --help' for the options of each.",
      "lowbit"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("lowbit ") + LOWBIT_VERSION);
  std::vector<std::pair<CLI::App*, cli::Runner>> subs;
  auto add = [&](cli::Runner (*fn)(CLI::App&)) {
    const size_t before = app.get_subcommands({}).size();
    cli::Runner r = fn(app);
    subs.emplace_back(app.get_subcommands({})[before], std::move(r));
  };
  add(cli::AddInspect);
  add(cli::AddQuantize);
  add(cli::AddReport);
  add(cli::AddConvert);
  add(cli::AddSynth);
  add(cli::AddBench);
  add(cli::AddRun);
  add(cli::AddEval);
  add(cli::AddStats);
  add(cli::AddSensitivity);
  add(cli::AddTrain);
  add(cli::AddQat);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "lowbit: %s (see 'lowbit --help')\n", e.what());
    return 2;
  }
  for (auto& [sub, run] : subs) {
    if (!sub->parsed()) continue;
    Status st = Status::Ok();
    try {
      st = run();
    } catch (const std::bad_alloc&) {
      // A size no check caught: still one line and the bad-input status; the
      // temporary output files are removed as the stack unwinds.
      std::fprintf(stderr,
                   "lowbit: out of memory (an input claims more data than "
                   "this machine can hold)\n");
      return 2;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "lowbit: internal error: %s\n", e.what());
      return 1;
    }
    if (!st.ok()) {
      std::fprintf(stderr, "lowbit: %s\n", st.message().c_str());
      return 2;
    }
    return 0;
  }
  return 2;
}
