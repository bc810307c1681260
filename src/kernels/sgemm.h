// Sgemm: the dense f32 product the engine's Conv, MatMul and Gemm use, row
// major: C = alpha op(A) op(B) + beta C. Through oneDNN's dnnl_sgemm (Debian's
// libdnnl): its JIT kernels use AVX-512 where the CPU has it, and measured
// twice OpenBLAS 0.3.21's rate on this project's machine (AMD EPYC Zen 4,
// where OpenBLAS runs its Haswell kernels): 205-211 against 98-101 GFLOP/s on
// the PaddleOCR shapes, one thread (docs/benchmarks.md). Single-threaded per
// call: the engine's pool calls it from its own threads.
#pragma once

#include <cstdint>

#include "core/thread_pool.h"

namespace lowbit {

void Sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
           float alpha, const float* a, int64_t lda, const float* b,
           int64_t ldb, float beta, float* c, int64_t ldc);

// The same product split over the pool: by rows of C when there are enough,
// else by columns; one Sgemm per chunk.
void SgemmParallel(ThreadPool& pool, bool trans_a, bool trans_b, int64_t m,
                   int64_t n, int64_t k, float alpha, const float* a,
                   int64_t lda, const float* b, int64_t ldb, float beta,
                   float* c, int64_t ldc);

}  // namespace lowbit
