// Helpers shared by the GGUF reader and writer (not part of the public API).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "io/gguf.h"
#include "io/tensor_sequence.h"

namespace lowbit::gguf_internal {

// Bytes of a scalar value of type `id` (1 for kBool); 0 for kString, kArray
// and unknown ids.
uint64_t ScalarBytes(uint32_t id);

// The fewest bytes a value of type `id` can occupy (8 for a string's length,
// 12 for an array's element type and count).
uint64_t MinValueBytes(uint32_t id);

// `s` in single quotes, safe for a one-line message: control bytes become
// \xNN and long strings are cut.
inline std::string Quote(std::string_view s) { return QuoteName(s); }

}  // namespace lowbit::gguf_internal
