#include "sandbox/linux/cgroup.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

namespace gust::sandbox {
namespace {

namespace fs = std::filesystem;
constexpr const char* kCgroupRoot = "/sys/fs/cgroup";

bool isCgroup2(const std::string& path) {
  struct statfs info {};
  return ::statfs(path.c_str(), &info) == 0 && info.f_type == CGROUP2_SUPER_MAGIC;
}

bool isCgroup1(const std::string& path) {
  struct statfs info {};
  return ::statfs(path.c_str(), &info) == 0 && info.f_type == CGROUP_SUPER_MAGIC;
}

Status writeFile(const std::string& path, const std::string& value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return internalError(fmt::format("cgroup: open {}: {}", path, strerror(errno)));
  ssize_t n = ::write(fd, value.data(), value.size());
  int saved = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(value.size())) {
    return internalError(fmt::format("cgroup: write '{}' to {}: {}", value, path, strerror(saved)));
  }
  return Status::ok();
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

// The value of `key` in a "key value" per line file (memory.events, pids.events, oom_control).
int64_t keyedValue(const std::string& content, const std::string& key) {
  std::istringstream lines(content);
  std::string name;
  int64_t value = 0;
  while (lines >> name >> value) {
    if (name == key) return value;
  }
  return 0;
}

void killPidsIn(const std::string& dir) {
  std::istringstream pids(readFile(dir + "/cgroup.procs"));
  for (pid_t pid; pids >> pid;) ::kill(pid, SIGKILL);
}

// rmdir succeeds once the last process has left; killed processes leave within milliseconds.
void removeDir(const std::string& dir) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return;
    if (errno != EBUSY) return;
    killPidsIn(dir);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

// Reads an open cgroup file from its start.
bool preadFile(int fd, std::string& out) {
  if (fd < 0) return false;
  char buffer[1024];
  ssize_t n = ::pread(fd, buffer, sizeof buffer - 1, 0);
  if (n <= 0) return false;
  out.assign(buffer, static_cast<std::size_t>(n));
  return true;
}

// One group's usage from its cgroup files. A reading is two or three preads of short files that
// the kernel renders from counters, where /proc/PID/status renders a page of text; and it counts
// every process in the group, not only the first.
class CgroupMeter final : public os::UsageMeter {
 public:
  CgroupMeter(bool v2, const std::string& cpu_dir, const std::string& memory_dir) : v2_(v2) {
    auto open = [](const std::string& path, int flags) { return ::open(path.c_str(), flags | O_CLOEXEC); };
    if (v2_) {
      cpu_stat_fd_ = open(cpu_dir + "/cpu.stat", O_RDONLY);
      // Since Linux 6.12 a write to memory.peak starts a new peak seen through that same fd.
      peak_fd_ = open(memory_dir + "/memory.peak", O_RDWR);
    } else {
      usage_fd_ = open(cpu_dir + "/cpuacct.usage", O_RDONLY);
      cpu_stat_fd_ = open(cpu_dir + "/cpuacct.stat", O_RDONLY);
      peak_fd_ = open(memory_dir + "/memory.max_usage_in_bytes", O_RDWR);
    }
  }
  ~CgroupMeter() override {
    for (int fd : {usage_fd_, cpu_stat_fd_, peak_fd_}) {
      if (fd >= 0) ::close(fd);
    }
  }
  CgroupMeter(const CgroupMeter&) = delete;
  CgroupMeter& operator=(const CgroupMeter&) = delete;

  Result<os::ProcessUsage> read() override {
    os::ProcessUsage usage;
    std::string text;
    if (!preadFile(cpu_stat_fd_, text)) return notFound("the instance's cgroup is gone");
    if (v2_) {
      usage.cpu_ns = keyedValue(text, "usage_usec") * 1000;
      usage.user_ticks = keyedValue(text, "user_usec");
      usage.system_ticks = keyedValue(text, "system_usec");
    } else {
      usage.user_ticks = keyedValue(text, "user");
      usage.system_ticks = keyedValue(text, "system");
      if (!preadFile(usage_fd_, text)) return notFound("the instance's cgroup is gone");
      usage.cpu_ns = std::strtoll(text.c_str(), nullptr, 10);
    }
    if (preadFile(peak_fd_, text)) usage.peak_rss_bytes = std::strtoll(text.c_str(), nullptr, 10);
    return usage;
  }

  Status resetPeak() override {
    // v1: writing 0 sets the maximum to the current usage; v2: any write resets this fd's peak.
    if (peak_fd_ < 0 || ::pwrite(peak_fd_, "0", 1, 0) != 1) {
      return internalError(fmt::format("cgroup: cannot reset the peak memory: {}", strerror(errno)));
    }
    return Status::ok();
  }

 private:
  bool v2_;
  int usage_fd_ = -1;
  int cpu_stat_fd_ = -1;
  int peak_fd_ = -1;
};

}  // namespace

std::vector<std::string> CgroupLayout::roots() const {
  std::vector<std::string> hierarchies = {unified};
  if (!v2) {
    hierarchies = {memory, pids, cpu};
    if (!cpuacct.empty() && cpuacct != cpu) hierarchies.push_back(cpuacct);
  }
  for (auto& hierarchy : hierarchies) hierarchy += "/" + server;
  return hierarchies;
}

Result<CgroupLayout> detectCgroups(const std::string& server_key) {
  CgroupLayout layout;
  layout.server = "gust/" + server_key;
  if (isCgroup2(kCgroupRoot)) {
    layout.v2 = true;
    layout.unified = kCgroupRoot;
    std::string available = readFile(std::string(kCgroupRoot) + "/cgroup.controllers");
    for (const char* needed : {"memory", "pids", "cpu"}) {
      if (available.find(needed) == std::string::npos) {
        return internalError(fmt::format(
            "cgroup v2 controller '{}' is not available in {}/cgroup.controllers", needed,
            kCgroupRoot));
      }
    }
  } else {
    auto find = [](const std::vector<std::string>& names) -> std::string {
      for (const auto& name : names) {
        std::string dir = std::string(kCgroupRoot) + "/" + name;
        if (isCgroup1(dir)) return dir;
      }
      return "";
    };
    layout.memory = find({"memory"});
    layout.pids = find({"pids"});
    layout.cpu = find({"cpu", "cpu,cpuacct"});
    layout.cpuacct = find({"cpuacct", "cpu,cpuacct"});
    if (layout.memory.empty() || layout.pids.empty()) {
      return internalError(
          "cgroups: neither a cgroup v2 hierarchy with memory and pids nor the v1 memory and pids "
          "controllers are mounted under /sys/fs/cgroup");
    }
  }
  for (const auto& root : layout.roots()) {
    std::error_code ec;
    fs::create_directories(root, ec);
    if (ec) return internalError(fmt::format("cgroup: mkdir {}: {}", root, ec.message()));
  }
  if (layout.v2) {
    // Children get the controllers only if every ancestor delegates them.
    for (const auto& dir : {layout.unified, layout.unified + "/gust", layout.roots()[0]}) {
      GUST_RETURN_IF_ERROR(writeFile(dir + "/cgroup.subtree_control", "+memory +pids +cpu"));
    }
  }
  return layout;
}

// Whether `dir` has been there for a while: a group some server is setting up right now is new.
bool olderThan(const std::string& dir, std::chrono::minutes age) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return false;
  return std::chrono::system_clock::now() - std::chrono::system_clock::from_time_t(st.st_mtime) > age;
}

void removeStaleCgroups(const CgroupLayout& layout) {
  for (const auto& root : layout.roots()) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(root, ec)) {
      if (!entry.is_directory()) continue;
      if (layout.v2) (void)writeFile(entry.path().string() + "/cgroup.kill", "1");
      killPidsIn(entry.path().string());
      removeDir(entry.path().string());
    }
    // Servers that were killed (and whose data directories may be gone) leave empty groups
    // behind. Remove the ones that hold no process and are old; never a live one's: an
    // instance's group holds its processes, and a new group is young.
    const std::string all = fs::path(root).parent_path().string();
    for (const auto& server : fs::directory_iterator(all, ec)) {
      if (!server.is_directory() || server.path().string() == root) continue;
      // Judged before its groups go: removing them makes the directory look new.
      const bool old_server = olderThan(server.path().string(), std::chrono::minutes(10));
      std::error_code inner;
      for (const auto& group : fs::directory_iterator(server.path(), inner)) {
        const std::string dir = group.path().string();
        if (group.is_directory() && readFile(dir + "/cgroup.procs").empty() &&
            olderThan(dir, std::chrono::minutes(10))) {
          ::rmdir(dir.c_str());
        }
      }
      if (old_server) ::rmdir(server.path().c_str());  // fails, as it should, while it has groups
    }
  }
}

Cgroup::Cgroup(const CgroupLayout& layout, std::vector<std::string> dirs)
    : layout_(layout), dirs_(std::move(dirs)) {}

Result<std::unique_ptr<Cgroup>> Cgroup::create(const CgroupLayout& layout, const std::string& name,
                                               const CgroupLimits& limits) {
  std::vector<std::string> dirs;
  for (const auto& root : layout.roots()) dirs.push_back(root + "/" + name);
  std::unique_ptr<Cgroup> group(new Cgroup(layout, {}));
  for (const auto& dir : dirs) {
    // This server's parent may have been swept as old and empty by another server's start.
    if (!fs::exists(fs::path(dir).parent_path())) {
      std::error_code ec;
      fs::create_directories(fs::path(dir).parent_path(), ec);
      if (layout.v2) {
        (void)writeFile(fs::path(dir).parent_path().string() + "/cgroup.subtree_control",
                        "+memory +pids +cpu");
      }
    }
    if (::mkdir(dir.c_str(), 0755) != 0) {
      return internalError(fmt::format("cgroup: mkdir {}: {}", dir, strerror(errno)));
    }
    group->dirs_.push_back(dir);  // from here the destructor removes it
  }
  const int64_t quota_us = static_cast<int64_t>(std::llround(limits.cpus * 100000));
  if (layout.v2) {
    const std::string& dir = group->dirs_[0];
    GUST_RETURN_IF_ERROR(writeFile(dir + "/memory.max", std::to_string(limits.memory_bytes)));
    GUST_RETURN_IF_ERROR(writeFile(dir + "/memory.swap.max", "0"));
    (void)writeFile(dir + "/memory.oom.group", "1");
    GUST_RETURN_IF_ERROR(writeFile(dir + "/pids.max", std::to_string(limits.max_pids)));
    GUST_RETURN_IF_ERROR(writeFile(dir + "/cpu.max", fmt::format("{} 100000", quota_us)));
  } else {
    const std::string memory = group->fileIn(layout.memory, "");
    GUST_RETURN_IF_ERROR(
        writeFile(memory + "memory.limit_in_bytes", std::to_string(limits.memory_bytes)));
    // No swap: with swap accounting the combined limit equals the memory limit.
    if (fs::exists(memory + "memory.memsw.limit_in_bytes")) {
      GUST_RETURN_IF_ERROR(
          writeFile(memory + "memory.memsw.limit_in_bytes", std::to_string(limits.memory_bytes)));
    }
    (void)writeFile(memory + "memory.swappiness", "0");
    GUST_RETURN_IF_ERROR(writeFile(group->fileIn(layout.pids, "pids.max"),
                                   std::to_string(limits.max_pids)));
    if (!layout.cpu.empty()) {
      GUST_RETURN_IF_ERROR(writeFile(group->fileIn(layout.cpu, "cpu.cfs_period_us"), "100000"));
      GUST_RETURN_IF_ERROR(
          writeFile(group->fileIn(layout.cpu, "cpu.cfs_quota_us"), std::to_string(quota_us)));
    }
  }
  return group;
}

Cgroup::~Cgroup() {
  killAll();
  for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) removeDir(*it);
}

std::string Cgroup::fileIn(const std::string& root, const char* file) const {
  for (const auto& dir : dirs_) {
    if (dir.compare(0, root.size() + 1, root + "/") == 0) return dir + "/" + file;
  }
  return "";
}

Status Cgroup::setMemoryLimit(int64_t bytes) {
  if (layout_.v2) return writeFile(dirs_[0] + "/memory.max", std::to_string(bytes));
  const std::string memory = fileIn(layout_.memory, "memory.limit_in_bytes");
  const std::string combined = fileIn(layout_.memory, "memory.memsw.limit_in_bytes");
  const bool has_combined = fs::exists(combined);
  // The combined (memory + swap) limit may never be below the memory limit: lower the memory
  // limit first, raise the combined one first.
  if (has_combined) {
    Status raised = writeFile(combined, std::to_string(bytes));
    GUST_RETURN_IF_ERROR(writeFile(memory, std::to_string(bytes)));
    if (!raised.isOk()) GUST_RETURN_IF_ERROR(writeFile(combined, std::to_string(bytes)));
    return Status::ok();
  }
  return writeFile(memory, std::to_string(bytes));
}

Status Cgroup::attach(pid_t pid) {
  for (const auto& dir : dirs_) {
    GUST_RETURN_IF_ERROR(writeFile(dir + "/cgroup.procs", std::to_string(pid)));
  }
  return Status::ok();
}

bool Cgroup::oomKilled() const {
  if (layout_.v2) return keyedValue(readFile(dirs_[0] + "/memory.events"), "oom_kill") > 0;
  return keyedValue(readFile(fileIn(layout_.memory, "memory.oom_control")), "oom_kill") > 0;
}

bool Cgroup::pidsExhausted() const {
  const std::string& root = layout_.v2 ? layout_.unified : layout_.pids;
  return keyedValue(readFile(fileIn(root, "pids.events")), "max") > 0;
}

std::unique_ptr<os::UsageMeter> Cgroup::meter() const {
  if (layout_.v2) return std::make_unique<CgroupMeter>(true, dirs_[0], dirs_[0]);
  std::string cpuacct = fileIn(layout_.cpuacct, ""), memory = fileIn(layout_.memory, "");
  if (layout_.cpuacct.empty() || cpuacct.empty() || memory.empty()) return nullptr;
  cpuacct.pop_back();  // fileIn's trailing '/'
  memory.pop_back();
  return std::make_unique<CgroupMeter>(false, cpuacct, memory);
}

void Cgroup::killAll() {
  if (dirs_.empty()) return;
  if (layout_.v2) (void)writeFile(dirs_[0] + "/cgroup.kill", "1");
  for (const auto& dir : dirs_) killPidsIn(dir);
}

}  // namespace gust::sandbox
