// Readers against files whose headers claim huge sizes: `lowbit inspect` and
// `lowbit convert` must refuse each with exit 2 while their peak resident
// memory stays within twice the file's size plus a fixed amount (what the
// process needs to start: libraries, protobuf, OpenBLAS). Peak memory is the
// child's ru_maxrss from wait4 (through GNU time), not a time: this checks a
// bound, not a speed.
#include <fcntl.h>
#include <onnx/onnx_pb.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "tools/lowbit/cli_fixture.h"

namespace lowbit::testing_cli {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr int64_t kFixedBytes = int64_t{512} << 20;  // shadow memory
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr int64_t kFixedBytes = int64_t{512} << 20;
#else
constexpr int64_t kFixedBytes = int64_t{96} << 20;
#endif
#else
constexpr int64_t kFixedBytes = int64_t{96} << 20;
#endif

struct Peak {
  int status = -1;
  int64_t max_rss_bytes = 0;
};

// Runs `lowbit args...` with no standard input and output discarded, under
// GNU time (/usr/bin/time -f %M), which forks lowbit from its own small
// process and reports the peak from wait4. Measured here directly, the peak
// would include this test process's: posix_spawn shares our memory until the
// exec (vfork), and the kernel keeps the larger peak across the exec, so the
// figure depended on what the tests before this one had allocated (a run
// reported 608 MiB for a 26-byte file). A fork would copy our pages the same
// way.
Peak RunMeasured(const std::vector<std::string>& args,
                 const std::string& peak_file) {
  std::vector<std::string> copy = {"/usr/bin/time", "-f",      "%M", "-o",
                                   peak_file,       LOWBIT_BIN};
  copy.insert(copy.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  const int rc =
      ::posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  Peak p;
  if (rc != 0) return p;
  int st = 0;
  ::waitpid(pid, &st, 0);
  p.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  std::ifstream in(peak_file);
  int64_t kib = -1;
  in >> kib;  // GNU time writes the KiB, or "Command exited ..." first
  if (!in) {
    in.clear();
    in.seekg(0);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && std::isdigit(static_cast<unsigned char>(line[0])))
        kib = std::stoll(line);
    }
  }
  p.max_rss_bytes = kib * 1024;
  return p;
}

void Put64(std::string& s, uint64_t v) {
  s.append(reinterpret_cast<const char*>(&v), 8);
}
void Put32(std::string& s, uint32_t v) {
  s.append(reinterpret_cast<const char*>(&v), 4);
}
void PutStr(std::string& s, const std::string& v) {
  Put64(s, v.size());
  s += v;
}

std::string Safetensors(const std::string& header, size_t data_bytes) {
  std::string s;
  Put64(s, header.size());
  return s + header + std::string(data_bytes, '\0');
}

// A GGUF v3 prefix: magic, version, tensor count, kv count.
std::string GgufHead(uint64_t tensors, uint64_t kvs) {
  std::string s = "GGUF";
  Put32(s, 3);
  Put64(s, tensors);
  Put64(s, kvs);
  return s;
}

class MemoryCli : public CliFixture {
 protected:
  MemoryCli() : CliFixture("") {}
  void ExpectRefusedWithinBound(const std::string& name,
                                const std::string& bytes) {
    const std::string path = P(name);
    std::ofstream(path, std::ios::binary) << bytes;
    const int64_t bound = 2 * static_cast<int64_t>(bytes.size()) + kFixedBytes;
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"inspect", path},
          std::vector<std::string>{"convert", path, "-o", P("out.safetensors")},
          std::vector<std::string>{
              "quantize", path, "-o",
              P(name + ".out" + fs::path(name).extension().string()),
              "--scheme",
              fs::path(name).extension() == ".gguf" ? "q4_k" : "int4"}}) {
      const Peak p = RunMeasured(args, P("peak.txt"));
      // The figures docs/reliability.md reports.
      std::printf("peak %-28s %-8s %6zu bytes  %5.1f MiB\n", name.c_str(),
                  args[0].c_str(), bytes.size(),
                  static_cast<double>(p.max_rss_bytes) / (1 << 20));
      EXPECT_EQ(p.status, 2) << name << " " << args[0];
      EXPECT_LE(p.max_rss_bytes, bound)
          << name << " " << args[0] << ": peak " << (p.max_rss_bytes >> 20)
          << " MiB for a file of " << bytes.size() << " bytes";
    }
    fs::remove(path);
  }
};

TEST_F(MemoryCli, HugeClaimsInHeadersCostNoMemory) {
  // safetensors: a 4 TiB tensor; a header length at the 100 MB limit in a
  // 100-byte file; a huge quantized tensor whose components are tiny.
  ExpectRefusedWithinBound(
      "huge_tensor.safetensors",
      Safetensors(R"({"a":{"dtype":"F32","shape":[1048576,1048576],)"
                  R"("data_offsets":[0,4398046511104]}})",
                  16));
  {
    std::string s;
    Put64(s, 100'000'000);
    ExpectRefusedWithinBound("huge_header.safetensors",
                             s + "{" + std::string(91, ' '));
  }
  ExpectRefusedWithinBound(
      "huge_quantized.safetensors",
      Safetensors(
          R"({"__metadata__":{"lowbit.q.w":"{\"scheme\":\"int4\",\"shape\":)"
          R"([1048576,1048576],\"dtype\":\"F32\",\"granularity\":\"group\",)"
          R"(\"group_size\":32,\"symmetric\":true,\"scale_type\":\"f32\"}"},)"
          R"("w.qcodes":{"dtype":"U8","shape":[2,2],"data_offsets":[0,4]}})",
          4));
  // GGUF: a 1 GiB string, an array of 2^22 u64, a 2^40-element tensor, and
  // 2^60 tensor infos, each in a file of under 100 bytes.
  {
    std::string s = GgufHead(0, 1);
    PutStr(s, "k");
    Put32(s, 8);  // string
    Put64(s, uint64_t{1} << 30);
    ExpectRefusedWithinBound("huge_string.gguf", s + "abc");
  }
  {
    std::string s = GgufHead(0, 1);
    PutStr(s, "k");
    Put32(s, 9);   // array
    Put32(s, 10);  // of u64
    Put64(s, uint64_t{1} << 22);
    ExpectRefusedWithinBound("huge_array.gguf", s + std::string(16, '\0'));
  }
  {
    std::string s = GgufHead(1, 0);
    PutStr(s, "t");
    Put32(s, 2);
    Put64(s, uint64_t{1} << 20);
    Put64(s, uint64_t{1} << 20);
    Put32(s, 0);  // f32
    Put64(s, 0);
    ExpectRefusedWithinBound("huge_tensor.gguf", s + std::string(64, '\0'));
  }
  ExpectRefusedWithinBound("many_tensors.gguf",
                           GgufHead(uint64_t{1} << 60, 0) + "xyz");
  // ONNX: 2^39 f16 elements and no data.
  {
    onnx::ModelProto m;
    m.set_ir_version(8);
    m.add_opset_import()->set_version(13);
    auto& g = *m.mutable_graph();
    auto& t = *g.add_initializer();
    t.set_name("w");
    t.set_data_type(onnx::TensorProto::FLOAT16);
    t.add_dims(int64_t{1} << 20);
    t.add_dims(int64_t{1} << 19);
    auto& n = *g.add_node();
    n.set_op_type("MatMul");
    n.add_input("x");
    n.add_input("w");
    n.add_output("y");
    g.add_input()->set_name("x");
    std::string bytes;
    ASSERT_TRUE(m.SerializeToString(&bytes));
    ExpectRefusedWithinBound("huge.onnx", bytes);
    // A protobuf field claiming 2 GiB of bytes in a 30-byte file.
    std::string cut = bytes.substr(0, 20);
    cut += std::string("\x3a\xff\xff\xff\xff\x07", 6);
    ExpectRefusedWithinBound("claims.onnx", cut);
  }
}

}  // namespace
}  // namespace lowbit::testing_cli
