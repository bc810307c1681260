// MappedFile: a read-only mmap of a whole file; views into it stay valid while
// it lives. OutputFile: writes to "<path>.tmp-<pid>" and renames onto <path>
// only on Commit(), so a failed run never leaves a partial output behind. A
// process killed mid-write leaves its temporary: the next OutputFile for the
// same path removes the temporaries of processes that no longer exist.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>

#include "core/status.h"

namespace lowbit {

class MappedFile {
 public:
  // Maps `path` read-only. Empty files map to an empty span.
  static Result<std::unique_ptr<MappedFile>> Open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }

  // Copies the n bytes at p (a pointer into bytes()) to dst with pread, without
  // touching the mapping: for data read once, about 3x faster than reading the
  // mapped pages (no page-table work per 4 KiB) and nothing stays resident.
  // InvalidArgument when the range is not inside the file; IoError naming the
  // file when the read fails.
  Status CopyOut(const uint8_t* p, uint64_t n, void* dst) const;

 private:
  MappedFile() = default;
  int fd_ = -1;
  std::string path_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

// Drops the whole pages inside [data, data + n) of a read-only file mapping
// from the process's resident set (madvise MADV_DONTNEED); later reads fault
// them back in.
void DropPages(const uint8_t* data, uint64_t n);

class OutputFile {
 public:
  // Creates the temporary file beside `path`.
  static Result<std::unique_ptr<OutputFile>> Create(const std::string& path);
  // Removes the temporary file unless Commit() succeeded.
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  Status Write(const void* data, size_t n);
  Status WriteZeros(size_t n);
  uint64_t position() const { return pos_; }
  // Flushes, closes and renames the temporary file onto the final path.
  Status Commit();
  const std::string& path() const { return path_; }

 private:
  OutputFile() = default;
  std::string path_;
  std::string tmp_path_;
  std::FILE* f_ = nullptr;
  uint64_t pos_ = 0;
  bool committed_ = false;
};

}  // namespace lowbit
