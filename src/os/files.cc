#include "os/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace gust::os {

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
  if (fd < 0) return internalError(fmt::format("cannot write {}: {}", temp, strerror(errno)));
  std::size_t written = 0;
  while (written < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + written, contents.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return internalError(fmt::format("cannot write {}: {}", temp, strerror(errno)));
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

}  // namespace gust::os
