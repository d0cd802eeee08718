// DESIGN: a Pool holds Slots (one instance each, with its in-flight count) and a FIFO of
// waiters. Invariants: (1) a slot's inflight never exceeds the pool's concurrency; (2) slots
// plus instances being started never exceed max_instances; (3) a waiter is in the queue exactly
// while it waits: release() hands a freed slot straight to the oldest waiter (inflight already
// counted for it), and a dead slot wakes one waiter with nullptr so it may start a replacement;
// (4) dead instances are removed when their invocation ends, idle ones by the reaper.
// Most-recently-used slots are preferred, so surplus instances go idle and are reaped.

#include "scheduler/scheduler.h"

#include <algorithm>
#include <deque>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "common/time.h"
#include "loop/completion.h"

namespace gust::scheduler {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using Clock = std::chrono::steady_clock;

constexpr auto kMinInitTimeout = std::chrono::seconds(10);

std::string poolKey(const worker::InstanceSpec& spec) {
  return fmt::format("{}/{}@{}#{}", spec.tenant, spec.function, spec.version, spec.entry);
}

}  // namespace

struct Scheduler::Slot {
  worker::InstancePtr instance;
  int64_t inflight = 0;
  Clock::time_point last_used = Clock::now();
};

struct Scheduler::Pool {
  worker::InstanceSpec spec;
  FunctionLimits limits;
  std::vector<std::shared_ptr<Slot>> slots;
  int64_t starting = 0;
  std::deque<std::shared_ptr<loop::Completion<std::shared_ptr<Slot>>>> waiters;
};

struct Scheduler::Lease {
  std::shared_ptr<Slot> slot;
  bool cold = false;
  int64_t init_ms = 0;
};

Scheduler::Scheduler(asio::any_io_executor executor, worker::InstanceLauncher& launcher,
                     SchedulerOptions options)
    : executor_(std::move(executor)), launcher_(launcher), options_(options), reaper_(executor_) {
  asio::co_spawn(executor_, reapIdle(), asio::detached);
}

Scheduler::~Scheduler() = default;

awaitable<Result<Scheduler::Lease>> Scheduler::acquire(Pool& pool, std::string& init_logs) {
  auto queue_deadline = Clock::now() + options_.max_queue_wait;
  for (;;) {
    if (stopped_) co_return Status(Code::Unavailable, "the server is shutting down");
    std::shared_ptr<Slot> best;
    for (auto& slot : pool.slots) {
      if (!slot->instance->alive() || slot->inflight >= pool.limits.concurrency) continue;
      if (!best || slot->last_used > best->last_used) best = slot;
    }
    if (best) {
      ++best->inflight;
      co_return Lease{best, false, 0};
    }
    if (static_cast<int64_t>(pool.slots.size()) + pool.starting < pool.limits.max_instances) {
      ++pool.starting;
      auto began = Clock::now();
      auto init_deadline =
          began +
          std::max<Clock::duration>(std::chrono::seconds(pool.limits.timeout_s), kMinInitTimeout);
      auto started = co_await launcher_.start(pool.spec, init_deadline, init_logs);
      --pool.starting;
      if (!started) {
        // Let a waiter try in our place; it will most likely fail the same way, and say so.
        if (!pool.waiters.empty()) {
          auto waiter = pool.waiters.front();
          pool.waiters.pop_front();
          waiter->complete(nullptr);
        }
        co_return started.status();
      }
      auto slot = std::make_shared<Slot>();
      slot->instance = std::move(*started);
      slot->inflight = 1;
      pool.slots.push_back(slot);
      // With concurrency > 1 the new instance can take queued invocations right away, rather
      // than one per finished call.
      handOver(pool, slot);
      Lease lease{
          slot, true,
          std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - began).count()};
      co_return lease;
    }
    if (pool.waiters.size() >= options_.max_queue_per_function) {
      co_return Status(
          Code::Unavailable,
          fmt::format("function '{}' is at max_instances ({}) and {} invocations are "
                      "already queued",
                      pool.spec.function, pool.limits.max_instances, pool.waiters.size()));
    }
    auto waiter = std::make_shared<loop::Completion<std::shared_ptr<Slot>>>(executor_);
    pool.waiters.push_back(waiter);
    auto handed = co_await waiter->wait(queue_deadline);
    if (!handed) {
      std::erase(pool.waiters, waiter);
      co_return Status(Code::Unavailable,
                       fmt::format("function '{}' had no free instance within {} ms (max_instances "
                                   "= {})",
                                   pool.spec.function, options_.max_queue_wait.count(),
                                   pool.limits.max_instances));
    }
    if (*handed) co_return Lease{*handed, false, 0};
    // nullptr: a slot died; loop to start a replacement.
  }
}

void Scheduler::removeSlot(Pool& pool, const std::shared_ptr<Slot>& slot) {
  std::erase(pool.slots, slot);
  if (!pool.waiters.empty()) {
    auto waiter = pool.waiters.front();
    pool.waiters.pop_front();
    waiter->complete(nullptr);
  }
}

void Scheduler::release(Pool& pool, const std::shared_ptr<Slot>& slot) {
  --slot->inflight;
  slot->last_used = Clock::now();
  if (!slot->instance->alive()) {
    if (slot->inflight == 0) removeSlot(pool, slot);
    return;
  }
  handOver(pool, slot);
}

void Scheduler::handOver(Pool& pool, const std::shared_ptr<Slot>& slot) {
  while (slot->instance->alive() && slot->inflight < pool.limits.concurrency &&
         !pool.waiters.empty()) {
    auto waiter = pool.waiters.front();
    pool.waiters.pop_front();
    ++slot->inflight;
    waiter->complete(slot);
  }
}

awaitable<InvocationOutcome> Scheduler::invoke(InvocationTask task) {
  InvocationOutcome outcome;
  std::string key = poolKey(task.spec);
  auto& pool_ref = pools_[key];
  if (!pool_ref) {
    pool_ref = std::make_shared<Pool>();
    pool_ref->spec = task.spec;
  }
  auto pool = pool_ref;  // keep it alive across suspensions even if dropped meanwhile
  pool->limits = task.limits;

  std::string init_logs;
  auto lease = co_await acquire(*pool, init_logs);
  if (!lease) {
    outcome.status = lease.status();
    outcome.logs = std::move(init_logs);
    outcome.state = lease.status().code() == Code::Unavailable ? "throttled" : "init_error";
    outcome.cold = outcome.state != "throttled";
    if (lease.status().code() == Code::DeadlineExceeded) {
      outcome.status = Status(Code::DeadlineExceeded, lease.status().message());
      outcome.state = "timeout";
    }
    outcome.started_at_us = outcome.finished_at_us = nowMicros();
    co_return outcome;
  }
  outcome.cold = lease->cold;
  outcome.init_ms = lease->init_ms;
  auto slot = lease->slot;

  worker::InvokeRequest request;
  request.id = task.activation_id;
  request.event = std::move(task.event);
  request.trace_id = task.trace_id;
  request.stream = task.stream;
  request.deadline = Clock::now() + std::chrono::seconds(task.limits.timeout_s);
  outcome.started_at_us = nowMicros();
  request.deadline_epoch_ms = outcome.started_at_us / 1000 + task.limits.timeout_s * 1000;
  worker::InvokeResult invoked = co_await slot->instance->invoke(std::move(request));
  outcome.finished_at_us = nowMicros();
  // Every ending is metered, failures too: they are what a user most needs to see measured.
  outcome.cpu_user_ns = invoked.usage.cpu_user_ns;
  outcome.cpu_sys_ns = invoked.usage.cpu_sys_ns;
  outcome.peak_rss_bytes = invoked.usage.peak_rss_bytes;
  Result<worker::InvokeReply>& reply = invoked.reply;
  if (reply && reply->ok) {
    outcome.state = "success";
    outcome.result = std::move(reply->body);
    outcome.streamed = reply->streamed;
    outcome.logs = std::move(reply->logs);
  } else if (reply && reply->oversized_bytes > 0) {
    // The function answered, but more than the server holds: not the handler's exception.
    outcome.state = "bad_response";
    outcome.logs = std::move(reply->logs);
    outcome.status = Status(Code::FunctionError, reply->error_message);
  } else if (reply) {
    outcome.state = "error";
    outcome.logs = std::move(reply->logs);
    if (!reply->body.empty())
      outcome.logs += reply->body + (reply->body.ends_with('\n') ? "" : "\n");
    outcome.status =
        Status(Code::FunctionError,
               fmt::format("the function raised {}: {}", reply->error_type, reply->error_message));
  } else if (reply.status().code() == Code::DeadlineExceeded) {
    outcome.state = "timeout";
    // It ran until its deadline; noticing that and killing it is ours, not billed to it.
    outcome.finished_at_us =
        std::min(outcome.finished_at_us, outcome.started_at_us + task.limits.timeout_s * 1'000'000);
    slot->instance->kill("timed out");
    outcome.logs = slot->instance->takeUnclaimedLogs();
    outcome.status =
        Status(Code::DeadlineExceeded, fmt::format("function '{}' timed out after {} s",
                                                   task.spec.function, task.limits.timeout_s));
  } else {
    outcome.state = "crashed";
    outcome.logs = slot->instance->takeUnclaimedLogs();
    outcome.status = Status(
        Code::FunctionError,
        fmt::format("function '{}' crashed: {}", task.spec.function, reply.status().message()));
  }
  release(*pool, slot);
  co_return outcome;
}

void Scheduler::dropFunction(const std::string& tenant, const std::string& function) {
  for (auto it = pools_.begin(); it != pools_.end();) {
    Pool& pool = *it->second;
    if (pool.spec.tenant == tenant && pool.spec.function == function) {
      for (auto& slot : pool.slots) slot->instance->kill("the function was removed");
      it = pools_.erase(it);
    } else {
      ++it;
    }
  }
}

std::vector<PoolStats> Scheduler::stats() const {
  std::vector<PoolStats> out;
  for (const auto& [key, pool] : pools_) {
    PoolStats s{pool->spec.tenant, pool->spec.function, pool->spec.version, pool->spec.entry};
    for (const auto& slot : pool->slots) {
      ++s.instances;
      if (slot->inflight > 0) ++s.busy;
    }
    s.queued = static_cast<int>(pool->waiters.size());
    out.push_back(s);
  }
  return out;
}

void Scheduler::prepare(worker::InstanceSpec spec) {
  asio::post(executor_, [this, spec = std::move(spec)] {
    if (!stopped_) launcher_.prepare(spec);
  });
}

awaitable<LoadOutcome> Scheduler::tryLoad(worker::InstanceSpec spec, FunctionLimits limits) {
  LoadOutcome outcome;
  if (stopped_) {
    outcome.status = Status(Code::Unavailable, "the server is shutting down");
    co_return outcome;
  }
  // The deadline a cold start of this function gets, so what passes here loads there too.
  auto init_deadline = Clock::now() + std::max<Clock::duration>(
                                          std::chrono::seconds(limits.timeout_s), kMinInitTimeout);
  auto started = co_await launcher_.start(spec, init_deadline, outcome.init_logs);
  if (!started) {
    outcome.status = started.status();
    co_return outcome;
  }
  // Not kept as the version's first warm instance: it was started before the version had a
  // number (its environment says "$LATEST") and, unconfined, from the build's path. The
  // launcher's pre-started instance, refilled by now, still spares the first cold start the
  // sandbox and interpreter boot.
  outcome.init_logs += (*started)->takeUnclaimedLogs();
  (*started)->kill("the deploy's load check is done");
  co_return outcome;
}

void Scheduler::shutdown() {
  stopped_ = true;
  reaper_.cancel();
  for (auto& [key, pool] : pools_) {
    for (auto& slot : pool->slots) slot->instance->kill("the server is shutting down");
  }
  pools_.clear();
}

awaitable<void> Scheduler::reapIdle() {
  auto period = std::clamp<Clock::duration>(options_.idle_ttl / 4, std::chrono::milliseconds(50),
                                            std::chrono::seconds(5));
  while (!stopped_) {
    reaper_.expires_after(period);
    boost::system::error_code ec;
    co_await reaper_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopped_) break;
    auto now = Clock::now();
    for (auto it = pools_.begin(); it != pools_.end();) {
      Pool& pool = *it->second;
      std::vector<std::shared_ptr<Slot>> expired;
      for (auto& slot : pool.slots) {
        bool idle = slot->inflight == 0 && now - slot->last_used >= options_.idle_ttl;
        if (idle || (slot->inflight == 0 && !slot->instance->alive())) expired.push_back(slot);
      }
      for (auto& slot : expired) {
        slot->instance->kill("idle past the keep-alive TTL");
        std::erase(pool.slots, slot);
      }
      if (pool.slots.empty() && pool.waiters.empty() && pool.starting == 0) {
        it = pools_.erase(it);
      } else {
        ++it;
      }
    }
  }
}

}  // namespace gust::scheduler
