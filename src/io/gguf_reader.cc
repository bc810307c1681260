// GGUF reader. Every count and length is checked against the bytes that remain
// before anything is allocated, so a hostile header cannot cause a crash or an
// absurd allocation; problems come back as one-line BadInput messages.
#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <numeric>
#include <utility>

#include "formats/ggml/ggml_type.h"
#include "io/gguf.h"
#include "io/gguf_internal.h"

namespace lowbit {

using gguf_internal::Quote;

namespace {

uint32_t ByteSwap32(uint32_t v) {
  return (v >> 24) | ((v >> 8) & 0xFF00) | ((v << 8) & 0xFF0000) | (v << 24);
}

}  // namespace

// Parses the mapped bytes of one file into a GgufFile. Messages are built
// without the path; Open() adds it.
class GgufParser {
 public:
  explicit GgufParser(GgufFile* f)
      : f_(f), base_(f->file_->data()), size_(f->file_->size()) {}

  Status Parse() {
    LB_RETURN_IF_ERROR(ParseHeader());
    for (uint64_t k = 0; k < n_kv_; ++k) LB_RETURN_IF_ERROR(ParseKv(k));
    LB_RETURN_IF_ERROR(ParseAlignment());
    for (uint64_t k = 0; k < n_tensors_; ++k) {
      LB_RETURN_IF_ERROR(ParseTensorInfo(k));
    }
    return PlaceData();
  }

 private:
  uint64_t remaining() const { return size_ - pos_; }

  Status Truncated(uint64_t need, const char* what) const {
    return BadInput("truncated: " + std::string(what) + " at offset " +
                    std::to_string(pos_) + " needs " + std::to_string(need) +
                    " bytes but only " + std::to_string(remaining()) +
                    " remain");
  }

  // Reads an n-byte little-endian unsigned integer (n <= 8).
  Status ReadLe(int n, const char* what, uint64_t* v) {
    if (remaining() < static_cast<uint64_t>(n)) return Truncated(n, what);
    uint64_t x = 0;
    for (int k = n - 1; k >= 0; --k) x = (x << 8) | base_[pos_ + k];
    pos_ += n;
    *v = x;
    return Status::Ok();
  }
  Status ReadU32(const char* what, uint32_t* v) {
    uint64_t x = 0;
    LB_RETURN_IF_ERROR(ReadLe(4, what, &x));
    *v = static_cast<uint32_t>(x);
    return Status::Ok();
  }
  Status ReadU64(const char* what, uint64_t* v) { return ReadLe(8, what, v); }

  Status ReadString(const char* what, std::string* s) {
    uint64_t len = 0;
    LB_RETURN_IF_ERROR(ReadU64(what, &len));
    if (len > remaining()) {
      return BadInput(std::string(what) + " length " + std::to_string(len) +
                      " at offset " + std::to_string(pos_ - 8) +
                      " exceeds the " + std::to_string(remaining()) +
                      " bytes that remain");
    }
    if (len > kGgufMaxStringBytes) {
      return BadInput(std::string(what) + " length " + std::to_string(len) +
                      " exceeds the limit of " +
                      std::to_string(kGgufMaxStringBytes) + " bytes");
    }
    s->assign(reinterpret_cast<const char*>(base_ + pos_), len);
    pos_ += len;
    return Status::Ok();
  }

  Status ParseHeader() {
    if (size_ < 4) {
      return BadInput("file is " + std::to_string(size_) +
                      " bytes long, too short for the GGUF magic; not a GGUF "
                      "file");
    }
    if (std::memcmp(base_, "GGUF", 4) != 0) {
      return BadInput(
          "bad magic " +
          Quote(std::string_view(reinterpret_cast<const char*>(base_), 4)) +
          " (expected 'GGUF'); not a GGUF file");
    }
    pos_ = 4;
    uint32_t version = 0;
    LB_RETURN_IF_ERROR(ReadU32("version", &version));
    if (version != 0 && (version & 0xFFFF) == 0) {
      return BadInput("version field reads " + std::to_string(version) +
                      " (byte-swapped " + std::to_string(ByteSwap32(version)) +
                      "): a big-endian GGUF file; only little-endian files "
                      "are supported");
    }
    if (version == 1) {
      return BadInput(
          "GGUF version 1 (32-bit counts) is not supported; only versions 2 "
          "and 3 are");
    }
    if (version != 2 && version != 3) {
      return BadInput("unsupported GGUF version " + std::to_string(version) +
                      "; only versions 2 and 3 are supported");
    }
    f_->version_ = version;
    LB_RETURN_IF_ERROR(ReadU64("tensor count", &n_tensors_));
    LB_RETURN_IF_ERROR(ReadU64("metadata count", &n_kv_));
    // A KV needs at least a key length, a type and a 1-byte value; a tensor
    // info a name length, n_dims, one ne, a type and an offset.
    constexpr uint64_t kMinKv = 8 + 4 + 1;
    constexpr uint64_t kMinTensor = 8 + 4 + 8 + 4 + 8;
    if (n_kv_ > remaining() / kMinKv) {
      return BadInput("metadata count " + std::to_string(n_kv_) +
                      " cannot fit in the " + std::to_string(remaining()) +
                      " bytes that remain");
    }
    if (n_tensors_ > (remaining() - n_kv_ * kMinKv) / kMinTensor) {
      return BadInput("tensor count " + std::to_string(n_tensors_) +
                      " cannot fit in the " + std::to_string(remaining()) +
                      " bytes that remain");
    }
    f_->kvs_.reserve(n_kv_);
    f_->tensors_.reserve(n_tensors_);
    return Status::Ok();
  }

  Status ParseKv(uint64_t k) {
    std::string key;
    Status st = ReadString("key", &key);
    if (!st.ok()) return st.WithPrefix("metadata #" + std::to_string(k));
    if (key.empty()) {
      return BadInput("metadata #" + std::to_string(k) + " has an empty key");
    }
    if (f_->kv_index_.count(key) != 0) {
      return BadInput("duplicate metadata key " + Quote(key));
    }
    GgufValue value;
    uint32_t type = 0;
    st = ReadU32("value type", &type);
    if (st.ok()) st = ReadValue(type, 0, &value);
    if (!st.ok()) return st.WithPrefix("key " + Quote(key));
    f_->kv_index_.emplace(key, f_->kvs_.size());
    f_->kvs_.push_back(GgufKV{std::move(key), std::move(value)});
    return Status::Ok();
  }

  // Reads a value of type `type` (already consumed); `depth` is the number of
  // arrays enclosing it.
  Status ReadValue(uint32_t type, int depth, GgufValue* out) {
    if (!IsValidGgufType(type)) {
      return BadInput("unknown value type " + std::to_string(type));
    }
    const auto t = static_cast<GgufType>(type);
    out->type = t;
    uint64_t x = 0;
    switch (t) {
      case GgufType::kU8:
      case GgufType::kU16:
      case GgufType::kU32:
      case GgufType::kU64:
        LB_RETURN_IF_ERROR(
            ReadLe(static_cast<int>(ScalarBytes(type)), "value", &out->u));
        return Status::Ok();
      case GgufType::kI8:
      case GgufType::kI16:
      case GgufType::kI32:
      case GgufType::kI64: {
        const int n = static_cast<int>(ScalarBytes(type));
        LB_RETURN_IF_ERROR(ReadLe(n, "value", &x));
        // Sign-extend from n bytes.
        const int shift = 64 - 8 * n;
        out->i = static_cast<int64_t>(x << shift) >> shift;
        return Status::Ok();
      }
      case GgufType::kF32:
        LB_RETURN_IF_ERROR(ReadLe(4, "value", &x));
        out->f32 = std::bit_cast<float>(static_cast<uint32_t>(x));
        return Status::Ok();
      case GgufType::kF64:
        LB_RETURN_IF_ERROR(ReadLe(8, "value", &x));
        out->f64 = std::bit_cast<double>(x);
        return Status::Ok();
      case GgufType::kBool:
        LB_RETURN_IF_ERROR(ReadLe(1, "value", &x));
        if (x > 1) {
          return BadInput("bool value " + std::to_string(x) + " at offset " +
                          std::to_string(pos_ - 1) + " is not 0 or 1");
        }
        out->b = x == 1;
        return Status::Ok();
      case GgufType::kString:
        return ReadString("string", &out->s);
      case GgufType::kArray:
        return ReadArray(depth + 1, out);
    }
    return BadInput("unknown value type " + std::to_string(type));
  }

  Status ReadArray(int depth, GgufValue* out) {
    if (depth > kGgufMaxArrayDepth) {
      return BadInput("arrays nest deeper than " +
                      std::to_string(kGgufMaxArrayDepth) + " levels");
    }
    uint32_t elem = 0;
    uint64_t count = 0;
    LB_RETURN_IF_ERROR(ReadU32("array element type", &elem));
    if (!IsValidGgufType(elem)) {
      return BadInput("unknown array element type " + std::to_string(elem));
    }
    LB_RETURN_IF_ERROR(ReadU64("array count", &count));
    const uint64_t min_bytes = gguf_internal::MinValueBytes(elem);
    if (count > remaining() / min_bytes) {
      return BadInput("array of " + std::to_string(count) + " " +
                      GgufTypeName(elem) + " elements cannot fit in the " +
                      std::to_string(remaining()) + " bytes that remain");
    }
    if (count > kGgufMaxArrayElements - array_elements_) {
      return BadInput("metadata arrays hold more than " +
                      std::to_string(kGgufMaxArrayElements) +
                      " elements in total");
    }
    array_elements_ += count;
    out->elem_type = static_cast<GgufType>(elem);
    out->array.resize(count);
    for (uint64_t k = 0; k < count; ++k) {
      const Status st = ReadValue(elem, depth, &out->array[k]);
      if (!st.ok()) return st.WithPrefix("element " + std::to_string(k));
    }
    return Status::Ok();
  }

  static uint64_t ScalarBytes(uint32_t type) {
    return gguf_internal::ScalarBytes(type);
  }

  Status ParseAlignment() {
    const auto it = f_->kv_index_.find("general.alignment");
    if (it == f_->kv_index_.end()) return Status::Ok();
    const GgufValue& v = f_->kvs_[it->second].value;
    if (v.type != GgufType::kU32) {
      return BadInput("general.alignment has type " + GgufTypeName(v.type) +
                      "; it must be UINT32");
    }
    if (!std::has_single_bit(v.u)) {
      return BadInput("general.alignment " + std::to_string(v.u) +
                      " is not a non-zero power of two");
    }
    f_->alignment_ = v.u;
    return Status::Ok();
  }

  Status ParseTensorInfo(uint64_t k) {
    GgufTensorInfo t;
    Status st = ReadString("name", &t.name);
    if (!st.ok()) return st.WithPrefix("tensor #" + std::to_string(k));
    if (f_->tensor_index_.count(t.name) != 0) {
      return BadInput("duplicate tensor name " + Quote(t.name));
    }
    st = ParseTensorShape(&t);
    if (!st.ok()) return st.WithPrefix("tensor " + Quote(t.name));
    f_->tensor_index_.emplace(t.name, f_->tensors_.size());
    f_->tensors_.push_back(std::move(t));
    return Status::Ok();
  }

  Status ParseTensorShape(GgufTensorInfo* t) {
    uint32_t n_dims = 0;
    LB_RETURN_IF_ERROR(ReadU32("n_dims", &n_dims));
    if (n_dims == 0 || n_dims > kGgufMaxDims) {
      return BadInput("n_dims " + std::to_string(n_dims) + " is not in [1, " +
                      std::to_string(kGgufMaxDims) + "]");
    }
    t->ne.resize(n_dims);
    for (uint64_t& d : t->ne) LB_RETURN_IF_ERROR(ReadU64("ne", &d));
    LB_RETURN_IF_ERROR(ReadU32("ggml type", &t->ggml_type));
    Result<uint64_t> nbytes = GgmlTensorBytes(t->ggml_type, t->ne);
    if (!nbytes.ok()) return BadInput(nbytes.status().message());
    t->nbytes = *nbytes;
    LB_RETURN_IF_ERROR(ReadU64("offset", &t->offset));
    if (t->offset % f_->alignment_ != 0) {
      return BadInput("offset " + std::to_string(t->offset) +
                      " is not a multiple of the alignment " +
                      std::to_string(f_->alignment_));
    }
    return Status::Ok();
  }

  // Places the data section after the header and checks each tensor's bytes
  // lie inside the file and overlap no other tensor's.
  Status PlaceData() {
    const uint64_t a = f_->alignment_;
    const uint64_t header_end = pos_;
    // header_end <= size_ < 2^63 in practice; guard the round-up anyway.
    if (header_end > std::numeric_limits<uint64_t>::max() - (a - 1)) {
      return BadInput("header end " + std::to_string(header_end) +
                      " cannot be aligned");
    }
    f_->data_offset_ = (header_end + a - 1) / a * a;
    if (f_->tensors_.empty()) return Status::Ok();
    const uint64_t start = f_->data_offset_;
    if (start > size_) {
      return BadInput("data section would start at offset " +
                      std::to_string(start) + ", past the end of the file (" +
                      std::to_string(size_) + " bytes)");
    }
    const uint64_t avail = size_ - start;
    for (GgufTensorInfo& t : f_->tensors_) {
      if (t.offset > avail || t.nbytes > avail - t.offset) {
        return BadInput(
            "tensor " + Quote(t.name) + ": data [" + std::to_string(t.offset) +
            ", " + std::to_string(t.offset) + " + " + std::to_string(t.nbytes) +
            ") runs past the end of the file (data section has " +
            std::to_string(avail) + " bytes)");
      }
      t.data = base_ + start + t.offset;
    }
    // Among tensors with bytes, sorted by start, an overlap shows as a start
    // before the furthest end seen so far.
    const std::vector<GgufTensorInfo>& ts = f_->tensors_;
    std::vector<size_t> order(ts.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(), [&ts](size_t x, size_t y) {
      return ts[x].offset != ts[y].offset ? ts[x].offset < ts[y].offset : x < y;
    });
    const GgufTensorInfo* furthest = nullptr;
    for (size_t idx : order) {
      const GgufTensorInfo& t = ts[idx];
      if (t.nbytes == 0) continue;
      if (furthest != nullptr &&
          t.offset < furthest->offset + furthest->nbytes) {
        return BadInput("tensors " + Quote(furthest->name) + " (bytes [" +
                        std::to_string(furthest->offset) + ", " +
                        std::to_string(furthest->offset + furthest->nbytes) +
                        ")) and " + Quote(t.name) + " (bytes [" +
                        std::to_string(t.offset) + ", " +
                        std::to_string(t.offset + t.nbytes) + ")) overlap");
      }
      if (furthest == nullptr ||
          t.offset + t.nbytes > furthest->offset + furthest->nbytes) {
        furthest = &t;
      }
    }
    return Status::Ok();
  }

  GgufFile* f_;
  const uint8_t* base_;
  uint64_t size_;
  uint64_t pos_ = 0;
  uint64_t n_kv_ = 0;
  uint64_t n_tensors_ = 0;
  uint64_t array_elements_ = 0;
};

Result<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  LB_ASSIGN_OR_RETURN(f->file_, MappedFile::Open(path));
  GgufParser parser(f.get());
  const Status st = parser.Parse();
  if (!st.ok()) return st.WithPrefix(path);
  return f;
}

const GgufValue* GgufFile::Find(std::string_view key) const {
  const auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kvs_[it->second].value;
}

const GgufTensorInfo* GgufFile::FindTensor(std::string_view name) const {
  const auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace lowbit
