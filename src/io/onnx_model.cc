#include "io/onnx_model.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstring>
#include <filesystem>
#include <set>
#include <tuple>

#include "core/half.h"
#include "core/mapped_file.h"

namespace lowbit {

std::optional<DType> DTypeOfOnnx(int t) {
  switch (t) {
    case onnx::TensorProto::FLOAT:
      return DType::kF32;
    case onnx::TensorProto::UINT8:
      return DType::kU8;
    case onnx::TensorProto::INT8:
      return DType::kI8;
    case onnx::TensorProto::UINT16:
      return DType::kU16;
    case onnx::TensorProto::INT16:
      return DType::kI16;
    case onnx::TensorProto::INT32:
      return DType::kI32;
    case onnx::TensorProto::INT64:
      return DType::kI64;
    case onnx::TensorProto::BOOL:
      return DType::kBool;
    case onnx::TensorProto::FLOAT16:
      return DType::kF16;
    case onnx::TensorProto::DOUBLE:
      return DType::kF64;
    case onnx::TensorProto::UINT32:
      return DType::kU32;
    case onnx::TensorProto::UINT64:
      return DType::kU64;
    case onnx::TensorProto::BFLOAT16:
      return DType::kBF16;
    case 17:
      return DType::kF8E4M3;  // FLOAT8E4M3FN
    case 19:
      return DType::kF8E5M2;  // FLOAT8E5M2
    case 21:
      return DType::kU4;  // UINT4
    case 22:
      return DType::kI4;  // INT4
    default:
      return std::nullopt;
  }
}

namespace {

namespace fs = std::filesystem;

std::string Quote(const std::string& s) { return "'" + s + "'"; }

// The number of elements of a tensor's dims, or an error for negative dims or
// absurd sizes.
Result<int64_t> CountElements(const std::string& path,
                              const onnx::TensorProto& t) {
  // The product of the non-zero dimensions is bounded too, so that products
  // of any of them (rows, columns) never overflow when another is 0.
  int64_t span = 1;
  bool empty = false;
  for (int64_t d : t.dims()) {
    if (d < 0) {
      return BadInput(path + ": initializer " + Quote(t.name()) +
                      " has a negative dimension");
    }
    if (d != 0 && span > (int64_t{1} << 40) / d) {
      return BadInput(path + ": initializer " + Quote(t.name()) +
                      " has more than 2^40 elements");
    }
    if (d == 0) empty = true;
    span *= d == 0 ? 1 : d;
  }
  return empty ? int64_t{0} : span;
}

bool IsExternal(const onnx::TensorProto& t) {
  return t.data_location() == onnx::TensorProto::EXTERNAL;
}

// The typed repeated field a tensor's values are stored in when it has no
// raw_data, and how many values of it the tensor's n elements need: one per
// element, but one per two elements (a byte each) for the 4-bit types.
struct TypedField {
  const char* name;
  int64_t have;
  int64_t need;
};

TypedField TypedFieldOf(const onnx::TensorProto& t, DType dt, int64_t n) {
  switch (t.data_type()) {
    case onnx::TensorProto::FLOAT:
      return {"float_data", t.float_data_size(), n};
    case onnx::TensorProto::DOUBLE:
      return {"double_data", t.double_data_size(), n};
    case onnx::TensorProto::INT64:
      return {"int64_data", t.int64_data_size(), n};
    case onnx::TensorProto::UINT32:
    case onnx::TensorProto::UINT64:
      return {"uint64_data", t.uint64_data_size(), n};
    default:  // int32, 16-bit, 8-bit, bool, f16, bf16, fp8, 4-bit
      return {"int32_data", t.int32_data_size(),
              DTypeBits(dt) < 8 ? (n + 1) / 2 : n};
  }
}

// Checks that an initializer's in-file data (raw_data, or the typed field of
// its type, for every type: int32_data carries f16, bf16, 8- and 16-bit
// integers, bool, fp8 and 4-bit pairs) holds exactly what `n` elements of
// `dt` need; returns those bytes' count. The message (without the file name)
// names the tensor and the field.
Result<uint64_t> CheckInFileData(const onnx::TensorProto& t, DType dt,
                                 int64_t n) {
  const uint64_t expect =
      (static_cast<uint64_t>(DTypeBits(dt)) * static_cast<uint64_t>(n) + 7) / 8;
  if (t.has_raw_data()) {
    if (t.raw_data().size() != expect) {
      return BadInput("initializer " + Quote(t.name()) + ": raw_data holds " +
                      std::to_string(t.raw_data().size()) +
                      " bytes, its shape and type need " +
                      std::to_string(expect));
    }
    return expect;
  }
  const TypedField f = TypedFieldOf(t, dt, n);
  if (f.have != f.need) {
    return BadInput("initializer " + Quote(t.name()) + ": " + f.name +
                    " holds " + std::to_string(f.have) + " values, its shape " +
                    ShapeString(Shape(t.dims().begin(), t.dims().end())) +
                    " and type " + std::string(DTypeName(dt)) + " need " +
                    std::to_string(f.need) +
                    (f.have == 0 ? " (no data: truncated file?)" : ""));
  }
  return expect;
}

}  // namespace

bool HasOnnxExtension(const std::string& path) {
  return path.size() >= 5 && path.compare(path.size() - 5, 5, ".onnx") == 0;
}

OnnxModel::OnnxModel() : proto_(std::make_unique<onnx::ModelProto>()) {}
OnnxModel::~OnnxModel() = default;

Result<std::unique_ptr<OnnxModel>> OnnxModel::Open(const std::string& path) {
  LB_ASSIGN_OR_RETURN(auto file, MappedFile::Open(path));
  std::unique_ptr<OnnxModel> m(new OnnxModel());
  m->path_ = path;
  m->dir_ = fs::path(path).parent_path().string();
  m->file_size_ = file->size();
  auto fail = [&](const std::string& what) {
    return BadInput(path + ": " + what);
  };
  if (file->size() > static_cast<uint64_t>(INT_MAX)) {
    return fail(
        "larger than 2 GiB: ONNX files that big keep their weights "
        "in external data files");
  }
  {
    google::protobuf::io::ArrayInputStream raw(file->data(),
                                               static_cast<int>(file->size()));
    google::protobuf::io::CodedInputStream in(&raw);
    in.SetTotalBytesLimit(INT_MAX);
    if (!m->proto_->ParseFromCodedStream(&in) || !in.ConsumedEntireMessage()) {
      return fail("not a valid ONNX model (truncated or corrupt protobuf)");
    }
  }
  onnx::ModelProto& p = *m->proto_;
  if (!p.has_graph() || p.graph().node_size() == 0) {
    return fail("no graph nodes (truncated, or not an ONNX model)");
  }
  for (const auto& op : p.opset_import()) {
    if (op.domain().empty() || op.domain() == "ai.onnx")
      m->opset_ = op.version();
  }
  if (m->opset_ == 0) return fail("no opset for the default ONNX domain");
  onnx::GraphProto& g = *p.mutable_graph();
  // Lift Constant tensors into initializers.
  std::set<std::string> names;
  for (const auto& t : g.initializer()) {
    if (!names.insert(t.name()).second) {
      return fail("duplicate initializer " + Quote(t.name()));
    }
  }
  google::protobuf::RepeatedPtrField<onnx::NodeProto> kept;
  for (auto& node : *g.mutable_node()) {
    const bool constant =
        node.op_type() == "Constant" &&
        (node.domain().empty() || node.domain() == "ai.onnx") &&
        node.output_size() == 1 && node.attribute_size() == 1 &&
        node.attribute(0).name() == "value" && node.attribute(0).has_t();
    if (!constant) {
      *kept.Add() = std::move(node);
      continue;
    }
    onnx::TensorProto t = std::move(*node.mutable_attribute(0)->mutable_t());
    t.set_name(node.output(0));
    if (!names.insert(t.name()).second) {
      return fail("Constant " + Quote(t.name()) + " redefines a tensor");
    }
    *g.add_initializer() = std::move(t);
    ++m->lifted_;
  }
  g.mutable_node()->Swap(&kept);
  // Every node input must be defined: a protobuf cut at a field boundary
  // parses, but leaves dangling references.
  std::set<std::string> defined(names.begin(), names.end());
  for (const auto& in : g.input()) defined.insert(in.name());
  for (const auto& node : g.node()) {
    for (const auto& o : node.output()) defined.insert(o);
  }
  for (const auto& node : g.node()) {
    for (const auto& in : node.input()) {
      if (!in.empty() && !defined.count(in)) {
        return fail("node " + Quote(node.name()) + " (" + node.op_type() +
                    ") reads " + Quote(in) +
                    ", which nothing defines (truncated file?)");
      }
    }
  }
  // Check every initializer's stored size and describe it.
  struct Range {
    std::string file;
    uint64_t begin, end;
    int init;
  };
  std::vector<Range> ranges;  // external bytes, to refuse overlaps
  for (int i = 0; i < g.initializer_size(); ++i) {
    const onnx::TensorProto& t = g.initializer(i);
    m->init_index_[t.name()] = i;
    const std::optional<DType> dt = DTypeOfOnnx(t.data_type());
    LB_ASSIGN_OR_RETURN(const int64_t n, CountElements(path, t));
    if (!dt) continue;  // strings and other types are kept, not read
    const uint64_t bits = static_cast<uint64_t>(DTypeBits(*dt)) * n;
    const uint64_t expect = (bits + 7) / 8;
    uint64_t stored = 0;
    if (IsExternal(t)) {
      LB_ASSIGN_OR_RETURN(const ExternalSlice slice,
                          m->ExternalRange(t, expect));
      if (expect > 0) {
        ranges.push_back(
            {slice.file->path(), slice.offset, slice.offset + expect, i});
      }
      stored = expect;
    } else {
      auto checked = CheckInFileData(t, *dt, n);
      if (!checked.ok()) return fail(checked.status().message());
      stored = *checked;
    }
    ModelTensor mt;
    mt.name = t.name();
    mt.dtype = *dt;
    mt.shape.assign(t.dims().begin(), t.dims().end());
    mt.stored_bytes = stored;
    m->AddTensor(std::move(mt));
  }
  // Two initializers sharing external bytes would each be read (and, when
  // the model is rewritten, copied) in full: a small file could claim any
  // amount of memory. Exporters never share; refuse it.
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
    return std::tie(a.file, a.begin) < std::tie(b.file, b.begin);
  });
  for (size_t k = 1; k < ranges.size(); ++k) {
    if (ranges[k].file == ranges[k - 1].file &&
        ranges[k].begin < ranges[k - 1].end) {
      return fail("initializers " +
                  Quote(g.initializer(ranges[k - 1].init).name()) + " and " +
                  Quote(g.initializer(ranges[k].init).name()) +
                  " share bytes of " + ranges[k].file);
    }
  }
  return m;
}

Result<OnnxModel::ExternalSlice> OnnxModel::ExternalRange(
    const onnx::TensorProto& t, uint64_t expect) const {
  std::string location;
  int64_t offset = 0, length = -1;
  bool has_length = false;
  for (const auto& kv : t.external_data()) {
    if (kv.key() != "offset" && kv.key() != "length") {
      if (kv.key() == "location") location = kv.value();
      continue;
    }
    const std::string& v = kv.value();
    int64_t x = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
    if (v.empty() || ec != std::errc() || end != v.data() + v.size()) {
      return BadInput(path_ + ": initializer " + Quote(t.name()) +
                      ": external data " + kv.key() +
                      " is not a number: " + Quote(v.substr(0, 40)));
    }
    (kv.key() == "offset" ? offset : length) = x;
    if (kv.key() == "length") has_length = true;
  }
  const std::string what = path_ + ": initializer " + Quote(t.name()) +
                           ": external data " + Quote(location);
  const fs::path rel(location);
  if (location.empty() || rel.is_absolute()) {
    return BadInput(what + " must be a path relative to the model");
  }
  if (offset < 0) return BadInput(what + ": negative offset");
  if (length < 0 && has_length) return BadInput(what + ": negative length");
  if (!has_length) length = static_cast<int64_t>(expect);
  if (static_cast<uint64_t>(length) != expect) {
    return BadInput(what + ": length " + std::to_string(length) +
                    ", the shape and type need " + std::to_string(expect));
  }
  const std::string file = (fs::path(dir_) / rel).string();
  {
    // The resolved path (.. and symbolic links followed) must stay inside
    // the model's folder.
    std::error_code ec;
    const fs::path base = fs::weakly_canonical(
        dir_.empty() ? fs::current_path(ec) : fs::path(dir_), ec);
    const fs::path real = fs::weakly_canonical(file, ec);
    const auto [b, r] =
        std::mismatch(base.begin(), base.end(), real.begin(), real.end());
    if (ec || b != base.end()) {
      return BadInput(what + " points outside the model's folder");
    }
  }
  auto mf = MappedFile::Open(file);
  if (!mf.ok()) return BadInput(what + ": " + mf.status().message());
  const uint64_t size = (*mf)->size();
  const uint64_t off = static_cast<uint64_t>(offset);
  if (off > size || size - off < expect) {
    return BadInput(what + ": " + std::to_string(expect) + " bytes at offset " +
                    std::to_string(off) + " pass the end of " + file + " (" +
                    std::to_string(size) + " bytes)");
  }
  return ExternalSlice{std::move(mf).value(), off};
}

Result<std::vector<uint8_t>> OnnxModel::ExternalBytes(
    const onnx::TensorProto& t, uint64_t expect) const {
  LB_ASSIGN_OR_RETURN(const ExternalSlice s, ExternalRange(t, expect));
  const uint8_t* p = s.file->data() + s.offset;
  return std::vector<uint8_t>(p, p + expect);
}

Result<std::vector<float>> OnnxModel::ReadFloat(const ModelTensor& mt) const {
  if (!IsFloatWeight(mt.dtype)) {
    return BadInput(path_ + ": " + Quote(mt.name) +
                    " is not a float initializer");
  }
  // The stored bytes (raw, typed fields or external), converted.
  LB_ASSIGN_OR_RETURN(const std::vector<uint8_t> bytes, ReadBytes(mt));
  const int64_t n = NumElements(mt.shape);
  std::vector<float> out(static_cast<size_t>(n));
  ToFloat(mt.dtype, bytes.data(), n, out.data());
  return out;
}

const onnx::TensorProto* OnnxModel::Initializer(const std::string& name) const {
  const auto& inits = proto_->graph().initializer();
  auto it = init_index_.find(name);
  if (it != init_index_.end() && it->second < inits.size() &&
      inits.Get(it->second).name() == name) {
    return &inits.Get(it->second);
  }
  for (const auto& t : inits) {
    if (t.name() == name) return &t;
  }
  return nullptr;
}

Result<std::vector<uint8_t>> OnnxInFileBytes(const onnx::TensorProto& tp) {
  const onnx::TensorProto* t = &tp;
  const std::optional<DType> dt = DTypeOfOnnx(t->data_type());
  if (!dt) {
    return BadInput("tensor " + Quote(t->name()) + ": element type " +
                    std::to_string(t->data_type()) + " is not supported");
  }
  if (IsExternal(*t)) {
    return BadInput("tensor " + Quote(t->name()) + ": external data here");
  }
  LB_ASSIGN_OR_RETURN(const int64_t n, CountElements("", *t));
  const int bits = DTypeBits(*dt);
  const uint64_t expect = (static_cast<uint64_t>(bits) * n + 7) / 8;
  const Result<uint64_t> checked = CheckInFileData(*t, *dt, n);
  if (!checked.ok()) return checked.status();
  if (t->has_raw_data()) {
    const auto* p = reinterpret_cast<const uint8_t*>(t->raw_data().data());
    return std::vector<uint8_t>(p, p + t->raw_data().size());
  }
  if (bits < 8) {  // 4-bit pairs, one byte per int32_data value
    std::vector<uint8_t> out(static_cast<size_t>(expect));
    for (uint64_t i = 0; i < expect; ++i) {
      out[i] = static_cast<uint8_t>(t->int32_data(static_cast<int>(i)));
    }
    return out;
  }
  // Typed fields, written out as little-endian elements.
  std::vector<uint8_t> out(static_cast<size_t>(expect), 0);
  const int es = bits / 8;
  for (int64_t i = 0; i < n; ++i) {
    const int k = static_cast<int>(i);
    uint8_t* dst = out.data() + i * es;
    switch (t->data_type()) {
      case onnx::TensorProto::FLOAT: {
        const float v = t->float_data(k);
        std::memcpy(dst, &v, 4);
        break;
      }
      case onnx::TensorProto::DOUBLE: {
        const double v = t->double_data(k);
        std::memcpy(dst, &v, 8);
        break;
      }
      case onnx::TensorProto::INT64: {
        const int64_t v = t->int64_data(k);
        std::memcpy(dst, &v, 8);
        break;
      }
      case onnx::TensorProto::UINT32:
      case onnx::TensorProto::UINT64: {
        const uint64_t v = t->uint64_data(k);
        std::memcpy(dst, &v, es);
        break;
      }
      default: {
        const int32_t v = t->int32_data(k);
        std::memcpy(dst, &v, es);
        break;
      }
    }
  }
  return out;
}

Result<std::vector<uint8_t>> OnnxModel::ReadBytes(const ModelTensor& mt) const {
  const onnx::TensorProto* t = Initializer(mt.name);
  if (t == nullptr) {
    return BadInput(path_ + ": " + Quote(mt.name) + " is not an initializer");
  }
  if (DTypeOfOnnx(t->data_type()) != mt.dtype ||
      !std::equal(mt.shape.begin(), mt.shape.end(), t->dims().begin(),
                  t->dims().end())) {
    return InvalidArgument(path_ + ": " + Quote(mt.name) +
                           ": type or shape differ from the initializer");
  }
  const int64_t n = NumElements(mt.shape);
  const int bits = DTypeBits(mt.dtype);
  const uint64_t expect = (static_cast<uint64_t>(bits) * n + 7) / 8;
  if (IsExternal(*t)) return ExternalBytes(*t, expect);
  // Checked again here: the proto can be edited after Open (proto()).
  auto bytes = OnnxInFileBytes(*t);
  if (!bytes.ok()) return bytes.status().WithPrefix(path_);
  return std::move(bytes).value();
}

std::map<std::string, OnnxWeightUse> OnnxModel::Weights(bool gather) const {
  std::map<std::string, OnnxWeightUse> w;
  const onnx::GraphProto& g = proto_->graph();
  auto rank = [&](const std::string& name) -> int {
    const ModelTensor* t = Find(name);
    return t != nullptr && IsFloatWeight(t->dtype)
               ? static_cast<int>(t->shape.size())
               : -1;
  };
  for (const auto& node : g.node()) {
    if (!node.domain().empty() && node.domain() != "ai.onnx") continue;
    const std::string& op = node.op_type();
    int input = 1, axis = -1;
    int64_t groups = 1;
    bool scalable = op == "Conv" || op == "MatMul" || op == "Gemm";
    if (op == "Conv" && node.input_size() >= 2) {
      axis = 0;
      for (const auto& a : node.attribute()) {
        if (a.name() == "group") groups = a.i();
      }
    } else if (op == "ConvTranspose" && node.input_size() >= 2) {
      axis = 1;
    } else if (op == "Gemm" && node.input_size() >= 2) {
      int64_t trans_b = 0;
      for (const auto& a : node.attribute()) {
        if (a.name() == "transB") trans_b = a.i();
        if (a.name() == "transA" && a.i() != 0) scalable = false;
      }
      axis = trans_b ? 0 : 1;
    } else if (op == "MatMul" && node.input_size() >= 2) {
      axis = rank(node.input(1)) - 1;
    } else if (op == "Gather" && gather && node.input_size() >= 2) {
      input = 0;
      axis = 0;
    } else {
      continue;
    }
    const std::string& name = node.input(input);
    const int r = rank(name);
    if (r < 2 || axis < 0 || axis >= r || w.count(name)) continue;
    w[name] = OnnxWeightUse{op, axis, groups, scalable};
  }
  return w;
}

Status OnnxModel::Materialize() {
  onnx::GraphProto& g = *proto_->mutable_graph();
  for (auto& t : *g.mutable_initializer()) {
    if (!IsExternal(t)) continue;
    const std::optional<DType> dt = DTypeOfOnnx(t.data_type());
    if (!dt) return BadInput(path_ + ": " + Quote(t.name()) + ": unknown type");
    LB_ASSIGN_OR_RETURN(const int64_t n, CountElements(path_, t));
    const uint64_t expect = (static_cast<uint64_t>(DTypeBits(*dt)) * n + 7) / 8;
    LB_ASSIGN_OR_RETURN(auto bytes, ExternalBytes(t, expect));
    t.set_raw_data(bytes.data(), bytes.size());
    t.clear_external_data();
    t.set_data_location(onnx::TensorProto::DEFAULT);
  }
  return Status::Ok();
}

Status WriteOnnxModel(onnx::ModelProto& m, const std::string& path,
                      bool external) {
  constexpr uint64_t kLimit = uint64_t{1} << 31;
  std::unique_ptr<OutputFile> data;
  if (external || m.ByteSizeLong() >= kLimit - (uint64_t{1} << 20)) {
    // External data: every initializer of 1 KiB or more into one side file.
    const std::string data_path = path + ".data";
    LB_ASSIGN_OR_RETURN(data, OutputFile::Create(data_path));
    const std::string location = fs::path(data_path).filename().string();
    for (auto& t : *m.mutable_graph()->mutable_initializer()) {
      if (!t.has_raw_data() || t.raw_data().size() < 1024) continue;
      while (data->position() % 64 != 0)
        LB_RETURN_IF_ERROR(data->WriteZeros(1));
      const uint64_t offset = data->position();
      LB_RETURN_IF_ERROR(data->Write(t.raw_data().data(), t.raw_data().size()));
      auto add = [&](const std::string& k, const std::string& v) {
        auto* e = t.add_external_data();
        e->set_key(k);
        e->set_value(v);
      };
      add("location", location);
      add("offset", std::to_string(offset));
      add("length", std::to_string(t.raw_data().size()));
      t.set_data_location(onnx::TensorProto::EXTERNAL);
      t.clear_raw_data();
    }
    if (m.ByteSizeLong() >= kLimit) {
      return BadInput(path + ": the graph alone passes 2 GiB");
    }
  }
  std::string bytes;
  if (!m.SerializeToString(&bytes)) {
    return IoError(path + ": the model does not serialize");
  }
  LB_ASSIGN_OR_RETURN(auto out, OutputFile::Create(path));
  LB_RETURN_IF_ERROR(out->Write(bytes.data(), bytes.size()));
  if (data) LB_RETURN_IF_ERROR(data->Commit());
  return out->Commit();
}

}  // namespace lowbit
