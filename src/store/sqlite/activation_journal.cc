#include "store/sqlite/activation_journal.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <utility>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

namespace gust::store {
namespace {

// Extends a file to its preallocated size with written zeros, so that later writes only
// overwrite blocks the file has.
bool preallocate(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return false;
  static const char zeros[1 << 16] = {};
  for (off_t at = st.st_size; at < kJournalPreallocatedBytes; at += sizeof zeros) {
    if (::pwrite(fd, zeros, sizeof zeros, at) != static_cast<ssize_t>(sizeof zeros)) return false;
  }
  return ::fdatasync(fd) == 0;
}

Result<int> openFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd >= 0 && !preallocate(fd)) {
    int error = errno;
    ::close(fd);
    fd = -1;
    errno = error;
  }
  if (fd < 0) {
    return internalError(
        fmt::format("cannot open the activation journal {}: {}", path, strerror(errno)));
  }
  return fd;
}

// Everything before the file's first NUL.
std::string validContent(int fd) {
  std::string content;
  char buffer[1 << 16];
  for (off_t at = 0;;) {
    ssize_t n = ::pread(fd, buffer, sizeof buffer, at);
    if (n <= 0) break;
    std::string_view chunk(buffer, static_cast<std::size_t>(n));
    std::size_t end = chunk.find('\0');
    content.append(chunk.substr(0, end));
    if (end != std::string_view::npos) break;
    at += n;
  }
  return content;
}

}  // namespace

Result<ActivationJournal> ActivationJournal::open(const std::string& path) {
  auto first = openFile(path);
  if (!first) return first.status();
  auto second = openFile(path + "-2");
  if (!second) {
    ::close(*first);
    return second.status();
  }
  return ActivationJournal(*first, *second);
}

ActivationJournal::ActivationJournal(ActivationJournal&& other) noexcept { *this = std::move(other); }

ActivationJournal& ActivationJournal::operator=(ActivationJournal&& other) noexcept {
  if (this != &other) {
    close();
    for (int file : {0, 1}) {
      fds_[file] = std::exchange(other.fds_[file], -1);
      bytes_[file] = other.bytes_[file];
      last_seq_[file] = other.last_seq_[file];
    }
    applied_seq_ = other.applied_seq_;
    active_ = other.active_;
    failed_ = other.failed_;
  }
  return *this;
}

ActivationJournal::~ActivationJournal() { close(); }

void ActivationJournal::close() {
  for (int& fd : fds_) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
}

std::string ActivationJournal::content() const {
  if (!usable()) return {};
  std::string content = validContent(fds_[0]);
  std::string second = validContent(fds_[1]);
  if (!content.empty() && content.back() != '\n' && !second.empty()) content += '\n';
  return content + second;
}

bool ActivationJournal::clear() {
  if (!usable()) return true;
  bool cleared = restart(0) && restart(1);
  if (!cleared) std::fprintf(stderr, "store: cannot empty the activation journal: %s\n", strerror(errno));
  active_ = 0;
  return cleared;
}

bool ActivationJournal::restart(int file) {
  if (::pwrite(fds_[file], "", 1, 0) != 1) return false;
  bytes_[file] = 0;
  return true;
}

bool ActivationJournal::append(std::string line, uint64_t seq) {
  if (!usable()) return false;
  const int other = 1 - active_;
  if (bytes_[active_] > kJournalRestartBytes && last_seq_[other] <= applied_seq_ &&
      restart(other)) {
    active_ = other;
  }
  const int fd = fds_[active_];
  line += '\0';
  for (std::size_t written = 0; written < line.size();) {
    ssize_t n = ::pwrite(fd, line.data() + written, line.size() - written,
                         bytes_[active_] + static_cast<off_t>(written));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (!failed_) {
        std::fprintf(stderr, "store: cannot write the activation journal: %s\n", strerror(errno));
      }
      failed_ = true;
      (void)!::pwrite(fd, "", 1, bytes_[active_]);
      return false;
    }
    written += static_cast<std::size_t>(n);
  }
  failed_ = false;
  bytes_[active_] += static_cast<off_t>(line.size() - 1);  // the next line overwrites the NUL
  last_seq_[active_] = seq;
  return true;
}

void ActivationJournal::applied(uint64_t seq) {
  applied_seq_ = seq;
  // A long file whose every line is applied starts again now, the active one too: a replay
  // after a crash then reads little, and at a quiet moment the journal empties without a switch.
  for (int file : {0, 1}) {
    if (usable() && last_seq_[file] <= seq && bytes_[file] > kJournalRestartBytes) {
      (void)restart(file);
    }
  }
}

}  // namespace gust::store
