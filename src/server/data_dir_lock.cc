// DESIGN: the lock is flock(2) on data/server.lock, held by an open file description that
// lives as long as the server process. (1) The kernel drops it when the process dies however
// it dies, so a crashed server's lock file never blocks the next start: the file may stay,
// the lock does not. (2) The descriptor is O_CLOEXEC, so the sandbox helpers the server spawns
// do not inherit it and cannot keep a dead server's dir locked. (3) The file's content (the
// holder's pid) is only a message for the refused second server; the lock alone decides.

#include "server/data_dir_lock.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

namespace gust::server {
namespace {

// The pid the holder wrote, or "" when it has not written it yet (it is between flock and
// write) or wrote something else.
std::string holderPid(int fd) {
  char buffer[32] = {};
  ssize_t got = ::pread(fd, buffer, sizeof buffer - 1, 0);
  if (got <= 0) return "";
  std::string pid(buffer, static_cast<size_t>(got));
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  for (char c : pid) {
    if (c < '0' || c > '9') return "";
  }
  return pid;
}

}  // namespace

Result<DataDirLock> DataDirLock::acquire(const std::string& data_dir) {
  std::string path = data_dir + "/server.lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return internalError(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  }
  DataDirLock lock(fd);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int error = errno;
    if (error != EWOULDBLOCK) {
      return internalError(fmt::format("cannot lock {}: {}", path, std::strerror(error)));
    }
    std::string pid = holderPid(fd);
    return Status(Code::Conflict,
                  fmt::format("another gust serve ({}) is using the data dir {}: stop it first, "
                              "or pass another --data",
                              pid.empty() ? "pid unknown" : "pid " + pid, data_dir));
  }
  std::string pid = fmt::format("{}\n", ::getpid());
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    return internalError(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
  }
  return lock;
}

DataDirLock& DataDirLock::operator=(DataDirLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

DataDirLock::~DataDirLock() {
  // Closing the last descriptor of the open file description releases the flock.
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace gust::server
