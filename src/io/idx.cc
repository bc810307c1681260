#include "io/idx.h"

#include <zlib.h>

#include <algorithm>
#include <fstream>
#include <iterator>

namespace lowbit {
namespace {

uint32_t BigEndian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
         (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace

Result<IdxArray> ParseIdx(const uint8_t* data, size_t size,
                          const std::string& path) {
  auto bad = [&](const std::string& m) {
    return BadInput(path + ": not an IDX file of unsigned bytes: " + m);
  };
  if (size < 4) return bad("shorter than its 4-byte magic");
  if (data[0] != 0 || data[1] != 0)
    return bad("the magic does not start 00 00");
  if (data[2] != 0x08) {
    return bad("element type 0x" + std::to_string(data[2]) +
               " (only 0x08, unsigned bytes, is read)");
  }
  const int rank = data[3];
  if (rank < 1 || rank > 4) {
    return bad("rank " + std::to_string(rank) + " (1 to 4 are read)");
  }
  if (size < 4 + 4 * static_cast<size_t>(rank)) {
    return bad("the dimensions run past the end of the file");
  }
  IdxArray a;
  uint64_t count = 1;
  for (int d = 0; d < rank; ++d) {
    const uint32_t n = BigEndian32(data + 4 + 4 * d);
    a.dims.push_back(n);
    count *= n;
    if (count > kMaxIdxBytes) return bad("more than 1 GiB of elements");
  }
  const size_t header = 4 + 4 * static_cast<size_t>(rank);
  if (size - header != count) {
    return bad("the dimensions give " + std::to_string(count) +
               " elements, the file holds " + std::to_string(size - header) +
               " bytes after its header");
  }
  a.data.assign(data + header, data + size);
  return a;
}

Result<std::vector<uint8_t>> Gunzip(const uint8_t* data, size_t size,
                                    uint64_t max_bytes,
                                    const std::string& path) {
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
    return IoError(path + ": zlib could not start");
  }
  std::vector<uint8_t> out;
  z.next_in = const_cast<Bytef*>(data);
  z.avail_in = static_cast<uInt>(size);
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (out.size() >= max_bytes) {
      inflateEnd(&z);
      return BadInput(path + ": inflates to more than " +
                      std::to_string(max_bytes) + " bytes");
    }
    const size_t at = out.size();
    out.resize(std::min<uint64_t>(max_bytes, at + (size_t{1} << 20) + at / 2));
    z.next_out = out.data() + at;
    z.avail_out = static_cast<uInt>(out.size() - at);
    rc = inflate(&z, Z_NO_FLUSH);
    out.resize(out.size() - z.avail_out);
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK || (z.avail_in == 0 && z.avail_out != 0)) {
      inflateEnd(&z);
      return BadInput(path + ": a damaged or truncated gzip stream");
    }
  }
  inflateEnd(&z);
  return out;
}

Result<IdxArray> ReadIdx(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return IoError(path + ": cannot open");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)),
                             std::istreambuf_iterator<char>());
  if (bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b) {
    LB_ASSIGN_OR_RETURN(bytes,
                        Gunzip(bytes.data(), bytes.size(), kMaxIdxBytes, path));
  }
  return ParseIdx(bytes.data(), bytes.size(), path);
}

}  // namespace lowbit
