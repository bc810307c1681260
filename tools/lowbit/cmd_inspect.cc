// lowbit inspect: list the tensors of a model with dtypes, shapes, parameters
// and bytes.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "io/model.h"
#include "tools/lowbit/commands.h"

namespace lowbit::cli {

Runner AddInspect(CLI::App& app) {
  struct Opts {
    std::string model;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub = app.add_subcommand(
      "inspect",
      "List tensors, dtypes, shapes, parameter count and bytes of a model");
  sub->add_option("MODEL", o->model,
                  "a .safetensors or .gguf file (plain or written by lowbit)")
      ->required();
  sub->add_flag("--json", o->json, "print JSON instead of a table");
  return [o]() -> Status {
    LB_ASSIGN_OR_RETURN(auto m, OpenModel(o->model));
    int64_t params = 0, qparams = 0;
    uint64_t bytes = 0;
    nlohmann::json tensors = nlohmann::json::array();
    std::string text =
        fmt::format("{:<48} {:>10} {:>20} {:>12} {:>12}\n", "tensor", "dtype",
                    "shape", "params", "bytes");
    for (const ModelTensor& t : m->tensors()) {
      const int64_t n = NumElements(t.shape);
      params += n;
      bytes += t.stored_bytes;
      const std::string kind = t.SchemeName();
      nlohmann::json j = {
          {"name", t.name},          {"dtype", kind},
          {"shape", t.shape},        {"params", n},
          {"bytes", t.stored_bytes}, {"quantized", t.quantized()}};
      if (t.quantized()) {
        qparams += n;
        j["scheme"] = kind;
        j["bits_per_weight"] = t.BitsPerWeight();
      }
      if (t.q) {
        j["group_size"] = t.q->group_size;
        j["symmetric"] = t.q->symmetric;
        j["scale_type"] = std::string(ScaleTypeName(t.q->scale_type));
      }
      tensors.push_back(j);
      text += fmt::format("{:<48} {:>10} {:>20} {:>12} {:>12}\n", t.name, kind,
                          ShapeString(t.shape), n, t.stored_bytes);
    }
    if (o->json) {
      nlohmann::json out = {{"file", m->path()},
                            {"format", m->format()},
                            {"file_bytes", m->file_size()},
                            {"params", params},
                            {"params_quantized", qparams},
                            {"tensor_bytes", bytes},
                            {"metadata", m->metadata()},
                            {"tensors", tensors}};
      fmt::print("{}\n", out.dump(2));
    } else {
      if (m->format() == "gguf") {
        for (const auto& [k, v] : m->metadata()) {
          fmt::print("{} = {}\n", k,
                     v.size() > 100 ? v.substr(0, 97) + "..." : v);
        }
        fmt::print("\n");
      }
      fmt::print("{}", text);
      fmt::print(
          "{} tensors, {} parameters ({} quantized), {} bytes of tensor data, "
          "file "
          "{} bytes\n",
          m->tensors().size(), params, qparams, bytes, m->file_size());
    }
    return Status::Ok();
  };
}

}  // namespace lowbit::cli
