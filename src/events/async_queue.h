#pragma once
// AsyncQueue: runs the durable asynchronous invocations the store holds — those accepted with
// `X-Gust-Invocation-Type: Event` or `gust invoke --async`, and those cron fires. It claims due
// invocations, runs each through the Invoker (so through the scheduler, like any invocation),
// records every attempt, retries failures with exponential backoff and moves what still fails
// (or grows older than the function's max_event_age) to the function's dead letters. A final
// outcome (succeeded, or dead) goes to the function's destination, if it names one, before the
// outcome is committed.
// Owned by Events; all methods but wake() run on the events loop; wake() is thread-safe.

#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstdint>

#include "events/destinations.h"
#include "gateway/invoker.h"
#include "store/store.h"

namespace gust::events {

struct AsyncOptions {
  int max_in_flight = 32;  // attempts running at once, across functions
  std::chrono::milliseconds poll{250};            // how often it looks for due retries
  std::chrono::milliseconds retry_base{1000};     // the first retry's delay; doubles after
  std::chrono::milliseconds retry_cap{300000};    // the longest delay between attempts
  std::chrono::milliseconds throttle_delay{1000}; // when the function had no capacity
};

// The delay before retry number `retry` (1 = the first retry): base * 2^(retry-1), capped.
std::chrono::milliseconds retryDelay(int64_t retry, const AsyncOptions& options);

// What an attempt's outcome does to the invocation: pure, so it is unit-tested.
struct AttemptOutcome {
  bool ok = false;
  bool throttled = false;  // no capacity: not an attempt, try again shortly
  std::string status;      // the activation's status
  std::string error;
};
store::AsyncInvocationRecord afterAttempt(store::AsyncInvocationRecord record,
                                          const AttemptOutcome& outcome, int64_t now_us,
                                          const AsyncOptions& options);

class AsyncQueue final {
 public:
  AsyncQueue(boost::asio::any_io_executor executor, store::Store& store, gateway::Invoker& invoker,
             boost::asio::thread_pool& blocking, AsyncOptions options,
             Destinations* destinations = nullptr);

  // Starts the dispatcher (call on the events loop).
  void start();
  // Stops claiming; attempts in flight finish (or are requeued at the next start).
  void stop();
  // Look for due invocations now (one was enqueued). Any thread.
  void wake();

 private:
  boost::asio::awaitable<void> dispatch();
  boost::asio::awaitable<void> attempt(store::AsyncInvocationRecord record);

  boost::asio::any_io_executor executor_;
  store::Store& store_;
  gateway::Invoker& invoker_;
  boost::asio::thread_pool& blocking_;
  AsyncOptions options_;
  Destinations* destinations_;  // where final outcomes go (on_success / on_failure); may be null
  boost::asio::steady_timer timer_;
  int in_flight_ = 0;
  bool stopped_ = false;
  bool woken_ = false;
};

}  // namespace gust::events
