#include "io/tensor_sequence.h"

#include <algorithm>

namespace lowbit {

std::string QuoteName(std::string_view s) {
  constexpr size_t kMaxQuoted = 200;
  static const char kHex[] = "0123456789abcdef";
  std::string out = "'";
  const size_t n = std::min(s.size(), kMaxQuoted);
  for (size_t k = 0; k < n; ++k) {
    const auto c = static_cast<unsigned char>(s[k]);
    if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > n) out += "...";
  return out + "'";
}

Status TensorSequence::CheckNext(const std::string& path,
                                 std::string_view name) const {
  if (committed_) return InvalidArgument(path + ": Write after Commit");
  if (failed_) return IoError(path + ": an earlier write failed");
  if (next_ >= items_.size()) {
    return InvalidArgument(path + ": unexpected tensor " + QuoteName(name) +
                           "; all " + std::to_string(items_.size()) +
                           " tensors are already written");
  }
  if (name != items_[next_].name) {
    return InvalidArgument(path + ": expected tensor " +
                           QuoteName(items_[next_].name) + " next but got " +
                           QuoteName(name));
  }
  return Status::Ok();
}

Status TensorSequence::Check(const std::string& path, std::string_view name,
                             const void* data, size_t nbytes) const {
  LB_RETURN_IF_ERROR(CheckNext(path, name));
  const Item& it = items_[next_];
  if (part_ > 0) {
    return InvalidArgument(path + ": tensor " + QuoteName(it.name) +
                           " was begun in parts; write its remaining " +
                           std::to_string(it.nbytes - part_) + " bytes");
  }
  if (nbytes != it.nbytes) {
    return InvalidArgument(path + ": tensor " + QuoteName(it.name) + ": " +
                           it.what + " " + std::to_string(it.nbytes) +
                           " bytes but got " + std::to_string(nbytes));
  }
  if (nbytes > 0 && data == nullptr) {
    return InvalidArgument(path + ": tensor " + QuoteName(it.name) +
                           ": null data");
  }
  return Status::Ok();
}

Status TensorSequence::CheckPart(const std::string& path, std::string_view name,
                                 const void* data, size_t nbytes) const {
  LB_RETURN_IF_ERROR(CheckNext(path, name));
  const Item& it = items_[next_];
  if (nbytes > it.nbytes - part_) {
    return InvalidArgument(path + ": tensor " + QuoteName(it.name) + ": " +
                           it.what + " " + std::to_string(it.nbytes) +
                           " bytes but the parts written reach " +
                           std::to_string(part_ + nbytes));
  }
  if (nbytes > 0 && data == nullptr) {
    return InvalidArgument(path + ": tensor " + QuoteName(it.name) +
                           ": null data");
  }
  return Status::Ok();
}

bool TensorSequence::WrotePart(bool ok, size_t nbytes) {
  if (!ok) {
    failed_ = true;
    return false;
  }
  part_ += nbytes;
  if (part_ < items_[next_].nbytes) return false;
  part_ = 0;
  ++next_;
  return true;
}

Status TensorSequence::CheckCommit(const std::string& path) const {
  if (committed_) return InvalidArgument(path + ": already committed");
  if (failed_) return IoError(path + ": an earlier write failed");
  if (next_ < items_.size()) {
    if (part_ > 0) {
      return InvalidArgument(
          path + ": tensor " + QuoteName(items_[next_].name) +
          " is incomplete: " + std::to_string(part_) + " of " +
          std::to_string(items_[next_].nbytes) + " bytes written");
    }
    return InvalidArgument(path + ": only " + std::to_string(next_) + " of " +
                           std::to_string(items_.size()) +
                           " tensors were written (next is " +
                           QuoteName(items_[next_].name) + ")");
  }
  return Status::Ok();
}

}  // namespace lowbit
