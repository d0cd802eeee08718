#pragma once
// A DataDirLock is one `gust serve`'s claim on its data dir: while it is held, a second server
// on the same dir refuses to start instead of sharing the store and reclaiming (killing) the
// first one's sandboxes and cgroups as if they were a crashed server's leftovers. Owned by
// serve() for the server's whole life; not thread-safe (taken and dropped on the main thread).

#include <string>

#include "common/status.h"

namespace gust::server {

class DataDirLock final {
 public:
  // Takes `data_dir`/server.lock, or fails with Code::Conflict naming the holder's pid.
  [[nodiscard]] static Result<DataDirLock> acquire(const std::string& data_dir);

  DataDirLock(DataDirLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  DataDirLock& operator=(DataDirLock&& other) noexcept;
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;
  ~DataDirLock();

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace gust::server
