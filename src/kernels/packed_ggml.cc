// PackGgml (kernels/packed.h): ggml's q4_0 blocks into lowbit's int4 layout
// (exact: the same codes and scales), then Pack.
#include <cstring>

#include "core/half.h"
#include "formats/ggml/blocks.h"
#include "formats/ggml/ggml_type.h"
#include "formats/scheme.h"
#include "kernels/packed.h"

namespace lowbit {

Result<PackedMatrix> PackGgml(int ggml_type, const uint8_t* data, int64_t rows,
                              int64_t cols) {
  const GgmlType t = static_cast<GgmlType>(ggml_type);
  if (t != GgmlType::kQ4_0) {
    return InvalidArgument("PackGgml: only q4_0 is packed so far");
  }
  if (cols % 32 != 0 || rows < 1 || cols >= (int64_t{1} << 16)) {
    return InvalidArgument(
        "PackGgml: q4_0 needs whole blocks of 32 per row and fewer than "
        "65536 columns");
  }
  QuantizedTensor q;
  q.scheme = *ParseScheme("int4");
  q.granularity = Granularity::kGroup;
  q.group_size = 32;
  q.symmetric = true;  // ggml's q - 8 is lowbit's code - 2^(bits - 1)
  q.rows = rows;
  q.cols = cols;
  q.shape = Shape{rows, cols};
  const int64_t blocks = cols / 32;
  q.codes.resize(static_cast<size_t>(rows * cols / 2));
  q.scales.resize(static_cast<size_t>(rows * blocks));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < blocks; ++b) {
      BlockQ4_0 blk;
      std::memcpy(&blk, data + (r * blocks + b) * sizeof(BlockQ4_0),
                  sizeof(blk));
      q.scales[r * blocks + b] = F16ToF32(blk.d);
      uint8_t e[32];
      for (int j = 0; j < 16; ++j) {
        e[j] = blk.qs[j] & 15;
        e[j + 16] = blk.qs[j] >> 4;
      }
      uint8_t* out = q.codes.data() + r * cols / 2 + b * 16;
      for (int j = 0; j < 16; ++j)
        out[j] = static_cast<uint8_t>(e[2 * j] | (e[2 * j + 1] << 4));
    }
  }
  return Pack(q);
}

}  // namespace lowbit
