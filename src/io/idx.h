// IDX files (the MNIST format, as Debian's dataset-fashion-mnist ships them,
// gzip-compressed or not): a big-endian magic 0x00 0x00 TYPE RANK (TYPE 0x08:
// unsigned bytes, the only type read here), RANK big-endian uint32
// dimensions, then the elements. Every field and size is checked: a hostile
// file is refused with its path and what is wrong, never read past its end,
// and a gzip stream may not inflate past kMaxIdxBytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace lowbit {

constexpr uint64_t kMaxIdxBytes = uint64_t{1} << 30;

struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;  // prod(dims) bytes, row-major
};

// An uncompressed IDX image of `size` bytes (`path` names it in messages).
Result<IdxArray> ParseIdx(const uint8_t* data, size_t size,
                          const std::string& path);
// The file at path: gzip (by its magic bytes) or raw.
Result<IdxArray> ReadIdx(const std::string& path);
// Inflates gzip bytes, refusing more than max_bytes of output.
Result<std::vector<uint8_t>> Gunzip(const uint8_t* data, size_t size,
                                    uint64_t max_bytes,
                                    const std::string& path);

}  // namespace lowbit
