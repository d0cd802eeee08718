#pragma once
// CronRunner: fires the cron triggers the store holds. Each tick it reads the triggers, and for
// each one not paused whose next slot is due, claims the slot in the store and enqueues the
// event as an asynchronous invocation in the same transaction (so the AsyncQueue runs, retries
// and dead-letters it). A slot that fell due before this process started was missed (the server
// was down): it fires once if the trigger says catch_up, else it is skipped.
// Owned by Events; runs on the events loop.

#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "events/cron/schedule.h"
#include "store/store.h"

namespace gust::events::cron {

// A cron trigger's settings, stored as TriggerRecord::config_json.
struct CronConfig {
  std::string schedule;
  std::string tz = "UTC";
  nlohmann::json payload;  // null when not given
  bool catch_up = false;
};
nlohmann::json toJson(const CronConfig& config);
Result<CronConfig> cronConfigFromJson(std::string_view text);

// The event a slot sends: {"eventSource": "gust:cron", "time": "<slot, RFC 3339>", ...}.
std::string cronEvent(const store::TriggerRecord& trigger, const CronConfig& config, int64_t slot_us);

class CronRunner final {
 public:
  // `enqueued` is called (on this loop) after a slot was fired, to wake the AsyncQueue.
  CronRunner(boost::asio::any_io_executor executor, store::Store& store,
             boost::asio::thread_pool& blocking, std::function<void()> enqueued,
             std::chrono::milliseconds tick = std::chrono::milliseconds(250));

  void start();
  void stop();

 private:
  boost::asio::awaitable<void> run();
  // Fires (or skips) what is due; blocking: runs on the blocking pool. Returns how many fired.
  int tick(int64_t now_us);

  boost::asio::any_io_executor executor_;
  store::Store& store_;
  boost::asio::thread_pool& blocking_;
  std::function<void()> enqueued_;
  std::chrono::milliseconds tick_;
  boost::asio::steady_timer timer_;
  int64_t started_at_us_ = 0;
  bool stopped_ = false;
};

}  // namespace gust::events::cron
