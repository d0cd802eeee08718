#pragma once
// Scheduler: decides where each invocation runs. Per function version (and entry) it keeps a
// pool of instances: an invocation takes an instance with a free slot, else starts one while
// under max_instances, else waits in a bounded queue, else is turned away (503). Idle instances
// stop after a keep-alive TTL. Owned by the server; all methods run on the scheduler's loop
// (callers co_spawn onto executor()).

#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>

#include "common/status.h"
#include "worker/instance.h"

namespace gust::scheduler {

struct FunctionLimits {
  int64_t timeout_s = 30;
  int64_t concurrency = 1;
  int64_t max_instances = 10;
};

struct InvocationTask {
  worker::InstanceSpec spec;
  FunctionLimits limits;
  std::string activation_id;
  std::string event;
  std::string trace_id;
  std::shared_ptr<worker::StreamSink> stream;  // set when a streamed reply can be relayed
};

struct InvocationOutcome {
  Status status;            // Ok, FunctionError, DeadlineExceeded or Unavailable
  std::string state;        // "success", "error", "crashed", "timeout", "init_error", "throttled"
  std::string result;       // the handler's JSON result when ok
  bool streamed = false;    // the result went out through InvocationTask::stream instead
  bool cold = false;
  int64_t init_ms = 0;
  int64_t started_at_us = 0;   // dispatched to the instance (after any queueing)
  int64_t finished_at_us = 0;  // reply (or failure) seen
  std::string logs;
  int64_t cpu_user_ns = 0;     // the instance's use during this invocation
  int64_t cpu_sys_ns = 0;
  int64_t peak_rss_bytes = 0;
};

// How a trial start ended (Scheduler::tryLoad).
struct LoadOutcome {
  Status status;          // Ok once READY; else why the code did not load
  std::string init_logs;  // what the code printed while it loaded
};

struct SchedulerOptions {
  std::chrono::milliseconds idle_ttl{std::chrono::minutes(5)};
  std::size_t max_queue_per_function = 100;
  std::chrono::milliseconds max_queue_wait{std::chrono::seconds(10)};
};

struct PoolStats {
  std::string tenant;
  std::string function;
  int64_t version = 0;
  std::string entry;
  int instances = 0;
  int busy = 0;
  int queued = 0;
};

class Scheduler final {
 public:
  // `launcher` starts instances on `executor`; both outlive the scheduler.
  Scheduler(boost::asio::any_io_executor executor, worker::InstanceLauncher& launcher,
            SchedulerOptions options);
  ~Scheduler();

  boost::asio::any_io_executor executor() const { return executor_; }

  boost::asio::awaitable<InvocationOutcome> invoke(InvocationTask task);
  // Stops every instance of the function (all versions): it was deleted or redeployed.
  void dropFunction(const std::string& tenant, const std::string& function);
  std::vector<PoolStats> stats() const;
  // A function like `spec` was deployed: the launcher may get ready for its first cold start
  // (a pre-started instance for its tenant and runtime). Callable from any thread.
  void prepare(worker::InstanceSpec spec);
  // Starts one instance of `spec` as a cold start would (the same launcher and sandbox, the
  // function's limits, its init deadline) and stops it once it is READY: a deploy's check that
  // its code loads, before the version exists. The instance joins no pool.
  boost::asio::awaitable<LoadOutcome> tryLoad(worker::InstanceSpec spec, FunctionLimits limits);
  // Kills every instance; later invocations fail with Unavailable.
  void shutdown();

  struct Pool;
  struct Slot;

 private:
  struct Lease;
  boost::asio::awaitable<Result<Lease>> acquire(Pool& pool, std::string& init_logs);
  void release(Pool& pool, const std::shared_ptr<Slot>& slot);
  // Gives a slot's free capacity to queued invocations, oldest first.
  void handOver(Pool& pool, const std::shared_ptr<Slot>& slot);
  void removeSlot(Pool& pool, const std::shared_ptr<Slot>& slot);
  boost::asio::awaitable<void> reapIdle();

  boost::asio::any_io_executor executor_;
  worker::InstanceLauncher& launcher_;
  SchedulerOptions options_;
  std::unordered_map<std::string, std::shared_ptr<Pool>> pools_;
  boost::asio::steady_timer reaper_;
  bool stopped_ = false;
};

}  // namespace gust::scheduler
