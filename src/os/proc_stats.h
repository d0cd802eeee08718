#pragma once
// Resource readings for metering one activation of a warm instance: CPU time split into user
// and system, and peak memory, which can be reset between activations. UsageMeter is what the
// worker asks; ProcessMeter reads one process's /proc files (an unconfined instance); a sandbox
// with cgroups meters its whole group instead (sandbox/linux/cgroup.h), for fewer syscalls and
// every process the function started.

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "common/status.h"

namespace gust::os {

struct ProcessUsage {
  int64_t cpu_ns = 0;          // on-CPU time of all threads (exact, nanoseconds)
  int64_t user_ticks = 0;      // user time in any unit (ticks, µs): only its ratio to system counts
  int64_t system_ticks = 0;    // system time, in the same unit
  int64_t peak_rss_bytes = 0;  // peak memory since the last resetPeak()
};

// Reads one instance's usage, many times. Not thread-safe; owned by one instance.
class UsageMeter {
 public:
  virtual ~UsageMeter() = default;
  virtual Result<ProcessUsage> read() = 0;
  // Starts a new peak at the current usage.
  virtual Status resetPeak() = 0;
};

// One process's usage from /proc: keeps its files open and re-reads them with pread, so a
// reading costs a few syscalls instead of an opendir and a dozen opens. Thread fds are rescanned
// when the thread count changes. The peak is VmHWM; resetPeak() writes 5 to clear_refs.
class ProcessMeter final : public UsageMeter {
 public:
  explicit ProcessMeter(pid_t pid);
  ~ProcessMeter() override;
  ProcessMeter(const ProcessMeter&) = delete;
  ProcessMeter& operator=(const ProcessMeter&) = delete;

  Result<ProcessUsage> read() override;
  Status resetPeak() override;

 private:
  void rescanThreads();

  pid_t pid_;
  int stat_fd_ = -1;
  int status_fd_ = -1;
  int clear_refs_fd_ = -1;
  std::vector<int> thread_fds_;  // /proc/PID/task/TID/schedstat
};

struct CpuSplit {
  int64_t user_ns = 0;
  int64_t system_ns = 0;
};
// The CPU time between two readings. The total is exact but not split; the user/system counters
// are split but coarse (ticks of 10 ms), so the exact total is divided in their proportion.
CpuSplit cpuBetween(const ProcessUsage& before, const ProcessUsage& after);

}  // namespace gust::os
