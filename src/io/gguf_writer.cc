// GGUF writer: validates the metadata and tensor descriptions up front, writes
// the version 3 header, then streams tensor data one tensor at a time with
// zero padding to the alignment, as ggml's own writer lays it out.
#include <bit>
#include <limits>
#include <unordered_set>
#include <utility>

#include "formats/ggml/ggml_type.h"
#include "io/gguf.h"
#include "io/gguf_internal.h"
#include "io/tensor_sequence.h"

namespace lowbit {
namespace {

using gguf_internal::Quote;

constexpr uint64_t kMax63 =
    static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

void AppendLe(uint64_t v, int n, std::string* out) {
  for (int k = 0; k < n; ++k) {
    out->push_back(static_cast<char>((v >> (8 * k)) & 0xFF));
  }
}

void AppendString(std::string_view s, std::string* out) {
  AppendLe(s.size(), 8, out);
  out->append(s);
}

// Checks `v` (enclosed by `depth` arrays) and counts its array elements and
// string bytes; the message has no path.
Status ValidateValue(const GgufValue& v, int depth, uint64_t* elements) {
  const auto id = static_cast<uint32_t>(v.type);
  if (!IsValidGgufType(id)) {
    return InvalidArgument("unknown value type " + std::to_string(id));
  }
  auto out_of_range = [&v](const std::string& value) {
    return InvalidArgument("value " + value + " does not fit in " +
                           GgufTypeName(v.type));
  };
  switch (v.type) {
    case GgufType::kU8:
    case GgufType::kU16:
    case GgufType::kU32: {
      const uint64_t max =
          (uint64_t{1} << (8 * gguf_internal::ScalarBytes(id))) - 1;
      if (v.u > max) return out_of_range(std::to_string(v.u));
      return Status::Ok();
    }
    case GgufType::kI8:
    case GgufType::kI16:
    case GgufType::kI32: {
      const int64_t max =
          (int64_t{1} << (8 * gguf_internal::ScalarBytes(id) - 1)) - 1;
      if (v.i > max || v.i < -max - 1) return out_of_range(std::to_string(v.i));
      return Status::Ok();
    }
    case GgufType::kString:
      if (v.s.size() > kGgufMaxStringBytes) {
        return InvalidArgument("string of " + std::to_string(v.s.size()) +
                               " bytes exceeds the limit of " +
                               std::to_string(kGgufMaxStringBytes));
      }
      return Status::Ok();
    case GgufType::kArray: {
      if (depth + 1 > kGgufMaxArrayDepth) {
        return InvalidArgument("arrays nest deeper than " +
                               std::to_string(kGgufMaxArrayDepth) + " levels");
      }
      const auto elem = static_cast<uint32_t>(v.elem_type);
      if (!IsValidGgufType(elem)) {
        return InvalidArgument("unknown array element type " +
                               std::to_string(elem));
      }
      if (v.array.size() > kGgufMaxArrayElements - *elements) {
        return InvalidArgument("metadata arrays hold more than " +
                               std::to_string(kGgufMaxArrayElements) +
                               " elements in total");
      }
      *elements += v.array.size();
      for (size_t k = 0; k < v.array.size(); ++k) {
        const std::string where = "element " + std::to_string(k);
        if (v.array[k].type != v.elem_type) {
          return InvalidArgument(
              where + " has type " + GgufTypeName(v.array[k].type) +
              " in an array of " + GgufTypeName(v.elem_type));
        }
        const Status st = ValidateValue(v.array[k], depth + 1, elements);
        if (!st.ok()) return st.WithPrefix(where);
      }
      return Status::Ok();
    }
    default:  // 64-bit integers, floats and bools take any value
      return Status::Ok();
  }
}

// Appends the payload of a validated value (its type id is written by the
// caller: before a KV's value, or once per array for its elements).
void AppendPayload(const GgufValue& v, std::string* out) {
  const auto id = static_cast<uint32_t>(v.type);
  switch (v.type) {
    case GgufType::kU8:
    case GgufType::kU16:
    case GgufType::kU32:
    case GgufType::kU64:
      AppendLe(v.u, static_cast<int>(gguf_internal::ScalarBytes(id)), out);
      return;
    case GgufType::kI8:
    case GgufType::kI16:
    case GgufType::kI32:
    case GgufType::kI64:
      AppendLe(static_cast<uint64_t>(v.i),
               static_cast<int>(gguf_internal::ScalarBytes(id)), out);
      return;
    case GgufType::kF32:
      AppendLe(std::bit_cast<uint32_t>(v.f32), 4, out);
      return;
    case GgufType::kF64:
      AppendLe(std::bit_cast<uint64_t>(v.f64), 8, out);
      return;
    case GgufType::kBool:
      out->push_back(v.b ? 1 : 0);
      return;
    case GgufType::kString:
      AppendString(v.s, out);
      return;
    case GgufType::kArray:
      AppendLe(static_cast<uint32_t>(v.elem_type), 4, out);
      AppendLe(v.array.size(), 8, out);
      for (const GgufValue& e : v.array) AppendPayload(e, out);
      return;
  }
}

uint64_t PadTo(uint64_t n, uint64_t alignment) {
  return (alignment - n % alignment) % alignment;
}

}  // namespace

Result<std::unique_ptr<GgufWriter>> GgufWriter::Create(
    const std::string& path, std::vector<GgufKV> kvs,
    std::vector<GgufTensorDesc> tensors, uint64_t alignment) {
  auto invalid = [&path](const std::string& msg) {
    return InvalidArgument(path + ": " + msg);
  };
  if (!std::has_single_bit(alignment) ||
      alignment > std::numeric_limits<uint32_t>::max()) {
    return invalid("alignment " + std::to_string(alignment) +
                   " is not a power of two that fits in 32 bits");
  }

  // Metadata.
  std::unordered_set<std::string_view> keys;
  uint64_t elements = 0;
  const GgufValue* align_kv = nullptr;
  for (const GgufKV& kv : kvs) {
    if (kv.key.empty()) return invalid("empty metadata key");
    if (!keys.insert(kv.key).second) {
      return invalid("duplicate metadata key " + Quote(kv.key));
    }
    const Status st = ValidateValue(kv.value, 0, &elements);
    if (!st.ok()) return invalid("key " + Quote(kv.key) + ": " + st.message());
    if (kv.key == "general.alignment") align_kv = &kv.value;
  }
  if (align_kv != nullptr) {
    if (align_kv->type != GgufType::kU32) {
      return invalid("general.alignment has type " +
                     GgufTypeName(align_kv->type) + "; it must be UINT32");
    }
    if (!std::has_single_bit(align_kv->u)) {
      return invalid("general.alignment " + std::to_string(align_kv->u) +
                     " is not a non-zero power of two");
    }
    if (alignment != kGgufDefaultAlignment && alignment != align_kv->u) {
      return invalid("alignment " + std::to_string(alignment) +
                     " disagrees with general.alignment " +
                     std::to_string(align_kv->u));
    }
    alignment = align_kv->u;
  } else if (alignment != kGgufDefaultAlignment) {
    kvs.push_back(GgufKV{"general.alignment",
                         GgufValue::U32(static_cast<uint32_t>(alignment))});
  }

  std::unique_ptr<GgufWriter> w(new GgufWriter());
  std::string header = "GGUF";
  AppendLe(3, 4, &header);
  AppendLe(tensors.size(), 8, &header);
  AppendLe(kvs.size(), 8, &header);
  for (const GgufKV& kv : kvs) {
    AppendString(kv.key, &header);
    AppendLe(static_cast<uint32_t>(kv.value.type), 4, &header);
    AppendPayload(kv.value, &header);
  }

  // Tensor infos.
  std::unordered_set<std::string_view> names;
  uint64_t offset = 0;
  std::vector<TensorSequence::Item> items;
  for (const GgufTensorDesc& d : tensors) {
    const std::string where = "tensor " + Quote(d.name) + ": ";
    if (!names.insert(d.name).second) {
      return invalid("duplicate tensor name " + Quote(d.name));
    }
    if (d.name.size() > kGgufMaxTensorNameBytes) {
      return invalid(where + "name is " + std::to_string(d.name.size()) +
                     " bytes long; ggml allows at most " +
                     std::to_string(kGgufMaxTensorNameBytes));
    }
    if (d.ne.empty() || d.ne.size() > kGgufMaxDims) {
      return invalid(where + std::to_string(d.ne.size()) +
                     " dimensions; GGUF tensors have 1 to " +
                     std::to_string(kGgufMaxDims));
    }
    Result<uint64_t> nbytes = GgmlTensorBytes(d.ggml_type, d.ne);
    if (!nbytes.ok()) return invalid(where + nbytes.status().message());
    if (*nbytes > kMax63 - alignment || offset > kMax63 - alignment - *nbytes) {
      return invalid(where + "total data size overflows 63 bits");
    }
    AppendString(d.name, &header);
    AppendLe(d.ne.size(), 4, &header);
    for (uint64_t n : d.ne) AppendLe(n, 8, &header);
    AppendLe(d.ggml_type, 4, &header);
    AppendLe(offset, 8, &header);
    items.push_back(
        {d.name, *nbytes,
         "type " + std::string(FindGgmlTypeInfoById(d.ggml_type)->ggml_name) +
             " needs"});
    offset += *nbytes + PadTo(*nbytes, alignment);
  }
  header.append(PadTo(header.size(), alignment), '\0');

  w->seq_.Init(std::move(items));
  w->alignment_ = alignment;
  w->data_offset_ = header.size();
  LB_ASSIGN_OR_RETURN(w->out_, OutputFile::Create(path));
  LB_RETURN_IF_ERROR(w->out_->Write(header.data(), header.size()));
  return w;
}

Status GgufWriter::Write(std::string_view name, const void* data,
                         size_t nbytes) {
  LB_RETURN_IF_ERROR(seq_.Check(out_->path(), name, data, nbytes));
  Status st = out_->Write(data, nbytes);
  if (st.ok()) st = out_->WriteZeros(PadTo(nbytes, alignment_));
  seq_.Wrote(st.ok());
  return st;
}

Status GgufWriter::WritePart(std::string_view name, const void* data,
                             size_t nbytes) {
  LB_RETURN_IF_ERROR(seq_.CheckPart(out_->path(), name, data, nbytes));
  Status st = out_->Write(data, nbytes);
  const bool ok = st.ok();
  if (seq_.WrotePart(ok, nbytes)) {
    // Complete: the padding up to the alignment.
    const uint64_t total = out_->position() - data_offset_;
    st = out_->WriteZeros(PadTo(total, alignment_));
    if (!st.ok()) seq_.Wrote(false);
  }
  return st;
}

Status GgufWriter::Commit() {
  LB_RETURN_IF_ERROR(seq_.CheckCommit(out_->path()));
  const Status st = out_->Commit();
  seq_.Committed(st.ok());
  return st;
}

}  // namespace lowbit
