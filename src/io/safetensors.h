// Safetensors reading (zero-copy over an mmap, validating a possibly hostile
// file) and streaming writing (one tensor in memory at a time, atomic rename on
// Commit).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/mapped_file.h"
#include "core/status.h"
#include "core/tensor.h"
#include "io/tensor_sequence.h"

namespace lowbit {

// Header lengths above this are rejected as absurd (the reference
// implementation uses the same limit).
inline constexpr uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;

// One tensor of an open file. `data` points into the file's mapping (no
// alignment is guaranteed) and stays valid while the SafetensorsFile lives.
struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;
  uint64_t offset = 0;  // absolute file offset of the first byte
  uint64_t nbytes = 0;
  const uint8_t* data = nullptr;
};

class SafetensorsFile {
 public:
  // Maps and validates `path`. Any malformation (truncation, bad JSON, unknown
  // dtype, sizes that disagree, out-of-range or overlapping data, duplicate
  // names, non-string metadata) yields BadInput with a one-line "PATH: what is
  // wrong" message; failure to open or map the file yields IoError. Gaps
  // between tensors and unknown fields in an entry are accepted; shapes are
  // limited to 64 dimensions and the JSON to 64 levels.
  static Result<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);

  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  // The path given to Open().
  const std::string& path() const { return file_->path(); }
  // All tensors, in file data order (ascending offset, ties broken by name).
  const std::vector<SafetensorsEntry>& tensors() const { return tensors_; }
  // The tensor called `name`, or nullptr if there is none.
  const SafetensorsEntry* Find(std::string_view name) const;
  // The "__metadata__" object (empty when the header has none).
  const std::map<std::string, std::string>& metadata() const {
    return metadata_;
  }
  // Total size of the file in bytes.
  uint64_t file_size() const { return file_->size(); }

 private:
  SafetensorsFile() = default;

  std::unique_ptr<MappedFile> file_;
  std::vector<SafetensorsEntry> tensors_;
  std::map<std::string, size_t, std::less<>> index_;  // name -> tensors_ index
  std::map<std::string, std::string> metadata_;
};

// What the writer is told about a tensor before its bytes arrive.
struct TensorDesc {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;
};

class SafetensorsWriter {
 public:
  // Validates `descs` (unique, valid UTF-8 names other than "__metadata__";
  // dtypes that have a safetensors name; non-negative dims whose byte size fits
  // in 64 bits; else InvalidArgument), then creates a temporary file beside
  // `path` and writes the header, space-padded so the data buffer starts at a
  // file offset that is a multiple of 8. Tensor data is laid out contiguously
  // in `descs` order. Metadata is written as
  // "__metadata__" when non-empty.
  static Result<std::unique_ptr<SafetensorsWriter>> Create(
      const std::string& path, std::vector<TensorDesc> descs,
      const std::map<std::string, std::string>& metadata);

  // Removes the temporary file unless Commit() succeeded.
  ~SafetensorsWriter() = default;
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  // Appends the bytes of the next tensor. `name` must be the next desc's name
  // and `nbytes` exactly what its dtype and shape need, else InvalidArgument
  // (and nothing is written, so the call may be retried). A write failure
  // (IoError) makes every later call fail.
  Status Write(std::string_view name, const void* data, size_t nbytes);

  // Checks that every tensor was written (else InvalidArgument), then flushes
  // and renames the temporary file onto the final path.
  Status Commit();

  // The final path given to Create().
  const std::string& path() const { return out_->path(); }

 private:
  SafetensorsWriter() = default;

  std::unique_ptr<OutputFile> out_;
  TensorSequence seq_;
};

}  // namespace lowbit
