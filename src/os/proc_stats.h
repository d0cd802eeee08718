#pragma once
// Per-process resource readings from /proc, for metering one activation of a warm instance:
// CPU time split into user and system, and peak resident memory, which can be reset between
// activations.

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "common/status.h"

namespace gust::os {

struct ProcessUsage {
  int64_t cpu_ns = 0;          // on-CPU time of all threads (schedstat, nanoseconds)
  int64_t user_ticks = 0;      // utime, clock ticks (all threads, waited children excluded)
  int64_t system_ticks = 0;    // stime
  int64_t peak_rss_bytes = 0;  // VmHWM since the last resetPeakRss()
};

// Reads one process's usage, many times: keeps its /proc files open and re-reads them with
// pread, so a reading costs a few syscalls instead of an opendir and a dozen opens. Thread fds
// are rescanned when the thread count changes. Not thread-safe; owned by one instance.
class ProcessMeter final {
 public:
  explicit ProcessMeter(pid_t pid);
  ~ProcessMeter();
  ProcessMeter(const ProcessMeter&) = delete;
  ProcessMeter& operator=(const ProcessMeter&) = delete;

  Result<ProcessUsage> read();
  // Resets VmHWM to the current RSS (writes 5 to /proc/PID/clear_refs).
  Status resetPeak();

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
// The CPU time between two readings. schedstat is exact but not split; the tick counters are
// split but coarse (10 ms), so the exact total is divided in the ticks' proportion.
CpuSplit cpuBetween(const ProcessUsage& before, const ProcessUsage& after);

}  // namespace gust::os
