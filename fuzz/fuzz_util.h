// Shared by the libFuzzer targets: the input written to a scratch file (the
// readers open paths; under LOWBIT_HEAP_FILES they read it into an exactly-
// sized heap copy, so a read past its end is a sanitizer report), invariant
// checks that abort (a finding) when broken, and the checks every opened
// model must pass.
#pragma once

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "io/model.h"

namespace lowbit::fuzz {

namespace fs = std::filesystem;

// A finding: the invariant `what` does not hold.
[[noreturn]] inline void Fail(const std::string& what) {
  std::fprintf(stderr, "lowbit fuzz: invariant broken: %s\n", what.c_str());
  std::abort();
}

inline void Check(bool ok, const std::string& what) {
  if (!ok) Fail(what);
}

// This process's scratch folder (emptied on every call): $TMPDIR or /tmp,
// lowbit-fuzz-<pid>.
inline fs::path Scratch() {
  const char* tmp = std::getenv("TMPDIR");
  static const fs::path dir = fs::path(tmp != nullptr ? tmp : "/tmp") /
                              ("lowbit-fuzz-" + std::to_string(::getpid()));
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir);
  return dir;
}

inline std::string WriteFile(const fs::path& path, const uint8_t* data,
                             size_t size) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(data),
          static_cast<std::streamsize>(size));
  f.close();
  Check(f.good(), "cannot write " + path.string());
  return path.string();
}

// Every tensor of an accepted model reads as the number of values its shape
// states; float tensors read as floats. Refusals are fine, crashes and
// sanitizer reports are not. Returns the number of tensors read.
inline int CheckModel(const Model& m) {
  int read = 0;
  for (const ModelTensor& t : m.tensors()) {
    const int64_t n = NumElements(t.shape);
    Check(n >= 0, t.name + ": negative element count");
    if (t.is_float()) {
      auto v = m.ReadFloat(t);
      if (!v.ok()) continue;
      Check(static_cast<int64_t>(v->size()) == n,
            t.name + ": ReadFloat returned " + std::to_string(v->size()) +
                " values for " + std::to_string(n));
      ++read;
    } else if (!t.quantized()) {
      auto b = m.ReadBytes(t);
      if (!b.ok()) continue;
      Check(b->size() == t.stored_bytes,
            t.name + ": ReadBytes size differs from stored_bytes");
      ++read;
    }
  }
  return read;
}

}  // namespace lowbit::fuzz
