#include "kernels/linalg.h"

#include <cblas-openblas.h>

#include <string>

extern "C" {
void spotrf_(const char* uplo, const int* n, float* a, const int* lda,
             int* info);
void spotri_(const char* uplo, const int* n, float* a, const int* lda,
             int* info);
}

namespace lowbit {
namespace {
// One OpenBLAS thread: lowbit splits work over its own pool (the engine's
// session does the same for its products).
void SingleThreaded() {
  static const bool once = [] {
    openblas_set_num_threads(1);
    return true;
  }();
  (void)once;
}
}  // namespace

void AccumulateGram(const float* x, int64_t rows, int64_t k, float* h) {
  if (rows <= 0 || k <= 0) return;
  SingleThreaded();
  cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, static_cast<int>(k),
              static_cast<int>(rows), 1.0f, x, static_cast<int>(k), 1.0f, h,
              static_cast<int>(k));
}

void AccumulateGramRows(const float* c, int64_t k, int64_t n, int64_t ldc,
                        float* h) {
  if (n <= 0 || k <= 0) return;
  SingleThreaded();
  cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, static_cast<int>(k),
              static_cast<int>(n), 1.0f, c, static_cast<int>(ldc), 1.0f, h,
              static_cast<int>(k));
}

void SymmetrizeFromUpper(float* h, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = i + 1; j < n; ++j) h[j * n + i] = h[i * n + j];
  }
}

Status UpperCholeskyOfInverse(float* h, int64_t n) {
  if (n <= 0) return Status::Ok();
  SingleThreaded();
  // A symmetric matrix reads the same in row- and column-major order; LAPACK
  // sees column-major. 'L': h = L L^T, then h^-1 from L (its lower triangle).
  const int nn = static_cast<int>(n);
  int info = 0;
  spotrf_("L", &nn, h, &nn, &info);
  if (info > 0) {
    return InvalidArgument("the matrix is not positive definite (pivot " +
                           std::to_string(info) + " of " + std::to_string(n) +
                           ")");
  }
  spotri_("L", &nn, h, &nn, &info);
  if (info > 0) {
    return InvalidArgument("the matrix is singular (pivot " +
                           std::to_string(info) + ")");
  }
  // The inverse is in the column-major lower triangle (h[i + j n], i > j):
  // mirror it onto the upper one.
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t i = j + 1; i < n; ++i) h[j + i * n] = h[i + j * n];
  }
  // h^-1 = U^T U with U upper in column-major: U(i, j) at h[i + j n].
  spotrf_("U", &nn, h, &nn, &info);
  if (info > 0) {
    return InvalidArgument("the inverse is not positive definite (pivot " +
                           std::to_string(info) + ")");
  }
  // In row-major order U(i, j) sits at h[j n + i] (the lower triangle):
  // move it to h[i n + j] and clear the lower triangle.
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = i + 1; j < n; ++j) {
      h[i * n + j] = h[j * n + i];
      h[j * n + i] = 0.0f;
    }
  }
  return Status::Ok();
}

}  // namespace lowbit
