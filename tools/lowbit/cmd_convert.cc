// lowbit convert: dequantize (or cast) every float tensor into a plain
// f32/f16/bf16 file, safetensors or GGUF (by the output's extension), streamed
// one tensor at a time.
#include <fmt/format.h>

#include "formats/ggml/ggml_type.h"
#include "io/gguf_model.h"
#include "io/quantized_safetensors.h"
#include "tools/lowbit/commands.h"

namespace lowbit::cli {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The ggml type that stores a plain dtype, if any.
Result<GgmlType> GgmlTypeOf(DType d, const std::string& tensor) {
  switch (d) {
    case DType::kF32:
      return GgmlType::kF32;
    case DType::kF16:
      return GgmlType::kF16;
    case DType::kBF16:
      return GgmlType::kBF16;
    case DType::kI8:
      return GgmlType::kI8;
    case DType::kI16:
      return GgmlType::kI16;
    case DType::kI32:
      return GgmlType::kI32;
    case DType::kI64:
      return GgmlType::kI64;
    case DType::kF64:
      return GgmlType::kF64;
    default:
      return InvalidArgument("tensor '" + tensor + "' has dtype " +
                             std::string(DTypeName(d)) +
                             ", which GGUF cannot store");
  }
}

// Bytes of a tensor that is copied as is.

}  // namespace

Runner AddConvert(CLI::App& app) {
  struct Opts {
    std::string model, out, dtype = "f32";
  };
  auto o = std::make_shared<Opts>();
  CLI::App* sub =
      app.add_subcommand("convert",
                         "Write a plain file: quantized tensors dequantized, "
                         "float tensors cast to --dtype, "
                         "other tensors copied. The output is GGUF when its "
                         "name ends in .gguf, else "
                         "safetensors; the input may be either.");
  sub->add_option(
         "MODEL", o->model,
         "input model (.safetensors, .gguf or .onnx: its initializers)")
      ->required();
  sub->add_option("-o,--output", o->out, "output .safetensors or .gguf file")
      ->required();
  sub->add_option("--dtype", o->dtype,
                  "float type of the output: f32, f16 or bf16")
      ->check(CLI::IsMember({"f32", "f16", "bf16"}))
      ->capture_default_str();
  return [o]() -> Status {
    const DType dt = *DTypeFromName(o->dtype);
    LB_ASSIGN_OR_RETURN(auto m, OpenModel(o->model));
    const bool to_gguf = EndsWith(o->out, ".gguf");
    const auto* gguf_in = dynamic_cast<const GgufModel*>(m.get());
    std::unique_ptr<SafetensorsWriter> sw;
    std::unique_ptr<GgufWriter> gw;
    if (to_gguf) {
      std::vector<GgufTensorDesc> descs;
      for (const ModelTensor& t : m->tensors()) {
        std::vector<uint64_t> ne(t.shape.rbegin(), t.shape.rend());
        if (ne.empty()) ne.push_back(1);
        if (!t.decodable) {  // a ggml type lowbit cannot decode: copied as it
                             // is
          descs.push_back({t.name, ne, t.gguf->ggml_type});
          continue;
        }
        LB_ASSIGN_OR_RETURN(GgmlType type,
                            GgmlTypeOf(t.is_float() ? dt : t.dtype, t.name));
        descs.push_back({t.name, ne, static_cast<uint32_t>(type)});
      }
      std::vector<GgufKV> kvs;
      if (gguf_in != nullptr) {
        for (const GgufKV& kv : gguf_in->file().kvs()) {
          if (kv.key != "general.file_type" && kv.key != "lowbit.scheme")
            kvs.push_back(kv);
        }
      } else {
        for (const auto& [k, v] : m->metadata()) {
          if (k != "lowbit.scheme" && k != "lowbit.version") {
            kvs.push_back({k, GgufValue::String(v)});
          }
        }
      }
      const GgmlType ft = *GgmlTypeOf(dt, "");
      kvs.push_back(
          {"general.file_type", GgufValue::U32(static_cast<uint32_t>(
                                    GgufFileType(static_cast<uint32_t>(ft))))});
      bool has_version = false;
      for (GgufKV& kv : kvs) {
        if (kv.key == "lowbit.version") {
          kv.value = GgufValue::String(LOWBIT_VERSION);
          has_version = true;
        }
      }
      if (!has_version)
        kvs.push_back({"lowbit.version", GgufValue::String(LOWBIT_VERSION)});
      const uint64_t align =
          gguf_in ? gguf_in->file().alignment() : kGgufDefaultAlignment;
      LB_ASSIGN_OR_RETURN(gw, GgufWriter::Create(o->out, kvs, descs, align));
    } else {
      std::vector<TensorDesc> descs;
      for (const ModelTensor& t : m->tensors()) {
        descs.push_back({t.name, t.is_float() ? dt : t.dtype, t.shape});
      }
      std::map<std::string, std::string> meta;
      if (gguf_in !=
          nullptr) {  // scalar keys only: arrays (vocabularies) stay in GGUF
        for (const GgufKV& kv : gguf_in->file().kvs()) {
          if (kv.value.type != GgufType::kArray)
            meta[kv.key] = GgufValueText(kv.value);
        }
      } else {
        meta = m->metadata();
      }
      meta.erase("lowbit.scheme");  // nothing is quantized any more
      meta.erase("general.file_type");
      meta["lowbit.version"] = LOWBIT_VERSION;
      LB_ASSIGN_OR_RETURN(sw, SafetensorsWriter::Create(o->out, descs, meta));
    }
    std::vector<uint8_t> buf;
    for (const ModelTensor& t : m->tensors()) {
      const uint8_t* data;
      uint64_t nbytes;
      if (!t.decodable && !to_gguf) {
        return Unsupported(o->model + ": tensor '" + t.name +
                           "' has ggml type " + t.SchemeName() +
                           ", which lowbit cannot decode");
      }
      if (t.is_float()) {
        LB_ASSIGN_OR_RETURN(std::vector<float> v, m->ReadFloat(t));
        const int64_t n = static_cast<int64_t>(v.size());
        buf.resize(static_cast<size_t>(StorageBytes(dt, n)));
        FromFloat(dt, v.data(), n, buf.data());
        data = buf.data();
        nbytes = buf.size();
      } else {
        LB_ASSIGN_OR_RETURN(buf, m->ReadBytes(t));
        data = buf.data();
        nbytes = buf.size();
      }
      LB_RETURN_IF_ERROR(to_gguf ? gw->Write(t.name, data, nbytes)
                                 : sw->Write(t.name, data, nbytes));
      m->Release(t);
    }
    LB_RETURN_IF_ERROR(to_gguf ? gw->Commit() : sw->Commit());
    fmt::print(stderr, "wrote {} ({} tensors, {})\n", o->out,
               m->tensors().size(), o->dtype);
    return Status::Ok();
  };
}

}  // namespace lowbit::cli
