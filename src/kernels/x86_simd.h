// LOWBIT_X86_SIMD_TARGET: true inside a Highway target that runs real x86 SIMD
// instructions (SSSE3 and up), false for HWY_SCALAR and HWY_EMU128, which
// Highway compiles on x86 too (with clang) but implements portably. Code that
// relies on an x86 instruction's exact behaviour behind a Highway op (pmaddwd
// filling only the first accumulator of ReorderWidenMulAccumulate; minps and
// maxps returning the second operand on NaN) must test this, not
// HWY_ARCH_X86. Evaluated where it is used, so per target.
#pragma once

#include <hwy/detect_targets.h>

#define LOWBIT_X86_SIMD_TARGET (HWY_ARCH_X86 && HWY_TARGET <= HWY_SSSE3)
