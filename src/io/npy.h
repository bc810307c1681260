// NumPy .npy files (format versions 1.0, 2.0 and 3.0): the inputs and
// outputs of `lowbit run`. Little-endian numeric dtypes and bool, C order.
// Every header field and size is checked: a hostile file is refused with its
// path and what is wrong, never read past its end.
#pragma once

#include <string>

#include "core/status.h"
#include "graph/tensor.h"

namespace lowbit {

// Parses .npy bytes (`path` names the file in messages).
Result<graph::Tensor> ParseNpy(const uint8_t* data, size_t size,
                               const std::string& path);
Result<graph::Tensor> ReadNpy(const std::string& path);
// Writes version 1.0 (2.0 when the header needs it) through a temporary file
// and a rename.
Status WriteNpy(const std::string& path, const graph::Tensor& t);
// The .npy bytes of t.
std::string NpyBytes(const graph::Tensor& t);

}  // namespace lowbit
