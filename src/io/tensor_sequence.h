// TensorSequence: the bookkeeping the streaming writers (safetensors, GGUF)
// share. Tensors arrive one after another, in the declared order, each with
// exactly its declared byte count; a failed write poisons the rest, and Commit
// needs every tensor.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace lowbit {

// `s` in single quotes, control bytes as \xNN, cut after 200 bytes: safe in a
// one-line message.
std::string QuoteName(std::string_view s);

class TensorSequence {
 public:
  struct Item {
    std::string name;
    uint64_t nbytes = 0;
    std::string what;  // what fixes the size, with its verb: "type q4_K needs"
  };

  void Init(std::vector<Item> items) { items_ = std::move(items); }

  // Checks a write of `name` (InvalidArgument naming `path` for the wrong
  // tensor, size, null data, or a write after Commit; IoError after a failed
  // write). On success the caller writes the bytes and reports with Wrote().
  Status Check(const std::string& path, std::string_view name, const void* data,
               size_t nbytes) const;
  void Wrote(bool ok) {
    if (ok) {
      ++next_;
    } else {
      failed_ = true;
    }
  }
  // Checks a write of the next `nbytes` of tensor `name` (its first part, or
  // the continuation of the tensor begun by earlier parts): the same errors as
  // Check, and InvalidArgument when the parts would pass the tensor's size.
  // On success the caller writes the bytes and reports with WrotePart(), which
  // returns true when the tensor is complete.
  Status CheckPart(const std::string& path, std::string_view name,
                   const void* data, size_t nbytes) const;
  bool WrotePart(bool ok, size_t nbytes);
  // True while a tensor written in parts is incomplete.
  bool InPart() const { return part_ > 0; }
  // Checks that Commit may happen: every tensor written, none failed, not yet
  // committed.
  Status CheckCommit(const std::string& path) const;
  void Committed(bool ok) {
    if (ok) {
      committed_ = true;
    } else {
      failed_ = true;
    }
  }

 private:
  // The checks every write shares: not committed, not failed, `name` next.
  Status CheckNext(const std::string& path, std::string_view name) const;
  std::vector<Item> items_;
  size_t next_ = 0;
  uint64_t part_ = 0;  // bytes of items_[next_] written so far, in parts
  bool failed_ = false;
  bool committed_ = false;
};

}  // namespace lowbit
