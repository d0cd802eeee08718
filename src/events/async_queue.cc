// DESIGN: an invocation moves queued -> running -> (queued again for a retry) -> succeeded or
// dead. The store is the queue: claiming marks rows running and counts a start in one
// transaction; the end of an attempt records the attempt and the next state in another. So
// (1) an accepted invocation is never lost: a crash leaves it queued or running, and a start
// requeues running ones (at-least-once: a function cut short by a crash runs again); (2) a row
// is run by one attempt at a time; (3) attempt 1's activation id is the invocation's id (the
// one the 202 gave), later attempts and re-runs after a crash get fresh ones, so no two
// activation records share an id. Throttled tries (no capacity) wait and do not count.

#include "events/async_queue.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>

#include "common/ids.h"
#include "common/time.h"
#include "loop/offload.h"
#include "observe/log.h"

namespace gust::events {
namespace asio = boost::asio;
using asio::awaitable;

std::chrono::milliseconds retryDelay(int64_t retry, const AsyncOptions& options) {
  int64_t delay = options.retry_base.count();
  for (int64_t i = 1; i < retry && delay < options.retry_cap.count(); ++i) delay *= 2;
  return std::chrono::milliseconds(std::min(delay, options.retry_cap.count()));
}

store::AsyncInvocationRecord afterAttempt(store::AsyncInvocationRecord r,
                                          const AttemptOutcome& outcome, int64_t now_us,
                                          const AsyncOptions& options) {
  int64_t deadline_us = r.received_at_us + r.max_event_age_s * 1000000;
  if (outcome.throttled) {
    r.next_attempt_at_us = now_us + options.throttle_delay.count() * 1000;
    r.state = "queued";
    if (r.next_attempt_at_us > deadline_us) {
      r.state = "dead";
      r.dead_reason = "max_event_age";
      r.last_error = outcome.error.empty() ? "no capacity before max_event_age" : outcome.error;
      r.finished_at_us = now_us;
    }
    return r;
  }
  ++r.attempts;
  if (outcome.ok) {
    r.state = "succeeded";
    // Done with: the activation records what ran. TODO(retention): succeeded rows stay (small,
    // without payload); prune them with the activation records.
    r.payload.clear();
    r.last_error.clear();
    r.finished_at_us = now_us;
    return r;
  }
  r.last_error = outcome.error;
  if (r.attempts > r.max_retries) {
    r.state = "dead";
    r.dead_reason = "retries_exhausted";
    r.finished_at_us = now_us;
    return r;
  }
  r.next_attempt_at_us = now_us + retryDelay(r.attempts, options).count() * 1000;
  if (r.next_attempt_at_us > deadline_us) {
    r.state = "dead";
    r.dead_reason = "max_event_age";
    r.finished_at_us = now_us;
    return r;
  }
  r.state = "queued";
  return r;
}

AsyncQueue::AsyncQueue(asio::any_io_executor executor, store::Store& store,
                       gateway::Invoker& invoker, asio::thread_pool& blocking, AsyncOptions options,
                       Destinations* destinations)
    : executor_(std::move(executor)),
      store_(store),
      invoker_(invoker),
      blocking_(blocking),
      options_(options),
      destinations_(destinations),
      timer_(executor_) {}

void AsyncQueue::start() { asio::co_spawn(executor_, dispatch(), asio::detached); }

void AsyncQueue::stop() {
  stopped_ = true;
  timer_.cancel();
}

void AsyncQueue::wake() {
  asio::post(executor_, [this] {
    woken_ = true;
    timer_.cancel();
  });
}

awaitable<void> AsyncQueue::dispatch() {
  auto blocking = blocking_.get_executor();
  while (!stopped_) {
    woken_ = false;
    int room = options_.max_in_flight - in_flight_;
    bool full_batch = false;
    if (room > 0) {
      int64_t now = nowMicros();
      auto claim = [this, now, room] { return store_.claimDueAsync(now, room); };
      auto claimed = co_await loop::offload(blocking, claim);
      if (!claimed) {
        observe::logEvent(observe::LogLevel::Error, "async.claim_failed",
                          {{"error", claimed.status().message()}});
      } else {
        full_batch = static_cast<int>(claimed->size()) == room;
        for (auto& record : *claimed) {
          ++in_flight_;
          asio::co_spawn(executor_, attempt(std::move(record)), asio::detached);
        }
      }
    }
    if (stopped_) break;
    if (woken_ || (full_batch && in_flight_ < options_.max_in_flight)) continue;
    timer_.expires_after(options_.poll);
    boost::system::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

awaitable<void> AsyncQueue::attempt(store::AsyncInvocationRecord record) {
  auto blocking = blocking_.get_executor();
  int64_t started = nowMicros();
  AttemptOutcome outcome;
  std::string activation_id;
  Completion completion;
  if (destinations_) completion.payload = record.payload;  // emptied on success
  if (started - record.received_at_us > record.max_event_age_s * 1000000) {
    // Too old to run (it waited out a long outage, say): straight to the dead letters.
    record.state = "dead";
    record.dead_reason = "max_event_age";
    record.finished_at_us = started;
    if (record.last_error.empty()) record.last_error = "the event grew older than max_event_age";
  } else {
    gateway::DirectInvocation invocation;
    invocation.tenant = record.tenant;
    invocation.function = record.function;
    invocation.qualifier = record.qualifier;
    invocation.entry = record.entry;
    invocation.payload = record.payload;
    invocation.trace_id = record.trace_id;
    activation_id = record.starts == 1 ? record.id : newActivationId();
    invocation.activation_id = activation_id;
    invocation.trigger = record.trigger;
    invocation.received_at_us = record.received_at_us;
    auto result = co_await invoker_.invokeDirect(std::move(invocation));
    outcome.ok = result.status.isOk();
    outcome.throttled = result.state == "throttled";
    outcome.status = result.state.empty() ? std::string(result.status.codeName()) : result.state;
    outcome.error = result.status.isOk() ? "" : result.status.message();
    completion.result = std::move(result.result);
    completion.status = outcome.status;
    record = afterAttempt(std::move(record), outcome, nowMicros(), options_);
  }
  std::optional<store::AsyncAttemptRecord> attempt_record;
  if (!activation_id.empty() && !outcome.throttled) {
    attempt_record = store::AsyncAttemptRecord{record.id, record.attempts, activation_id,
                                                outcome.status, outcome.error, started, nowMicros()};
  }
  if (destinations_ && (record.state == "succeeded" || record.state == "dead")) {
    // Before the commit: a crash in between re-runs the invocation and delivers again
    // (at-least-once), rather than losing the delivery.
    completion.record = record;
    auto deliver = [this, &completion] {
      destinations_->deliver(completion);
      return true;
    };
    co_await loop::offload(blocking, deliver);
  }
  auto finish = [this, &attempt_record, &record] {
    return store_.finishAsyncAttempt(attempt_record, record);
  };
  Status finished = co_await loop::offload(blocking, finish);
  if (!finished.isOk()) {
    // The row stays 'running' and is requeued at the next start: at-least-once still holds.
    observe::logEvent(observe::LogLevel::Error, "async.finish_failed",
                      {{"invocation", record.id}, {"error", finished.message()}});
  } else if (record.state == "dead") {
    observe::logEvent(observe::LogLevel::Warn, "async.dead_letter",
                      {{"invocation", record.id}, {"tenant", record.tenant},
                       {"function", record.function}, {"reason", record.dead_reason},
                       {"attempts", record.attempts}, {"error", record.last_error}});
  }
  --in_flight_;
  if (record.state == "queued" || in_flight_ + 1 == options_.max_in_flight) {
    woken_ = true;
    timer_.cancel();
  }
}

}  // namespace gust::events
