// The target attribute of lowbit's hand-written AVX-512 VNNI code (inside
// Highway's AVX3_DL target). It names every feature the code uses, not only
// VNNI: clang replaces, rather than adds to, the enclosing target of a function
// (and of a lambda, which never inherits it) that carries its own attribute.
#pragma once

#define LOWBIT_TARGET_VNNI                                                \
  __attribute__((                                                         \
      target("avx2,bmi,bmi2,fma,f16c,avx512f,avx512vl,avx512dq,avx512bw," \
             "avx512vnni")))
