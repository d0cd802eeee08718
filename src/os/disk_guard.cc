#include "os/disk_guard.h"

#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>
#include <sys/statvfs.h>

namespace gust::os {

DiskGuard::FreeBytes DiskGuard::freeBytesOf(std::string path) {
  return [path = std::move(path)]() -> Result<uint64_t> {
    struct statvfs disk {};
    if (::statvfs(path.c_str(), &disk) != 0) {
      return internalError(fmt::format("statvfs {}: {}", path, std::strerror(errno)));
    }
    return static_cast<uint64_t>(disk.f_bavail) * disk.f_frsize;
  };
}

DiskGuard::DiskGuard(FreeBytes free_bytes, uint64_t min_free_bytes, uint64_t resume_margin)
    : measure_(std::move(free_bytes)),
      min_free_bytes_(min_free_bytes),
      resume_free_bytes_(min_free_bytes + resume_margin) {}

Result<DiskGuard::Sample> DiskGuard::sample() {
  auto free_bytes = measure_();
  if (!free_bytes) return free_bytes.status();
  free_bytes_.store(*free_bytes, std::memory_order_relaxed);
  bool was_refusing = refusing();
  bool now_refusing = min_free_bytes_ > 0 && (was_refusing ? *free_bytes < resume_free_bytes_
                                                           : *free_bytes < min_free_bytes_);
  refusing_.store(now_refusing, std::memory_order_relaxed);
  return Sample{*free_bytes, now_refusing, now_refusing != was_refusing};
}

Status DiskGuard::admit() const { return refusing() ? insufficientStorage() : Status::ok(); }

Status insufficientStorage() {
  return {Code::InsufficientStorage,
          "the server is low on disk space and takes no new work for now; retry later "
          "(its operator sees the detail in the server log)"};
}

}  // namespace gust::os
