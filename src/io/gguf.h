// GGUF (versions 2 and 3, little-endian) reading, zero-copy over an mmap and
// validating a possibly hostile file, and streaming writing (version 3, one
// tensor in memory at a time, atomic rename on Commit).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/mapped_file.h"
#include "core/status.h"
#include "formats/ggml/ggml_type.h"
#include "io/tensor_sequence.h"

namespace lowbit {

inline constexpr uint64_t kGgufDefaultAlignment = 32;
// ggml keeps at most 4 dimensions per tensor.
inline constexpr uint32_t kGgufMaxDims = 4;
// ggml's GGML_MAX_NAME is 64 including the terminating NUL.
inline constexpr size_t kGgufMaxTensorNameBytes = 63;
// Arrays may hold arrays; deeper nesting than this is rejected.
inline constexpr int kGgufMaxArrayDepth = 8;
// Array elements in all metadata together; more is rejected as absurd. A
// 256k-token vocabulary with scores, types and merges is about 1M, and each
// element costs sizeof(GgufValue) (~100 bytes) in memory.
inline constexpr uint64_t kGgufMaxArrayElements = uint64_t{1} << 22;
// Longest single string accepted.
inline constexpr uint64_t kGgufMaxStringBytes = uint64_t{1} << 30;

// The metadata value types, with GGUF's numeric ids.
enum class GgufType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};

// True for the 13 ids above.
bool IsValidGgufType(uint32_t id);
// The spec's name: "UINT8", "FLOAT32", "ARRAY", ...; "type N" for unknown ids.
std::string GgufTypeName(uint32_t id);
inline std::string GgufTypeName(GgufType t) {
  return GgufTypeName(static_cast<uint32_t>(t));
}

// One metadata value. Exactly one storage field is meaningful, chosen by
// `type`: `u` for kU8/kU16/kU32/kU64 (all of u64's range), `i` for
// kI8/kI16/kI32/kI64, `f32` for kF32 (bits as stored), `f64` for kF64, `b`
// for kBool, `s` for kString (raw bytes, not checked to be UTF-8), and
// `elem_type` + `array` for kArray (every element has type `elem_type`;
// elements may themselves be arrays). Narrow integers hold values in their
// type's range; the writer rejects values that do not fit.
struct GgufValue {
  GgufType type = GgufType::kU8;
  GgufType elem_type = GgufType::kU8;
  float f32 = 0;
  bool b = false;
  uint64_t u = 0;
  int64_t i = 0;
  double f64 = 0;
  std::string s;
  std::vector<GgufValue> array;

  static GgufValue U8(uint8_t v) { return Unsigned(GgufType::kU8, v); }
  static GgufValue U16(uint16_t v) { return Unsigned(GgufType::kU16, v); }
  static GgufValue U32(uint32_t v) { return Unsigned(GgufType::kU32, v); }
  static GgufValue U64(uint64_t v) { return Unsigned(GgufType::kU64, v); }
  static GgufValue I8(int8_t v) { return Signed(GgufType::kI8, v); }
  static GgufValue I16(int16_t v) { return Signed(GgufType::kI16, v); }
  static GgufValue I32(int32_t v) { return Signed(GgufType::kI32, v); }
  static GgufValue I64(int64_t v) { return Signed(GgufType::kI64, v); }
  static GgufValue F32(float v);
  static GgufValue F64(double v);
  static GgufValue Bool(bool v);
  static GgufValue String(std::string v);
  static GgufValue Array(GgufType elem_type, std::vector<GgufValue> elems);

  // Exact equality of the meaningful fields; floats compare by bit pattern
  // (so NaN equals the same NaN, and 0.0 differs from -0.0).
  bool operator==(const GgufValue& o) const;

  // A short human-readable rendering for messages and dumps: 250, -1.5,
  // 'text', [1, 2, 3] (long arrays and strings are cut).
  std::string DebugString() const;

 private:
  static GgufValue Unsigned(GgufType t, uint64_t v);
  static GgufValue Signed(GgufType t, int64_t v);
};

struct GgufKV {
  std::string key;
  GgufValue value;
  bool operator==(const GgufKV& o) const = default;
};

// One tensor of an open file. `data` points into the file's mapping (aligned
// to the file's alignment relative to the file start) and stays valid while
// the GgufFile lives.
struct GgufTensorInfo {
  std::string name;
  std::vector<uint64_t> ne;  // n_dims entries as stored; ne[0] is fastest
  uint32_t ggml_type = 0;    // see GgmlType
  uint64_t offset = 0;       // relative to the data section start
  uint64_t nbytes = 0;
  const uint8_t* data = nullptr;
};

class GgufFile {
 public:
  // Maps and validates `path`. Any malformation (bad magic, big-endian or
  // unsupported version, truncation, counts or lengths larger than the
  // remaining bytes could hold, unknown value or ggml types, arrays nested
  // deeper than kGgufMaxArrayDepth or holding more than kGgufMaxArrayElements
  // elements in total, bool bytes other than 0/1, empty or duplicate keys, a
  // general.alignment that is not a UINT32 power of two, n_dims outside
  // [1, 4], element counts or sizes overflowing 63 bits, ne[0] not a multiple
  // of the block size, misaligned offsets, data past the end of the file,
  // overlapping tensor data, duplicate tensor names) yields BadInput with a
  // one-line "PATH: what is wrong" message; failure to open or map the file
  // yields IoError. Gaps between tensors, non-zero padding and tensor names
  // longer than ggml's limit are accepted.
  static Result<std::unique_ptr<GgufFile>> Open(const std::string& path);

  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  // 2 or 3.
  uint32_t version() const { return version_; }
  // All metadata, in file order.
  const std::vector<GgufKV>& kvs() const { return kvs_; }
  // The value of `key`, or nullptr if there is none.
  const GgufValue* Find(std::string_view key) const;
  // All tensors, in file (tensor-info) order.
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  // The tensor called `name`, or nullptr if there is none.
  const GgufTensorInfo* FindTensor(std::string_view name) const;
  // general.alignment, or 32 when the file does not set it.
  uint64_t alignment() const { return alignment_; }
  // Absolute file offset of the data section: the first multiple of the
  // alignment at or after the end of the tensor infos.
  uint64_t data_offset() const { return data_offset_; }
  // The path given to Open().
  const std::string& path() const { return file_->path(); }
  // Total size of the file in bytes.
  uint64_t file_size() const { return file_->size(); }
  // The mapping the tensors' data points into (MappedFile::CopyOut reads a
  // range of it without touching its pages).
  const MappedFile& mapped() const { return *file_; }

 private:
  friend class GgufParser;
  GgufFile() = default;

  std::unique_ptr<MappedFile> file_;
  uint32_t version_ = 0;
  std::vector<GgufKV> kvs_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> kv_index_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
  uint64_t alignment_ = kGgufDefaultAlignment;
  uint64_t data_offset_ = 0;
};

// What the writer is told about a tensor before its bytes arrive.
struct GgufTensorDesc {
  std::string name;
  // ne[0] fastest; written as n_dims = ne.size() (ggml itself drops trailing
  // 1s, so pass ne that way to match its files byte for byte).
  std::vector<uint64_t> ne;
  uint32_t ggml_type = 0;
};

class GgufWriter {
 public:
  // Validates everything (else InvalidArgument "PATH: ..."): keys non-empty
  // and unique; values well-formed (known types, array elements of the
  // declared element type, narrow integers in range, bool/string/array
  // nesting up to kGgufMaxArrayDepth); tensor names unique and at most
  // kGgufMaxTensorNameBytes bytes; 1 to 4 dimensions; a known ggml type;
  // ne[0] a multiple of its block size; sizes that fit in 63 bits.
  //
  // The alignment is general.alignment when `kvs` holds it (it must be a
  // UINT32 power of two, and `alignment` must be 32 or the same value), else
  // `alignment` (a power of two that fits in 32 bits), which is then appended
  // to the metadata as general.alignment unless it is 32. Tensors are laid out
  // in `tensors` order, each at the next multiple of the alignment.
  //
  // Then creates a temporary file beside `path` and writes the version 3
  // header (magic, counts, metadata in `kvs` order, tensor infos), zero-padded
  // to the alignment.
  static Result<std::unique_ptr<GgufWriter>> Create(
      const std::string& path, std::vector<GgufKV> kvs,
      std::vector<GgufTensorDesc> tensors,
      uint64_t alignment = kGgufDefaultAlignment);

  // Removes the temporary file unless Commit() succeeded.
  ~GgufWriter() = default;
  GgufWriter(const GgufWriter&) = delete;
  GgufWriter& operator=(const GgufWriter&) = delete;

  // Appends the bytes of the next tensor, then zero padding up to the
  // alignment. `name` must be the next desc's name and `nbytes` exactly what
  // its type and ne need, else InvalidArgument (and nothing is written, so the
  // call may be retried). A write failure (IoError) makes every later call
  // fail.
  Status Write(std::string_view name, const void* data, size_t nbytes);

  // Appends the next `nbytes` of tensor `name`, which may arrive in any number
  // of parts (a quantizer streaming rows); the padding follows its last byte.
  // Errors as for Write, and InvalidArgument when the parts would pass the
  // tensor's size; Write and Commit refuse while a tensor is incomplete.
  Status WritePart(std::string_view name, const void* data, size_t nbytes);

  // Checks that every tensor was written (else InvalidArgument), then flushes
  // and renames the temporary file onto the final path.
  Status Commit();

  // The final path given to Create().
  const std::string& path() const { return out_->path(); }
  // The alignment in use and the absolute offset of the data section.
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }

 private:
  GgufWriter() = default;

  std::unique_ptr<OutputFile> out_;
  TensorSequence seq_;
  uint64_t alignment_ = kGgufDefaultAlignment;
  uint64_t data_offset_ = 0;
};

}  // namespace lowbit
