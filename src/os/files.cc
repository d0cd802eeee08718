#include "os/files.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <fmt/format.h>
#include <fts.h>
#include <sys/stat.h>
#include <unistd.h>

namespace gust::os {

Status fileError(std::string message, int error_number) {
  bool full = error_number == ENOSPC || error_number == EDQUOT;
  return {full ? Code::InsufficientStorage : Code::Internal, std::move(message)};
}

Result<std::string> readFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return notFound(fmt::format("{} does not exist", path));
    return internalError(fmt::format("cannot read {}: {}", path, strerror(errno)));
  }
  std::string out;
  char buffer[64 * 1024];
  ssize_t n;
  while ((n = ::read(fd, buffer, sizeof buffer)) > 0) out.append(buffer, static_cast<size_t>(n));
  ::close(fd);
  if (n < 0) return internalError(fmt::format("cannot read {}: {}", path, strerror(errno)));
  return out;
}

Status writeFileAtomic(const std::string& path, std::string_view contents, int mode) {
  std::string temp = path + ".tmp";
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    int error_number = errno;
    return fileError(fmt::format("cannot write {}: {}", temp, strerror(error_number)),
                     error_number);
  }
  std::size_t written = 0;
  while (written < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + written, contents.size() - written);
    if (n < 0) {
      int error_number = errno;
      if (error_number == EINTR) continue;
      ::close(fd);
      ::unlink(temp.c_str());  // a full disk keeps no half-written file
      return fileError(fmt::format("cannot write {}: {}", temp, strerror(error_number)),
                       error_number);
    }
    written += static_cast<std::size_t>(n);
  }
  ::fchmod(fd, static_cast<mode_t>(mode));
  ::fsync(fd);
  ::close(fd);
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    return internalError(fmt::format("cannot rename {} to {}: {}", temp, path, strerror(errno)));
  }
  return Status::ok();
}

namespace {

// fts without FTS_NOCHDIR would change the working directory of the whole (threaded) process.
struct TreeWalk {
  FTS* fts = nullptr;
  explicit TreeWalk(const std::string& path) {
    char* roots[] = {const_cast<char*>(path.c_str()), nullptr};
    fts = ::fts_open(roots, FTS_PHYSICAL | FTS_NOCHDIR | FTS_XDEV, nullptr);
  }
  ~TreeWalk() {
    if (fts) ::fts_close(fts);
  }
};

Status walkError(const FTSENT* entry) {
  return internalError(
      fmt::format("cannot walk {}: {}", entry->fts_path, strerror(entry->fts_errno)));
}

}  // namespace

Result<int64_t> diskUsage(const std::string& path) {
  struct stat root {};
  if (::lstat(path.c_str(), &root) != 0) {
    if (errno == ENOENT) return int64_t{0};
    return internalError(fmt::format("cannot stat {}: {}", path, strerror(errno)));
  }
  TreeWalk walk(path);
  if (!walk.fts) return internalError(fmt::format("cannot walk {}: {}", path, strerror(errno)));
  int64_t bytes = 0;
  while (FTSENT* entry = ::fts_read(walk.fts)) {
    switch (entry->fts_info) {
      case FTS_DNR:
      case FTS_ERR:
      case FTS_NS:
        return walkError(entry);
      case FTS_DP:
        break;  // counted on the way in
      default:
        bytes += static_cast<int64_t>(entry->fts_statp->st_blocks) * 512;
    }
  }
  return bytes;
}

Status chownTree(const std::string& path, uid_t uid, gid_t gid, bool seal) {
  TreeWalk walk(path);
  if (!walk.fts) return internalError(fmt::format("cannot walk {}: {}", path, strerror(errno)));
  while (FTSENT* entry = ::fts_read(walk.fts)) {
    switch (entry->fts_info) {
      case FTS_DNR:
      case FTS_ERR:
      case FTS_NS:
        return walkError(entry);
      case FTS_DP:
        continue;
      default:
        break;
    }
    if (::lchown(entry->fts_path, uid, gid) != 0) {
      return internalError(fmt::format("cannot chown {}: {}", entry->fts_path, strerror(errno)));
    }
    if (!seal || entry->fts_info == FTS_SL || entry->fts_info == FTS_SLNONE) continue;
    mode_t mode = entry->fts_statp->st_mode & 07777;
    mode_t sealed = mode & ~static_cast<mode_t>(S_ISUID | S_ISGID | S_ISVTX | S_IWGRP | S_IWOTH);
    if (sealed != mode && ::chmod(entry->fts_path, sealed) != 0) {
      return internalError(fmt::format("cannot chmod {}: {}", entry->fts_path, strerror(errno)));
    }
  }
  return Status::ok();
}

}  // namespace gust::os
