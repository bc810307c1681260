// ScopedTarget: restricts Highway's dispatch to one target for the enclosing
// block and restores every supported target when the block ends, also when a
// failed ASSERT returns from the test early (so later tests never run on a
// leftover single target).
#pragma once

#include <hwy/targets.h>

#include <cstdint>

namespace lowbit::test_support {

class ScopedTarget {
 public:
  explicit ScopedTarget(int64_t target) {
    hwy::SetSupportedTargetsForTest(target);
  }
  ~ScopedTarget() { hwy::SetSupportedTargetsForTest(0); }
  ScopedTarget(const ScopedTarget&) = delete;
  ScopedTarget& operator=(const ScopedTarget&) = delete;
};

}  // namespace lowbit::test_support
