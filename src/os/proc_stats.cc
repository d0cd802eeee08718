#include "os/proc_stats.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <fmt/format.h>

namespace gust::os {
namespace {

bool preadAll(int fd, std::string& out) {
  if (fd < 0) return false;
  char buffer[4096];
  ssize_t n = ::pread(fd, buffer, sizeof buffer - 1, 0);
  if (n <= 0) return false;
  out.assign(buffer, static_cast<std::size_t>(n));
  return true;
}

// utime, stime and num_threads from a /proc stat line.
bool parseStat(const std::string& text, int64_t& user, int64_t& system, int64_t& threads) {
  auto close = text.rfind(')');
  if (close == std::string::npos) return false;
  const char* p = text.c_str() + close + 2;
  int64_t values[18] = {};
  // Fields 3.. after the name; we want 14 (utime), 15 (stime), 20 (num_threads).
  for (int field = 3; field <= 20 && *p; ++field) {
    char* end = nullptr;
    values[field - 3] = std::strtoll(p, &end, 10);
    p = std::strchr(p, ' ');
    if (!p) return field == 20;
    ++p;
  }
  user = values[14 - 3];
  system = values[15 - 3];
  threads = values[20 - 3];
  return true;
}

}  // namespace

ProcessMeter::ProcessMeter(pid_t pid) : pid_(pid) {
  std::string base = fmt::format("/proc/{}", pid);
  stat_fd_ = ::open((base + "/stat").c_str(), O_RDONLY | O_CLOEXEC);
  status_fd_ = ::open((base + "/status").c_str(), O_RDONLY | O_CLOEXEC);
  clear_refs_fd_ = ::open((base + "/clear_refs").c_str(), O_WRONLY | O_CLOEXEC);
  rescanThreads();
}

ProcessMeter::~ProcessMeter() {
  for (int fd : thread_fds_) ::close(fd);
  for (int fd : {stat_fd_, status_fd_, clear_refs_fd_}) {
    if (fd >= 0) ::close(fd);
  }
}

void ProcessMeter::rescanThreads() {
  for (int fd : thread_fds_) ::close(fd);
  thread_fds_.clear();
  std::string base = fmt::format("/proc/{}/task", pid_);
  if (DIR* tasks = ::opendir(base.c_str())) {
    while (dirent* entry = ::readdir(tasks)) {
      if (entry->d_name[0] == '.') continue;
      int fd = ::open(fmt::format("{}/{}/schedstat", base, entry->d_name).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd >= 0) thread_fds_.push_back(fd);
    }
    ::closedir(tasks);
  }
}

Result<ProcessUsage> ProcessMeter::read() {
  ProcessUsage usage;
  std::string text;
  int64_t threads = 0;
  if (!preadAll(stat_fd_, text) || !parseStat(text, usage.user_ticks, usage.system_ticks, threads)) {
    return notFound(fmt::format("process {} is gone", pid_));
  }
  if (threads != static_cast<int64_t>(thread_fds_.size())) rescanThreads();
  for (int fd : thread_fds_) {
    if (preadAll(fd, text)) usage.cpu_ns += std::strtoll(text.c_str(), nullptr, 10);
  }
  if (preadAll(status_fd_, text)) {
    auto at = text.find("VmHWM:");
    if (at != std::string::npos) usage.peak_rss_bytes = std::strtoll(text.c_str() + at + 6, nullptr, 10) * 1024;
  }
  return usage;
}

Status ProcessMeter::resetPeak() {
  if (clear_refs_fd_ < 0 || ::write(clear_refs_fd_, "5", 1) != 1) {
    return internalError(fmt::format("cannot reset peak memory of {}", pid_));
  }
  return Status::ok();
}

CpuSplit cpuBetween(const ProcessUsage& before, const ProcessUsage& after) {
  int64_t total = std::max<int64_t>(0, after.cpu_ns - before.cpu_ns);
  int64_t user = std::max<int64_t>(0, after.user_ticks - before.user_ticks);
  int64_t system = std::max<int64_t>(0, after.system_ticks - before.system_ticks);
  CpuSplit split;
  if (user + system == 0) {
    split.user_ns = total;  // under one tick: nothing to split by; user code is the likelier
  } else {
    split.system_ns = total * system / (user + system);
    split.user_ns = total - split.system_ns;
  }
  return split;
}

}  // namespace gust::os
