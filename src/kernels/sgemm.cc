#include "kernels/sgemm.h"

#include <oneapi/dnnl/dnnl.h>

#include <algorithm>

#include "core/status.h"

// oneDNN parallelizes a call with OpenMP, using the calling thread's
// thread-count setting: one per calling thread keeps every call on its thread.
extern "C" void omp_set_num_threads(int);

namespace lowbit {

void Sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
           float alpha, const float* a, int64_t lda, const float* b,
           int64_t ldb, float beta, float* c, int64_t ldc) {
  thread_local bool single = false;
  if (!single) {
    omp_set_num_threads(1);
    single = true;
  }
  const dnnl_status_t st =
      dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a,
                 lda, b, ldb, beta, c, ldc);
  LB_CHECK(st == dnnl_success && "dnnl_sgemm: invalid arguments");
}

void SgemmParallel(ThreadPool& pool, bool trans_a, bool trans_b, int64_t m,
                   int64_t n, int64_t k, float alpha, const float* a,
                   int64_t lda, const float* b, int64_t ldb, float beta,
                   float* c, int64_t ldc) {
  const int64_t t = pool.num_threads();
  if (t == 1 || m * n * k < (int64_t{1} << 20)) {
    return Sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c,
                 ldc);
  }
  if (m >= 32 * t) {  // rows of C: rows of op(A)
    const int64_t chunk = (m + 2 * t - 1) / (2 * t);
    pool.ParallelFor((m + chunk - 1) / chunk, 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t r0 = i * chunk, rows = std::min(chunk, m - r0);
        const float* ar = trans_a ? a + r0 : a + r0 * lda;
        Sgemm(trans_a, trans_b, rows, n, k, alpha, ar, lda, b, ldb, beta,
              c + r0 * ldc, ldc);
      }
    });
    return;
  }
  const int64_t chunk = ((n + 2 * t - 1) / (2 * t) + 15) / 16 * 16;
  pool.ParallelFor((n + chunk - 1) / chunk, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t c0 = i * chunk, cols = std::min(chunk, n - c0);
      const float* bc = trans_b ? b + c0 * ldb : b + c0;
      Sgemm(trans_a, trans_b, m, cols, k, alpha, a, lda, bc, ldb, beta, c + c0,
            ldc);
    }
  });
}

}  // namespace lowbit
