// Safetensors reader and writer. The header is parsed with a SAX handler that
// builds only the entries and metadata, so a hostile header cannot nest deeply
// or hide duplicate keys.
#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_set>
#include <utility>

namespace lowbit {
namespace {

using Json = nlohmann::json;

constexpr size_t kMaxDims = 64;
constexpr int kMaxSkipDepth =
    60;  // nesting allowed inside unknown entry fields
constexpr size_t kMaxQuoted = 200;

// Makes `s` safe for a one-line message: control bytes (and, if `ascii_only`,
// bytes
// >= 0x80) become \xNN and long strings are cut.
std::string Printable(std::string_view s, bool ascii_only = false) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  const size_t n = std::min(s.size(), kMaxQuoted);
  for (size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f || (ascii_only && c >= 0x80)) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > n) out += "...";
  return out;
}

std::string Quote(std::string_view s) { return "'" + Printable(s) + "'"; }

std::string OffsetsString(uint64_t b, uint64_t e) {
  return "[" + std::to_string(b) + ", " + std::to_string(e) + "]";
}

// Bytes a dense tensor of `dtype` and `shape` needs, or a message (without
// prefix) when a dimension is negative or the element or byte count overflows
// 64 bits.
Result<uint64_t> DenseBytes(DType dtype, const Shape& shape) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  // The product of the non-zero dimensions must fit too: a zero elsewhere
  // makes the count 0, but any product of a subset of the dimensions (rows,
  // columns) must still be computable without overflow.
  int64_t span = 1;
  bool empty = false;
  for (int64_t d : shape) {
    if (d < 0) {
      return InvalidArgument("shape " + ShapeString(shape) +
                             " has a negative dimension");
    }
    if (d != 0 && span > kMax / d) {
      return InvalidArgument("shape " + ShapeString(shape) +
                             " element count overflows 64 bits");
    }
    if (d == 0) empty = true;
    span *= d == 0 ? 1 : d;
  }
  const int64_t numel = empty ? 0 : span;
  const int64_t bits = DTypeBits(dtype);
  if (numel > (kMax - 7) / bits) {
    return InvalidArgument("shape " + ShapeString(shape) +
                           " byte size overflows 64 bits");
  }
  return static_cast<uint64_t>(StorageBytes(dtype, numel));
}

// ---------------------------------------------------------------------------------------
// Header parsing.

struct RawEntry {
  std::string name;
  std::string dtype;
  Shape shape;
  std::vector<uint64_t> offsets;
  bool has_dtype = false;
  bool has_shape = false;
  bool has_offsets = false;
  std::set<std::string> fields;  // seen so far, to catch duplicates
};

// nlohmann SAX handler for the safetensors header. Stops at the first problem,
// leaving a message (without the path prefix) in error().
class HeaderHandler {
 public:
  using number_integer_t = Json::number_integer_t;
  using number_unsigned_t = Json::number_unsigned_t;
  using number_float_t = Json::number_float_t;
  using string_t = Json::string_t;
  using binary_t = Json::binary_t;

  const std::string& error() const { return error_; }
  bool done() const { return state_ == State::kDone; }
  std::vector<RawEntry>& entries() { return entries_; }
  std::map<std::string, std::string>& metadata() { return metadata_; }

  // SAX interface.
  bool null() { return Scalar(Kind::kOther, 0, nullptr); }
  bool boolean(bool /*v*/) { return Scalar(Kind::kOther, 0, nullptr); }
  bool number_integer(number_integer_t v) {
    if (v >= 0)
      return Scalar(Kind::kUnsigned, static_cast<uint64_t>(v), nullptr);
    return Scalar(Kind::kNegative, 0, nullptr, std::to_string(v));
  }
  bool number_unsigned(number_unsigned_t v) {
    return Scalar(Kind::kUnsigned, v, nullptr);
  }
  bool number_float(number_float_t /*v*/, const string_t& text) {
    return Scalar(Kind::kFloat, 0, nullptr, text);
  }
  bool string(string_t& s) { return Scalar(Kind::kString, 0, &s); }
  bool binary(binary_t& /*b*/) { return Scalar(Kind::kOther, 0, nullptr); }

  bool start_object(std::size_t /*len*/) {
    switch (state_) {
      case State::kStart:
        state_ = State::kTop;
        return true;
      case State::kTopValue:
        if (key_ == "__metadata__") {
          state_ = State::kMeta;
        } else {
          entries_.push_back(RawEntry{});
          entries_.back().name = key_;
          state_ = State::kEntry;
        }
        return true;
      default:
        return Container();
    }
  }

  bool start_array(std::size_t /*len*/) {
    if (state_ == State::kEntryValue && field_ == "shape") {
      entries_.back().has_shape = true;
      state_ = State::kShape;
      return true;
    }
    if (state_ == State::kEntryValue && field_ == "data_offsets") {
      entries_.back().has_offsets = true;
      state_ = State::kOffsets;
      return true;
    }
    return Container();
  }

  bool key(string_t& k) {
    switch (state_) {
      case State::kTop:
        if (!top_keys_.insert(k).second) {
          return Fail(k == "__metadata__"
                          ? "duplicate __metadata__"
                          : "duplicate tensor name " + Quote(k));
        }
        key_ = k;
        state_ = State::kTopValue;
        return true;
      case State::kMeta:
        if (metadata_.count(k) != 0) {
          return Fail("duplicate key " + Quote(k) + " in __metadata__");
        }
        key_ = k;
        state_ = State::kMetaValue;
        return true;
      case State::kEntry:
        if (!entries_.back().fields.insert(k).second) {
          return FailEntry("duplicate field " + Quote(k));
        }
        field_ = k;
        state_ = State::kEntryValue;
        return true;
      default:  // kSkip
        return true;
    }
  }

  bool end_object() {
    switch (state_) {
      case State::kTop:
        state_ = State::kDone;
        return true;
      case State::kMeta:
        state_ = State::kTop;
        return true;
      case State::kEntry: {
        const RawEntry& e = entries_.back();
        if (!e.has_dtype) return FailEntry("missing field 'dtype'");
        if (!e.has_shape) return FailEntry("missing field 'shape'");
        if (!e.has_offsets) return FailEntry("missing field 'data_offsets'");
        state_ = State::kTop;
        return true;
      }
      default:  // kSkip
        return EndSkip();
    }
  }

  bool end_array() {
    switch (state_) {
      case State::kShape:
        state_ = State::kEntry;
        return true;
      case State::kOffsets:
        if (entries_.back().offsets.size() != 2) return BadOffsets();
        state_ = State::kEntry;
        return true;
      default:  // kSkip
        return EndSkip();
    }
  }

  bool parse_error(std::size_t /*pos*/, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& ex) {
    std::string what = ex.what();
    // Drop the "[json.exception.parse_error.101] " prefix.
    if (!what.empty() && what[0] == '[') {
      const size_t close = what.find("] ");
      if (close != std::string::npos) what = what.substr(close + 2);
    }
    return Fail("header is not valid JSON: " + Printable(what, true));
  }

 private:
  enum class State {
    kStart,       // before the top-level value
    kTop,         // in the top-level object, expecting a key or '}'
    kTopValue,    // after a top-level key
    kMeta,        // in __metadata__, expecting a key or '}'
    kMetaValue,   // after a __metadata__ key
    kEntry,       // in a tensor entry, expecting a key or '}'
    kEntryValue,  // after an entry field name
    kShape,       // in a shape array
    kOffsets,     // in a data_offsets array
    kSkip,        // inside the value of an unknown entry field
    kDone,
  };
  enum class Kind { kUnsigned, kNegative, kFloat, kString, kOther };

  bool Fail(std::string msg) {
    if (error_.empty()) error_ = std::move(msg);
    return false;
  }
  bool FailEntry(const std::string& msg) {
    return Fail("tensor " + Quote(entries_.back().name) + ": " + msg);
  }
  bool BadOffsets() {
    return FailEntry("data_offsets must be two non-negative integers");
  }
  bool NotAnObject() {
    if (key_ == "__metadata__") return Fail("__metadata__ is not an object");
    return Fail("tensor " + Quote(key_) + ": entry is not an object");
  }
  bool WrongFieldType() {
    if (field_ == "dtype") return FailEntry("dtype is not a string");
    if (field_ == "shape") return FailEntry("shape is not an array");
    return FailEntry("data_offsets is not an array");
  }
  bool MetaNotString() {
    return Fail("__metadata__ value for key " + Quote(key_) +
                " is not a string");
  }
  bool IsKnownField() const {
    return field_ == "dtype" || field_ == "shape" || field_ == "data_offsets";
  }

  // A scalar value: `u` for kUnsigned, `s` for kString, `text` for
  // kNegative/kFloat.
  bool Scalar(Kind kind, uint64_t u, string_t* s,
              const std::string& text = "") {
    switch (state_) {
      case State::kStart:
        return Fail("header is not a JSON object");
      case State::kTopValue:
        return NotAnObject();
      case State::kMetaValue:
        if (kind != Kind::kString) return MetaNotString();
        metadata_.emplace(key_, std::move(*s));
        state_ = State::kMeta;
        return true;
      case State::kEntryValue:
        if (field_ == "dtype" && kind == Kind::kString) {
          entries_.back().dtype = std::move(*s);
          entries_.back().has_dtype = true;
        } else if (IsKnownField()) {
          return WrongFieldType();
        }
        state_ = State::kEntry;
        return true;
      case State::kShape: {
        Shape& shape = entries_.back().shape;
        if (kind == Kind::kNegative) {
          return FailEntry("shape has a negative dimension " + text);
        }
        if (kind == Kind::kFloat) {
          return FailEntry("shape dimension " + Printable(text) +
                           " is not an integer");
        }
        if (kind != Kind::kUnsigned) {
          return FailEntry("shape is not an array of integers");
        }
        if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          return FailEntry("shape dimension " + std::to_string(u) +
                           " is too large");
        }
        if (shape.size() == kMaxDims) {
          return FailEntry("shape has more than " + std::to_string(kMaxDims) +
                           " dimensions");
        }
        shape.push_back(static_cast<int64_t>(u));
        return true;
      }
      case State::kOffsets: {
        std::vector<uint64_t>& offsets = entries_.back().offsets;
        if (kind != Kind::kUnsigned || offsets.size() == 2) return BadOffsets();
        offsets.push_back(u);
        return true;
      }
      case State::kSkip:
        return true;
      default:  // kTop, kMeta, kEntry, kDone: the parser never sends values
                // here
        return Fail("header has an unexpected value");
    }
  }

  // A nested object or array that is not one of the expected ones.
  bool Container() {
    switch (state_) {
      case State::kStart:
        return Fail("header is not a JSON object");
      case State::kTopValue:
        return NotAnObject();
      case State::kMetaValue:
        return MetaNotString();
      case State::kEntryValue:
        if (IsKnownField()) return WrongFieldType();
        state_ = State::kSkip;
        skip_depth_ = 1;
        return true;
      case State::kShape:
        return FailEntry("shape is not an array of integers");
      case State::kOffsets:
        return BadOffsets();
      case State::kSkip:
        if (++skip_depth_ > kMaxSkipDepth) {
          return Fail("header JSON nests deeper than " +
                      std::to_string(kMaxSkipDepth + 2) + " levels");
        }
        return true;
      default:
        return Fail("header has an unexpected value");
    }
  }

  bool EndSkip() {
    if (--skip_depth_ == 0) state_ = State::kEntry;
    return true;
  }

  State state_ = State::kStart;
  std::string key_;    // current top-level or metadata key
  std::string field_;  // current entry field
  int skip_depth_ = 0;
  std::unordered_set<std::string> top_keys_;
  std::vector<RawEntry> entries_;
  std::map<std::string, std::string> metadata_;
  std::string error_;
};

uint64_t ReadLe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

void WriteLe64(uint64_t v, uint8_t* p) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

}  // namespace

// ---------------------------------------------------------------------------------------
// SafetensorsFile.

Result<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(
    const std::string& path) {
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  LB_ASSIGN_OR_RETURN(f->file_, MappedFile::Open(path));
  const uint8_t* base = f->file_->data();
  const uint64_t size = f->file_->size();
  auto bad = [&path](const std::string& msg) {
    return BadInput(path + ": " + msg);
  };

  if (size < 8) {
    return bad("file is shorter than 8 bytes (" + std::to_string(size) +
               " bytes); not a safetensors file");
  }
  const uint64_t header_len = ReadLe64(base);
  if (header_len > kSafetensorsMaxHeaderBytes) {
    return bad("header length " + std::to_string(header_len) +
               " is absurd (limit " +
               std::to_string(kSafetensorsMaxHeaderBytes) +
               "); not a safetensors file");
  }
  if (header_len > size - 8) {
    return bad("header length " + std::to_string(header_len) +
               " exceeds the rest of the file (" + std::to_string(size - 8) +
               " bytes); file truncated?");
  }

  const char* json_begin = reinterpret_cast<const char*>(base + 8);
  // The JSON lexer stops at a NUL byte as if at the end of input, which would
  // hide whatever follows; valid JSON never contains a raw NUL.
  if (const void* nul = std::memchr(json_begin, 0, header_len);
      nul != nullptr) {
    return bad("header is not valid JSON: NUL byte at header offset " +
               std::to_string(static_cast<const char*>(nul) - json_begin));
  }
  HeaderHandler handler;
  bool parsed = false;
  try {
    parsed = Json::sax_parse(json_begin, json_begin + header_len, &handler,
                             Json::input_format_t::json, /*strict=*/true);
  } catch (const std::exception& e) {
    return bad(std::string("cannot parse header: ") +
               Printable(e.what(), true));
  }
  if (!handler.error().empty()) return bad(handler.error());
  if (!parsed || !handler.done()) return bad("header is not valid JSON");

  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = size - data_start;
  std::vector<SafetensorsEntry>& out = f->tensors_;
  out.reserve(handler.entries().size());
  for (RawEntry& raw : handler.entries()) {
    const std::string where = "tensor " + Quote(raw.name) + ": ";
    const std::optional<DType> dtype = DTypeFromSafetensors(raw.dtype);
    if (!dtype) return bad(where + "unknown dtype " + Quote(raw.dtype));
    Result<uint64_t> need = DenseBytes(*dtype, raw.shape);
    if (!need.ok()) return bad(where + need.status().message());
    const uint64_t b = raw.offsets[0];
    const uint64_t e = raw.offsets[1];
    if (b > e) {
      return bad(where + "data_offsets " + OffsetsString(b, e) +
                 " have begin after end");
    }
    if (e > data_size) {
      return bad(where + "data_offsets " + OffsetsString(b, e) +
                 " point past the end of the file (data section has " +
                 std::to_string(data_size) + " bytes)");
    }
    if (e - b != *need) {
      return bad(where + "dtype " + std::string(SafetensorsDTypeName(*dtype)) +
                 " and shape " + ShapeString(raw.shape) + " need " +
                 std::to_string(*need) + " bytes but data_offsets span " +
                 std::to_string(e - b));
    }
    SafetensorsEntry entry;
    entry.name = std::move(raw.name);
    entry.dtype = *dtype;
    entry.shape = std::move(raw.shape);
    entry.offset = data_start + b;
    entry.nbytes = e - b;
    entry.data = base + entry.offset;
    out.push_back(std::move(entry));
  }

  std::sort(out.begin(), out.end(),
            [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
              if (a.offset != b.offset) return a.offset < b.offset;
              if (a.nbytes != b.nbytes) return a.nbytes < b.nbytes;
              return a.name < b.name;
            });
  // Empty tensors occupy no bytes and overlap nothing. Among the others, sorted
  // by start, any overlap shows as a start before the furthest end seen so far.
  const SafetensorsEntry* furthest = nullptr;
  for (const SafetensorsEntry& t : out) {
    if (t.nbytes == 0) continue;
    if (furthest != nullptr && t.offset < furthest->offset + furthest->nbytes) {
      const uint64_t fb = furthest->offset - data_start;
      const uint64_t tb = t.offset - data_start;
      return bad("tensors " + Quote(furthest->name) + " (data_offsets " +
                 OffsetsString(fb, fb + furthest->nbytes) + ") and " +
                 Quote(t.name) + " (data_offsets " +
                 OffsetsString(tb, tb + t.nbytes) + ") overlap");
    }
    if (furthest == nullptr ||
        t.offset + t.nbytes > furthest->offset + furthest->nbytes) {
      furthest = &t;
    }
  }

  for (size_t i = 0; i < out.size(); ++i) f->index_.emplace(out[i].name, i);
  f->metadata_ = std::move(handler.metadata());
  return f;
}

const SafetensorsEntry* SafetensorsFile::Find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

// ---------------------------------------------------------------------------------------
// SafetensorsWriter.

namespace {

// `s` as a JSON string literal, or InvalidArgument "PATH: WHAT is not valid
// UTF-8".
Result<std::string> JsonQuote(const std::string& s, const std::string& path,
                              const std::string& what) {
  try {
    return Json(s).dump(-1, ' ', false, Json::error_handler_t::strict);
  } catch (const Json::exception&) {
    return InvalidArgument(path + ": " + what + " is not valid UTF-8");
  }
}

}  // namespace

Result<std::unique_ptr<SafetensorsWriter>> SafetensorsWriter::Create(
    const std::string& path, std::vector<TensorDesc> descs,
    const std::map<std::string, std::string>& metadata) {
  auto invalid = [&path](const std::string& msg) {
    return InvalidArgument(path + ": " + msg);
  };
  std::unique_ptr<SafetensorsWriter> w(new SafetensorsWriter());
  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      LB_ASSIGN_OR_RETURN(
          std::string qk,
          JsonQuote(k, path, "metadata key '" + Printable(k, true) + "'"));
      LB_ASSIGN_OR_RETURN(std::string qv,
                          JsonQuote(v, path, "metadata value for " + Quote(k)));
      if (!first) header += ",";
      first = false;
      header += qk + ":" + qv;
    }
    header += "}";
  }

  std::unordered_set<std::string> names;
  uint64_t offset = 0;
  std::vector<TensorSequence::Item> items;
  for (const TensorDesc& d : descs) {
    LB_ASSIGN_OR_RETURN(
        std::string qname,
        JsonQuote(d.name, path,
                  "tensor name '" + Printable(d.name, true) + "'"));
    const std::string where = "tensor " + Quote(d.name) + ": ";
    if (d.name == "__metadata__") {
      return invalid("'__metadata__' is reserved and cannot name a tensor");
    }
    if (!names.insert(d.name).second) {
      return invalid("duplicate tensor name " + Quote(d.name));
    }
    const std::string_view st_name = SafetensorsDTypeName(d.dtype);
    if (st_name.empty()) {
      return invalid(where + "dtype " + std::string(DTypeName(d.dtype)) +
                     " has no safetensors name");
    }
    Result<uint64_t> nbytes = DenseBytes(d.dtype, d.shape);
    if (!nbytes.ok()) return invalid(where + nbytes.status().message());
    if (*nbytes > std::numeric_limits<uint64_t>::max() - offset) {
      return invalid(where + "total data size overflows 64 bits");
    }
    if (header.size() > 1) header += ",";
    header +=
        qname + ":{\"dtype\":\"" + std::string(st_name) + "\",\"shape\":[";
    for (size_t i = 0; i < d.shape.size(); ++i) {
      if (i) header += ",";
      header += std::to_string(d.shape[i]);
    }
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," +
              std::to_string(offset + *nbytes) + "]}";
    offset += *nbytes;
    items.push_back({d.name, *nbytes,
                     "dtype " + std::string(st_name) + " and shape " +
                         ShapeString(d.shape) + " need"});
  }
  header += "}";
  // 8 (length prefix) + header is a multiple of 8 when the header is.
  header.append((8 - header.size() % 8) % 8, ' ');
  if (header.size() > kSafetensorsMaxHeaderBytes) {
    return invalid("header would be " + std::to_string(header.size()) +
                   " bytes, over the limit of " +
                   std::to_string(kSafetensorsMaxHeaderBytes));
  }

  w->seq_.Init(std::move(items));
  LB_ASSIGN_OR_RETURN(w->out_, OutputFile::Create(path));
  uint8_t prefix[8];
  WriteLe64(header.size(), prefix);
  LB_RETURN_IF_ERROR(w->out_->Write(prefix, sizeof(prefix)));
  LB_RETURN_IF_ERROR(w->out_->Write(header.data(), header.size()));
  return w;
}

Status SafetensorsWriter::Write(std::string_view name, const void* data,
                                size_t nbytes) {
  LB_RETURN_IF_ERROR(seq_.Check(out_->path(), name, data, nbytes));
  const Status st = out_->Write(data, nbytes);
  seq_.Wrote(st.ok());
  return st;
}

Status SafetensorsWriter::Commit() {
  LB_RETURN_IF_ERROR(seq_.CheckCommit(out_->path()));
  const Status st = out_->Commit();
  seq_.Committed(st.ok());
  return st;
}

}  // namespace lowbit
