// DESIGN: the store holds each cron trigger's last claimed slot. A tick computes the newest
// slot due after it; claimCronSlot() moves last_slot from the value read to that slot and
// inserts the invocation in one transaction, guarded by the value read (compare-and-set). So a
// slot fires at most once, across restarts and even with two processes on one database, and a
// fired slot is never lost: the invocation is durable when the claim commits. Slots between
// the last claimed one and the newest due one are skipped, never fired in a burst.

#include "events/cron/cron_runner.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "bundle/manifest.h"
#include "common/ids.h"
#include "common/time.h"
#include "loop/offload.h"
#include "observe/log.h"
#include "protocol/json_input.h"

namespace gust::events::cron {
namespace asio = boost::asio;
using nlohmann::json;

json toJson(const CronConfig& c) {
  return {{"schedule", c.schedule}, {"tz", c.tz}, {"payload", c.payload}, {"catch_up", c.catch_up}};
}

Result<CronConfig> cronConfigFromJson(std::string_view text) {
  json j = protocol::parseJsonOrDiscarded(text);
  if (!j.is_object() || !j.contains("schedule") || !j["schedule"].is_string()) {
    return internalError("a stored cron trigger's config is corrupt");
  }
  CronConfig c;
  c.schedule = j["schedule"].get<std::string>();
  c.tz = j.value("tz", "UTC");
  c.payload = j.value("payload", json());
  c.catch_up = j.value("catch_up", false);
  return c;
}

std::string cronEvent(const store::TriggerRecord& trigger, const CronConfig& config,
                      int64_t slot_us) {
  json event = {{"eventSource", "gust:cron"}, {"time", formatRfc3339Micros(slot_us)},
                {"triggerId", trigger.id},    {"schedule", config.schedule},
                {"timeZone", config.tz},      {"payload", config.payload}};
  return event.dump();
}

CronRunner::CronRunner(asio::any_io_executor executor, store::Store& store,
                       asio::thread_pool& blocking, std::function<void()> enqueued,
                       std::chrono::milliseconds tick)
    : executor_(std::move(executor)),
      store_(store),
      blocking_(blocking),
      enqueued_(std::move(enqueued)),
      tick_(tick),
      timer_(executor_) {}

void CronRunner::start() {
  started_at_us_ = nowMicros();
  asio::co_spawn(executor_, run(), asio::detached);
}

void CronRunner::stop() {
  stopped_ = true;
  timer_.cancel();
}

asio::awaitable<void> CronRunner::run() {
  auto blocking = blocking_.get_executor();
  while (!stopped_) {
    int64_t now = nowMicros();
    auto work = [this, now] { return tick(now); };
    int fired = co_await loop::offload(blocking, work);
    if (fired > 0 && enqueued_) enqueued_();
    if (stopped_) break;
    timer_.expires_after(tick_);
    boost::system::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

int CronRunner::tick(int64_t now_us) {
  auto triggers = store_.listTriggers(std::nullopt);
  if (!triggers) {
    observe::logEvent(observe::LogLevel::Error, "cron.list_failed",
                      {{"error", triggers.status().message()}});
    return 0;
  }
  int fired = 0;
  for (const auto& trigger : *triggers) {
    if (trigger.kind != "cron" || trigger.paused) continue;
    auto config = cronConfigFromJson(trigger.config_json);
    if (!config) continue;
    // TODO(perf): parse once per trigger, not per tick.
    auto schedule = Schedule::parse(config->schedule, config->tz);
    if (!schedule) continue;
    auto due = schedule->latestDue(trigger.last_slot_us, now_us);
    if (!due) continue;
    bool missed = *due < started_at_us_;
    std::optional<store::AsyncInvocationRecord> fire;
    if (!missed || config->catch_up) {
      store::AsyncInvocationRecord r;
      r.id = newActivationId();
      r.tenant = trigger.tenant;
      r.function = trigger.function;
      r.payload = cronEvent(trigger, *config, *due);
      r.trigger = "cron";
      r.source = trigger.id;
      r.trace_id = randomHex(16);
      r.received_at_us = now_us;
      r.next_attempt_at_us = now_us;
      r.state = "queued";
      // Retries and event age are the live version's. A removed function's slots are skipped
      // (and said so), not piled up as dead letters.
      auto live =
          store_.resolveAlias(trigger.tenant, trigger.function, std::string(store::kLiveAlias));
      if (live) {
        if (auto function_config = bundle::functionConfigFromJson(live->config_json)) {
          r.max_retries = function_config->max_retries;
          r.max_event_age_s = function_config->max_event_age_s;
        }
        fire = r;
      } else {
        observe::logEvent(observe::LogLevel::Warn, "cron.no_function",
                          {{"trigger", trigger.id},
                           {"function", trigger.function},
                           {"tenant", trigger.tenant},
                           {"error", live.status().message()}});
      }
    }
    auto claimed = store_.claimCronSlot(trigger.id, trigger.last_slot_us, *due, fire);
    if (!claimed) {
      observe::logEvent(observe::LogLevel::Error, "cron.claim_failed",
                        {{"trigger", trigger.id}, {"error", claimed.status().message()}});
      continue;
    }
    if (!*claimed) continue;  // another claim won the slot
    observe::logEvent(observe::LogLevel::Info, fire ? "cron.fired" : "cron.skipped",
                      {{"trigger", trigger.id},
                       {"function", trigger.function},
                       {"tenant", trigger.tenant},
                       {"slot", formatRfc3339Micros(*due)},
                       {"invocation", fire ? fire->id : ""}});
    if (fire) ++fired;
  }
  return fired;
}

}  // namespace gust::events::cron
