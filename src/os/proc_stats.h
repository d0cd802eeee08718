#pragma once
// Per-process resource readings from /proc, for metering one activation of a warm instance:
// CPU time split into user and system, and peak resident memory, which can be reset between
// activations.

#include <sys/types.h>

#include <cstdint>

#include "common/status.h"

namespace gust::os {

struct ProcessUsage {
  int64_t cpu_ns = 0;          // on-CPU time of all threads (schedstat, nanoseconds)
  int64_t user_ticks = 0;      // utime, clock ticks (all threads, waited children excluded)
  int64_t system_ticks = 0;    // stime
  int64_t peak_rss_bytes = 0;  // VmHWM since the last resetPeakRss()
};

Result<ProcessUsage> readProcessUsage(pid_t pid);

// Resets VmHWM to the current RSS (writes 5 to /proc/PID/clear_refs).
Status resetPeakRss(pid_t pid);

struct CpuSplit {
  int64_t user_ns = 0;
  int64_t system_ns = 0;
};
// The CPU time between two readings. schedstat is exact but not split; the tick counters are
// split but coarse (10 ms), so the exact total is divided in the ticks' proportion.
CpuSplit cpuBetween(const ProcessUsage& before, const ProcessUsage& after);

}  // namespace gust::os
