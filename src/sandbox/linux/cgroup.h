#pragma once
// A Cgroup holds one sandbox's processes under the limits it was created with: memory (no swap),
// pids and CPU. It uses cgroup v2 when /sys/fs/cgroup is the unified hierarchy, and the v1
// controllers otherwise (Debian 12 hosts and these CI machines mount v1). Groups live under
// <hierarchy>/gust/<name>. Owned by the server side of one instance; not thread-safe.

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "os/proc_stats.h"

namespace gust::sandbox {

struct CgroupLimits {
  int64_t memory_bytes = 256 << 20;
  int64_t max_pids = 64;
  double cpus = 1.0;  // CPU quota in cores
};

// Where the controllers are mounted, found once at start.
struct CgroupLayout {
  bool v2 = false;
  std::string unified;  // v2: /sys/fs/cgroup
  std::string memory;   // v1: one directory per controller
  std::string pids;
  std::string cpu;
  std::string cpuacct;  // may equal cpu when co-mounted, or be empty
  std::string server;   // "gust/<key>": this server's part of each hierarchy
  // This server's parent directory in each hierarchy (one per v1 controller, one for v2).
  std::vector<std::string> roots() const;
};

// Finds the controllers and makes this server's parent group `gust/<server_key>`; an error names
// the missing controller (memory and pids are mandatory).
Result<CgroupLayout> detectCgroups(const std::string& server_key);

// Kills and removes the groups a previous server left behind (after a crash).
void removeStaleCgroups(const CgroupLayout& layout);

class Cgroup final {
 public:
  static Result<std::unique_ptr<Cgroup>> create(const CgroupLayout& layout, const std::string& name,
                                                const CgroupLimits& limits);
  ~Cgroup();  // kills what is left and removes the group
  Cgroup(const Cgroup&) = delete;
  Cgroup& operator=(const Cgroup&) = delete;

  // Changes the memory limit (a pre-started instance takes its function's).
  Status setMemoryLimit(int64_t bytes);
  // Moves `pid` (and its future children) into the group.
  Status attach(pid_t pid);
  // Whether the memory limit killed a process of the group.
  bool oomKilled() const;
  // Whether a fork failed at the pids limit.
  bool pidsExhausted() const;
  // SIGKILLs every process in the group.
  void killAll();
  // Meters the whole group: CPU (v1 cpuacct.usage and .stat, v2 cpu.stat) and peak memory
  // (v1 memory.max_usage_in_bytes, v2 memory.peak), with the files kept open. Null when the
  // CPU accounting controller is not mounted (v1 without cpuacct).
  std::unique_ptr<os::UsageMeter> meter() const;

 private:
  Cgroup(const CgroupLayout& layout, std::vector<std::string> dirs);
  std::string fileIn(const std::string& root, const char* file) const;

  CgroupLayout layout_;
  std::vector<std::string> dirs_;  // the group's directory in each hierarchy
};

}  // namespace gust::sandbox
