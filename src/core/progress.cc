#include "core/progress.h"

#include <unistd.h>

#include <cstdio>

namespace lowbit {

Progress::Progress(int64_t total, std::string label)
    : total_(total), label_(std::move(label)), enabled_(::isatty(2) != 0) {}

Progress::~Progress() { Done(); }

void Progress::Step(const std::string& what) {
  ++done_;
  if (!enabled_) return;
  std::string w =
      what.size() > 48 ? "..." + what.substr(what.size() - 45) : what;
  std::fprintf(stderr, "\r\033[K[%lld/%lld %s] %s",
               static_cast<long long>(done_), static_cast<long long>(total_),
               label_.c_str(), w.c_str());
  std::fflush(stderr);
}

void Progress::Done() {
  if (!enabled_ || finished_) return;
  finished_ = true;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
}

}  // namespace lowbit
