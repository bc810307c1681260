// lowbit convert: dequantize (or cast) every float tensor into a plain
// f32/f16/bf16 file.
#include <fmt/format.h>

#include "io/quantized_safetensors.h"
#include "tools/lowbit/commands.h"

namespace lowbit::cli {

Runner AddConvert(CLI::App& app) {
  struct Opts {
    std::string model, out, dtype = "f32";
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub =
      app.add_subcommand("convert",
                         "Write a plain safetensors file: quantized tensors "
                         "dequantized, float tensors cast "
                         "to --dtype, other tensors copied");
  sub->add_option("MODEL", o->model, "input model")->required();
  sub->add_option("-o,--output", o->out, "output .safetensors file")
      ->required();
  sub->add_option("--dtype", o->dtype,
                  "float type of the output: f32, f16 or bf16")
      ->check(CLI::IsMember({"f32", "f16", "bf16"}))
      ->capture_default_str();
  return [o]() -> Status {
    const DType dt = *DTypeFromName(o->dtype);
    LB_ASSIGN_OR_RETURN(auto m, SafetensorsModel::Open(o->model));
    // Streamed: one converted tensor in memory at a time.
    std::vector<TensorDesc> descs;
    for (const ModelTensor& t : m->tensors()) {
      const bool to_float = t.quantized() || IsFloatWeight(t.dtype);
      descs.push_back({t.name, to_float ? dt : t.dtype, t.shape});
    }
    auto meta = m->metadata();
    meta.erase("lowbit.scheme");  // nothing is quantized any more
    meta["lowbit.version"] = LOWBIT_VERSION;
    LB_ASSIGN_OR_RETURN(auto w, SafetensorsWriter::Create(o->out, descs, meta));
    std::vector<uint8_t> buf;
    for (const ModelTensor& t : m->tensors()) {
      if (t.quantized() || IsFloatWeight(t.dtype)) {
        LB_ASSIGN_OR_RETURN(std::vector<float> v, m->ReadFloat(t));
        const int64_t n = static_cast<int64_t>(v.size());
        buf.resize(static_cast<size_t>(StorageBytes(dt, n)));
        FromFloat(dt, v.data(), n, buf.data());
        LB_RETURN_IF_ERROR(w->Write(t.name, buf.data(), buf.size()));
      } else {
        LB_RETURN_IF_ERROR(w->Write(t.name, t.plain->data, t.plain->nbytes));
      }
    }
    LB_RETURN_IF_ERROR(w->Commit());
    fmt::print(stderr, "wrote {} ({} tensors, {})\n", o->out, descs.size(),
               o->dtype);
    return Status::Ok();
  };
}

}  // namespace lowbit::cli
