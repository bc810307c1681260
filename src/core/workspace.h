// Workspace: scratch memory that a kernel call borrows from its caller, so
// that repeated calls allocate nothing once the first has sized it (the
// engine keeps one per thread and node; a product called per token or per
// image reuses it).
//
// A bump arena: Take<T>(n) hands out 64-byte aligned arrays; a Scope gives
// back everything taken inside it when it ends. Memory is only allocated when
// a call needs more than the arena holds: a new block is appended (arrays
// already handed out never move), and at the end of the outermost Scope the
// blocks merge into one that holds the most ever taken at once, so that the
// next call of the same shape takes everything from one block without
// allocating.
//
// Not thread-safe: a kernel that runs on a pool takes every thread's or row's
// scratch before its parallel loop.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>
#include <vector>

namespace lowbit {

class Workspace {
 public:
  Workspace() = default;
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

  // n uninitialized elements of a trivial type, 64-byte aligned; valid until
  // the enclosing Scope ends.
  template <typename T>
  T* Take(int64_t n) {
    static_assert(std::is_trivially_copyable_v<T> &&
                  std::is_trivially_destructible_v<T>);
    return static_cast<T*>(TakeBytes(static_cast<size_t>(n) * sizeof(T)));
  }
  // The same, zero-filled.
  template <typename T>
  T* TakeZeroed(int64_t n) {
    T* p = Take<T>(n);
    std::memset(static_cast<void*>(p), 0, static_cast<size_t>(n) * sizeof(T));
    return p;
  }

  // Everything taken while a Scope lives is given back when it ends.
  class Scope {
   public:
    explicit Scope(Workspace& ws)
        : ws_(ws), block_(ws.current_), used_(ws.used_), in_use_(ws.in_use_) {
      ++ws_.depth_;
    }
    ~Scope() {
      ws_.current_ = block_;
      ws_.used_ = used_;
      ws_.in_use_ = in_use_;
      if (--ws_.depth_ == 0) ws_.Merge();
    }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    Workspace& ws_;
    size_t block_, used_, in_use_;
  };

  // Bytes held, and how many blocks were ever allocated (tests check that a
  // second call of the same shape allocates none).
  size_t capacity() const {
    size_t c = 0;
    for (const Block& b : blocks_) c += b.size;
    return c;
  }
  int64_t allocations() const { return allocations_; }

 private:
  static constexpr size_t kAlign = 64;
  static constexpr size_t kMinBlock = size_t{64} << 10;
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  struct Block {
    std::unique_ptr<uint8_t, Free> data;
    size_t size = 0;
  };

  void* TakeBytes(size_t bytes) {
    bytes = (bytes + kAlign - 1) / kAlign * kAlign;
    if (bytes == 0) bytes = kAlign;
    in_use_ += bytes;
    peak_ = std::max(peak_, in_use_);
    while (current_ < blocks_.size()) {
      Block& b = blocks_[current_];
      if (b.size - used_ >= bytes) {
        void* p = b.data.get() + used_;
        used_ += bytes;
        return p;
      }
      ++current_;  // the rest of this block stays unused until a Merge
      used_ = 0;
    }
    Block b;
    b.size = std::max({bytes, capacity(), kMinBlock});  // grow geometrically
    b.data.reset(static_cast<uint8_t*>(std::aligned_alloc(kAlign, b.size)));
    if (!b.data) throw std::bad_alloc();
    ++allocations_;
    blocks_.push_back(std::move(b));
    current_ = blocks_.size() - 1;
    used_ = bytes;
    return blocks_.back().data.get();
  }

  // Several blocks become one of the most ever taken at once (only when
  // nothing is taken, at the end of the outermost Scope). Without memory for
  // it the blocks stay as they are.
  void Merge() noexcept {
    if (blocks_.size() <= 1) return;
    const size_t total = std::max(peak_, kMinBlock);
    Block b;
    b.size = total;
    b.data.reset(static_cast<uint8_t*>(std::aligned_alloc(kAlign, total)));
    if (!b.data) return;
    ++allocations_;
    blocks_.clear();
    blocks_.push_back(std::move(b));
    current_ = 0;
    used_ = 0;
  }

  std::vector<Block> blocks_;
  size_t current_ = 0;  // block being taken from
  size_t used_ = 0;     // bytes taken from it
  size_t in_use_ = 0;   // bytes taken and not given back, over all blocks
  size_t peak_ = 0;     // the most ever in use
  int depth_ = 0;
  int64_t allocations_ = 0;
};

}  // namespace lowbit
