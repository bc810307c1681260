// Progress: a one-line counter on stderr, shown only when stderr is a terminal.
#pragma once

#include <cstdint>
#include <string>

namespace lowbit {

class Progress {
 public:
  // total: the number of steps; label: what is counted ("tensors").
  Progress(int64_t total, std::string label);
  ~Progress();
  // Marks one more step done; `what` names it (a tensor name).
  void Step(const std::string& what);
  // Clears the line.
  void Done();

 private:
  int64_t total_;
  int64_t done_ = 0;
  std::string label_;
  bool enabled_;
  bool finished_ = false;
};

}  // namespace lowbit
