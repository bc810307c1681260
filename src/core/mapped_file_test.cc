#include "core/mapped_file.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace lowbit {
namespace {

namespace fs = std::filesystem;

// The pid of a process that has exited (and been reaped).
pid_t DeadPid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

TEST(MappedFile, CopyOutReadsTheSameBytesAndChecksTheRange) {
  const fs::path path = fs::path(::testing::TempDir()) / "lowbit_copy_out";
  std::string bytes(100000, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7);
  std::ofstream(path, std::ios::binary) << bytes;
  auto m = MappedFile::Open(path.string());
  ASSERT_TRUE(m.ok()) << m.status().message();
  const uint8_t* base = (*m)->data();
  std::string got(70001, 'x');
  ASSERT_TRUE((*m)->CopyOut(base + 29999, 70001, got.data()).ok());
  EXPECT_EQ(got, bytes.substr(29999));
  EXPECT_TRUE((*m)->CopyOut(base + 100000, 0, got.data()).ok());
  const Status past = (*m)->CopyOut(base + 29999, 70002, got.data());
  EXPECT_EQ(past.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(past.message().find(path.string()), std::string::npos);
  EXPECT_FALSE((*m)->CopyOut(base - 1, 2, got.data()).ok());
  fs::remove(path);
}

TEST(OutputFile, RemovesTemporariesOfDeadProcessesOnly) {
  const fs::path dir = fs::path(::testing::TempDir()) / "lowbit_output_file";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string out = (dir / "m.gguf").string();
  const std::string stale = out + ".tmp-" + std::to_string(DeadPid());
  const std::string live = out + ".tmp-" + std::to_string(::getppid());
  const std::string other = (dir / "other.gguf.tmp-1").string();
  const std::string not_pid = out + ".tmp-abc";
  for (const auto& p : {stale, live, other, not_pid}) {
    std::ofstream(p) << "partial";
  }
  auto o = OutputFile::Create(out);
  ASSERT_TRUE(o.ok()) << o.status().message();
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(live));     // a running process's
  EXPECT_TRUE(fs::exists(other));    // another output's
  EXPECT_TRUE(fs::exists(not_pid));  // not ours to judge
  ASSERT_TRUE((*o)->Write("abc", 3).ok());
  ASSERT_TRUE((*o)->Commit().ok());
  EXPECT_EQ(fs::file_size(out), 3u);
  fs::remove_all(dir);
}

TEST(OutputFile, AnUncommittedFileLeavesNothing) {
  const fs::path dir = fs::path(::testing::TempDir()) / "lowbit_output_file2";
  fs::remove_all(dir);
  fs::create_directories(dir);
  {
    auto o = OutputFile::Create((dir / "x.bin").string());
    ASSERT_TRUE(o.ok());
    ASSERT_TRUE((*o)->Write("abc", 3).ok());
  }
  EXPECT_TRUE(fs::is_empty(dir));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace lowbit
