#include "core/mapped_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

namespace lowbit {

Result<std::unique_ptr<MappedFile>> MappedFile::Open(const std::string& path) {
  // O_NONBLOCK: a FIFO opens at once (and is then refused as not a regular
  // file) instead of blocking until a writer appears.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    return IoError(path + ": cannot open: " + std::strerror(errno));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    return IoError(path + ": cannot stat: " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return IoError(path + ": not a regular file");
  }
  std::unique_ptr<MappedFile> m(new MappedFile());
  m->path_ = path;
  m->size_ = static_cast<uint64_t>(st.st_size);
#if LOWBIT_HEAP_FILES
  // Sanitizer builds: an exactly-sized heap copy, so that a read past the
  // end of the file is a heap-buffer-overflow (a mapping's last page would
  // hide it).
  if (m->size_ > 0) {
    uint8_t* buf = static_cast<uint8_t*>(std::malloc(m->size_));
    if (buf == nullptr) {
      ::close(fd);
      return IoError(path + ": cannot read: out of memory");
    }
    uint64_t done = 0;
    while (done < m->size_) {
      const ssize_t k =
          ::pread(fd, buf + done, m->size_ - done, static_cast<off_t>(done));
      if (k <= 0) {
        const int e = k < 0 ? errno : EIO;
        std::free(buf);
        ::close(fd);
        return IoError(path + ": cannot read: " + std::strerror(e));
      }
      done += static_cast<uint64_t>(k);
    }
    m->data_ = buf;
  }
#else
  if (m->size_ > 0) {
    void* p = ::mmap(nullptr, m->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int e = errno;
      ::close(fd);
      return IoError(path + ": cannot mmap: " + std::strerror(e));
    }
    m->data_ = static_cast<const uint8_t*>(p);
  }
#endif
  m->fd_ = fd;
  return m;
}

Status MappedFile::CopyOut(const uint8_t* p, uint64_t n, void* dst) const {
  if (n == 0) return Status::Ok();
  if (p < data_ || static_cast<uint64_t>(p - data_) > size_ ||
      n > size_ - static_cast<uint64_t>(p - data_)) {
    return InvalidArgument(path_ + ": CopyOut of a range outside the file");
  }
#if LOWBIT_HEAP_FILES
  std::memcpy(dst, p, n);
#else
  uint64_t done = 0;
  const auto offset = static_cast<uint64_t>(p - data_);
  while (done < n) {
    const ssize_t k = ::pread(fd_, static_cast<uint8_t*>(dst) + done, n - done,
                              static_cast<off_t>(offset + done));
    if (k <= 0) {
      return IoError(path_ + ": cannot read: " +
                     (k < 0 ? std::strerror(errno) : "file shrank"));
    }
    done += static_cast<uint64_t>(k);
  }
#endif
  return Status::Ok();
}

void DropPages(const uint8_t* data, uint64_t n) {
#if LOWBIT_HEAP_FILES
  (void)data;  // heap copies: MADV_DONTNEED would zero them
  (void)n;
#else
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin =
      (reinterpret_cast<uintptr_t>(data) + page - 1) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + n) / page * page;
  if (end > begin) {
    ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
  }
#endif
}

MappedFile::~MappedFile() {
  if (fd_ >= 0) ::close(fd_);
  if (data_ != nullptr) {
#if LOWBIT_HEAP_FILES
    std::free(const_cast<uint8_t*>(data_));
#else
    ::munmap(const_cast<uint8_t*>(data_), size_);
#endif
  }
}

namespace {

// Removes "<path>.tmp-<pid>" files beside `path` whose process has died (a
// crash or a kill left them): a temporary of a live process is kept.
void RemoveStaleTemporaries(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path p(path);
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  const std::string prefix = p.filename().string() + ".tmp-";
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix))
      continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.size() > 9 ||
        digits.find_first_not_of("0123456789") != std::string::npos)
      continue;
    const pid_t pid = static_cast<pid_t>(std::stol(digits));
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(pid, 0) != 0 && errno == ESRCH) {
      fs::remove(it->path(), ec);
      ec.clear();
    }
  }
}

}  // namespace

Result<std::unique_ptr<OutputFile>> OutputFile::Create(
    const std::string& path) {
  RemoveStaleTemporaries(path);
  std::unique_ptr<OutputFile> o(new OutputFile());
  o->path_ = path;
  o->tmp_path_ = path + ".tmp-" + std::to_string(::getpid());
  o->f_ = std::fopen(o->tmp_path_.c_str(), "wb");
  if (o->f_ == nullptr) {
    return IoError(path + ": cannot create output: " + std::strerror(errno));
  }
  return o;
}

OutputFile::~OutputFile() {
  if (f_ != nullptr) std::fclose(f_);
  if (!committed_) ::unlink(tmp_path_.c_str());
}

Status OutputFile::Write(const void* data, size_t n) {
  if (n == 0) return Status::Ok();
  if (std::fwrite(data, 1, n, f_) != n) {
    return IoError(path_ + ": write failed: " + std::strerror(errno));
  }
  pos_ += n;
  return Status::Ok();
}

Status OutputFile::WriteZeros(size_t n) {
  static const std::vector<uint8_t> kZeros(4096, 0);
  while (n > 0) {
    const size_t k = n < kZeros.size() ? n : kZeros.size();
    LB_RETURN_IF_ERROR(Write(kZeros.data(), k));
    n -= k;
  }
  return Status::Ok();
}

Status OutputFile::Commit() {
  if (std::fflush(f_) != 0 || ::fsync(::fileno(f_)) != 0) {
    return IoError(path_ + ": flush failed: " + std::strerror(errno));
  }
  const int rc = std::fclose(f_);
  f_ = nullptr;
  if (rc != 0)
    return IoError(path_ + ": close failed: " + std::strerror(errno));
  if (::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    return IoError(path_ + ": rename failed: " + std::strerror(errno));
  }
  committed_ = true;
  return Status::Ok();
}

}  // namespace lowbit
