// Dense symmetric linear algebra for calibration-aware quantization
// (quant/gptq.h, graph/calib_stats.h), on OpenBLAS's BLAS and LAPACK (single
// threaded: the engine sets OpenBLAS to one thread and splits work itself).
// Matrices are row-major float arrays.
#pragma once

#include <cstdint>

#include "core/status.h"

namespace lowbit {

// h[k x k] += x^T x for x [rows x k]: the upper triangle (j >= i) only.
void AccumulateGram(const float* x, int64_t rows, int64_t k, float* h);

// h[k x k] += c c^T for c [k x n] with row stride ldc: the upper triangle.
void AccumulateGramRows(const float* c, int64_t k, int64_t n, int64_t ldc,
                        float* h);

// Copies the upper triangle of h [n x n] onto the lower one.
void SymmetrizeFromUpper(float* h, int64_t n);

// For a symmetric positive definite h [n x n] (both triangles set): replaces
// it with the upper Cholesky factor U of its inverse, h^-1 = U^T U (row i of
// U holds U(i, j) for j >= i; zeros below the diagonal). This is GPTQ's
// factor (arXiv 2210.17323, section 4). InvalidArgument when h is not
// positive definite (the pivot that failed is named).
Status UpperCholeskyOfInverse(float* h, int64_t n);

}  // namespace lowbit
