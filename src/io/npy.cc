#include "io/npy.h"

#include <charconv>
#include <cstring>

#include "core/mapped_file.h"

namespace lowbit {
namespace {

struct NpyType {
  const char* descr;
  DType dtype;
};
constexpr NpyType kTypes[] = {
    {"<f4", DType::kF32}, {"<f8", DType::kF64}, {"<f2", DType::kF16},
    {"<i8", DType::kI64}, {"<i4", DType::kI32}, {"<i2", DType::kI16},
    {"|i1", DType::kI8},  {"<u8", DType::kU64}, {"<u4", DType::kU32},
    {"<u2", DType::kU16}, {"|u1", DType::kU8},  {"|b1", DType::kBool}};

// The value of 'key' in the header dict: the text after "'key':" up to the
// matching end (a quoted string, a tuple, or a word).
Result<std::string> Field(const std::string& h, const std::string& key,
                          const std::string& path) {
  const std::string k = "'" + key + "'";
  size_t p = h.find(k);
  if (p == std::string::npos) {
    return BadInput(path + ": .npy header has no " + k);
  }
  p = h.find(':', p + k.size());
  if (p == std::string::npos)
    return BadInput(path + ": .npy header is malformed");
  ++p;
  while (p < h.size() && h[p] == ' ') ++p;
  if (p >= h.size()) return BadInput(path + ": .npy header is malformed");
  size_t e = p;
  if (h[p] == '\'') {
    e = h.find('\'', p + 1);
    if (e == std::string::npos)
      return BadInput(path + ": .npy header is malformed");
    return h.substr(p + 1, e - p - 1);
  }
  if (h[p] == '(') {
    e = h.find(')', p);
    if (e == std::string::npos)
      return BadInput(path + ": .npy header is malformed");
    return h.substr(p, e - p + 1);
  }
  while (e < h.size() && h[e] != ',' && h[e] != '}') ++e;
  return h.substr(p, e - p);
}

}  // namespace

Result<graph::Tensor> ParseNpy(const uint8_t* data, size_t size,
                               const std::string& path) {
  static const char kMagic[] = "\x93NUMPY";
  if (size < 10 || std::memcmp(data, kMagic, 6) != 0) {
    return BadInput(path + ": not a .npy file (no \\x93NUMPY magic)");
  }
  const int major = data[6];
  size_t header_len = 0, start = 0;
  if (major == 1) {
    header_len = data[8] | (size_t{data[9]} << 8);
    start = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) return BadInput(path + ": truncated .npy header");
    header_len = data[8] | (size_t{data[9]} << 8) | (size_t{data[10]} << 16) |
                 (size_t{data[11]} << 24);
    start = 12;
  } else {
    return BadInput(path + ": .npy format version " + std::to_string(major) +
                    " (1, 2 or 3)");
  }
  if (header_len > size - start) {
    return BadInput(path + ": .npy header of " + std::to_string(header_len) +
                    " bytes passes the end of the file");
  }
  const std::string h(reinterpret_cast<const char*>(data + start), header_len);
  LB_ASSIGN_OR_RETURN(std::string descr, Field(h, "descr", path));
  LB_ASSIGN_OR_RETURN(std::string fortran, Field(h, "fortran_order", path));
  LB_ASSIGN_OR_RETURN(std::string shape_text, Field(h, "shape", path));
  if (fortran != "False") {
    return BadInput(path +
                    ": Fortran-ordered arrays are not supported (save "
                    "with np.ascontiguousarray)");
  }
  std::optional<DType> dt;
  for (const NpyType& t : kTypes) {
    if (descr == t.descr || (descr.size() == 3 && descr[0] == '=' &&
                             descr.substr(1) == std::string(t.descr + 1))) {
      dt = t.dtype;
    }
  }
  if (!dt) {
    return BadInput(path + ": .npy dtype '" + descr +
                    "' is not supported (little-endian numbers or bool)");
  }
  if (shape_text.size() < 2 || shape_text.front() != '(' ||
      shape_text.back() != ')') {
    return BadInput(path + ": .npy shape '" + shape_text + "' is malformed");
  }
  Shape shape;
  const char* p = shape_text.data() + 1;
  const char* end = shape_text.data() + shape_text.size() - 1;
  unsigned __int128 count = 1;
  bool nonzero_overflow = false;
  while (p < end) {
    while (p < end && (*p == ' ' || *p == ',')) ++p;
    if (p >= end) break;
    int64_t d = 0;
    auto [q, ec] = std::from_chars(p, end, d);
    if (ec != std::errc() || d < 0) {
      return BadInput(path + ": .npy shape '" + shape_text + "' is malformed");
    }
    shape.push_back(d);
    if (d > 0) {
      count *= static_cast<uint64_t>(d);
      if (count > (unsigned __int128)1 << 40) nonzero_overflow = true;
    }
    p = q;
    while (p < end && *p == ' ') ++p;
    if (p < end && *p != ',') {
      return BadInput(path + ": .npy shape '" + shape_text + "' is malformed");
    }
  }
  if (nonzero_overflow || shape.size() > 32) {
    return BadInput(path + ": .npy shape " + shape_text + " is too large");
  }
  const int64_t n = NumElements(shape);
  const uint64_t bytes = static_cast<uint64_t>(n) * graph::ElementBytes(*dt);
  const size_t data_at = start + header_len;
  if (bytes != size - data_at) {
    return BadInput(path + ": .npy data is " + std::to_string(size - data_at) +
                    " bytes but " + descr + " " + ShapeString(shape) +
                    " needs " + std::to_string(bytes));
  }
  graph::Tensor t = graph::Tensor::Zeros(*dt, shape);
  if (bytes > 0) std::memcpy(t.bytes(), data + data_at, bytes);
  if (*dt == DType::kBool) {
    for (int64_t i = 0; i < n; ++i) {
      if (t.bytes()[i] > 1)
        return BadInput(path + ": a bool value is not 0 or 1");
    }
  }
  return t;
}

Result<graph::Tensor> ReadNpy(const std::string& path) {
  LB_ASSIGN_OR_RETURN(auto f, MappedFile::Open(path));
  return ParseNpy(f->data(), f->size(), path);
}

std::string NpyBytes(const graph::Tensor& t) {
  const char* descr = "<f4";
  for (const NpyType& x : kTypes) {
    if (x.dtype == t.dtype()) descr = x.descr;
  }
  std::string shape = "(";
  for (int i = 0; i < t.rank(); ++i) {
    shape += std::to_string(t.dim(i)) + (t.rank() == 1      ? ","
                                         : i + 1 < t.rank() ? ", "
                                                            : "");
  }
  shape += ")";
  std::string h = std::string("{'descr': '") + descr +
                  "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad with spaces so that the data starts at a multiple of 64, then '\n'.
  const bool v2 = h.size() + 11 > 65535;
  const size_t pre = v2 ? 12 : 10;
  const size_t total = (pre + h.size() + 1 + 63) / 64 * 64;
  h.append(total - pre - h.size() - 1, ' ');
  h += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(v2 ? 2 : 1);
  out += '\0';
  const size_t len = h.size();
  out += static_cast<char>(len & 255);
  out += static_cast<char>((len >> 8) & 255);
  if (v2) {
    out += static_cast<char>((len >> 16) & 255);
    out += static_cast<char>((len >> 24) & 255);
  }
  out += h;
  out.append(reinterpret_cast<const char*>(t.bytes()),
             static_cast<size_t>(t.nbytes()));
  return out;
}

Status WriteNpy(const std::string& path, const graph::Tensor& t) {
  const std::string bytes = NpyBytes(t);
  LB_ASSIGN_OR_RETURN(auto f, OutputFile::Create(path));
  LB_RETURN_IF_ERROR(f->Write(bytes.data(), bytes.size()));
  return f->Commit();
}

}  // namespace lowbit
