#pragma once
// What one activation used (CPU split into user and system, and peak memory), however it ended:
// a reply, a timeout, a crash or an out-of-memory kill. The activations that fail are the ones
// a user most needs to see measured, so the counters are read before the instance's process is
// reaped and its cgroup removed, and the activations still waiting take that last reading.

#include <cstdint>
#include <memory>
#include <optional>

#include "os/proc_stats.h"

namespace gust::os {

struct ActivationUsage {
  int64_t cpu_user_ns = 0;
  int64_t cpu_sys_ns = 0;
  int64_t peak_rss_bytes = 0;  // since the activation began
};

// Meters the activations of one instance from its UsageMeter. Several may overlap (an instance
// with concurrency > 1): each has its own starting reading, and the peak, which the counters
// hold once per instance, restarts at the latest begin(). Owned by one instance; not
// thread-safe.
class ActivationMeter final {
 public:
  // The counters as an activation found them; empty when they could not be read.
  using Start = std::optional<ProcessUsage>;

  explicit ActivationMeter(std::unique_ptr<UsageMeter> meter);

  // Starts a new peak and reads the counters: call just before the activation's work is sent.
  Start begin();
  // What was used since `start`: up to now, or up to the final reading once there is one. Zero
  // when either reading is missing (unmetered, or the counters were gone).
  ActivationUsage usageSince(const Start& start);
  // The instance's processes have ended: reads the counters one last time, while they still
  // exist, and answers every later usageSince() from that reading.
  void takeFinalReading();

 private:
  std::optional<ProcessUsage> read();

  std::unique_ptr<UsageMeter> meter_;
  std::optional<ProcessUsage> final_;
  bool ended_ = false;
};

}  // namespace gust::os
