#include "server/retention.h"

#include "common/time.h"
#include "observe/log.h"

namespace gust::server {
namespace {

constexpr int64_t kDayUs = 86400LL * 1000000;

void logFailure(const char* what, const Status& status) {
  observe::logEvent(observe::LogLevel::Error, "retention.failed",
                    {{"what", what}, {"error", status.message()}});
}

}  // namespace

RetentionRunner::RetentionRunner(store::Store& store, RetentionOptions options)
    : store_(store), options_(options), thread_([this] { loop(); }) {}

RetentionRunner::~RetentionRunner() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void RetentionRunner::loop() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, options_.interval, [&] { return stopping_; })) {
    lock.unlock();
    runOnce();
    lock.lock();
  }
}

void RetentionRunner::runOnce() {
  int64_t now = nowMicros();
  auto activations = store_.pruneActivations(now, options_.activations);
  if (!activations) logFailure("activations", activations.status());
  int batch = options_.activations.batch_rows;
  // 0 days or rows is no limit, as for activations (it used to delete everything).
  Result<int64_t> usage = int64_t{0};
  if (options_.usage_days > 0) usage = store_.pruneUsage(now - options_.usage_days * kDayUs, batch);
  if (!usage) logFailure("usage", usage.status());
  Result<int64_t> access = int64_t{0};
  if (options_.access_days > 0)
    access = store_.pruneAccess(now - options_.access_days * kDayUs, batch);
  if (access && options_.access_rows > 0) {
    auto capped = store_.capAccess(options_.access_rows, batch);
    access = capped ? Result<int64_t>(*access + *capped) : capped;
  }
  if (!access) logFailure("access", access.status());
  Result<int64_t> async = int64_t{0};
  if (options_.async_days > 0)
    async = store_.pruneFinishedAsync(now - options_.async_days * kDayUs, batch);
  if (!async) logFailure("async invocations", async.status());
  Result<int64_t> audit = int64_t{0};
  if (options_.audit_days > 0) audit = store_.pruneAudit(now - options_.audit_days * kDayUs, batch);
  if (!audit) logFailure("audit", audit.status());
  int64_t pruned = (activations ? *activations : 0) + (usage ? *usage : 0) +
                   (access ? *access : 0) + (async ? *async : 0) + (audit ? *audit : 0);
  if (pruned == 0) return;
  auto given_back = store_.compact();
  if (!given_back) logFailure("compact", given_back.status());
  observe::logEvent(observe::LogLevel::Info, "retention.pruned",
                    {{"activations", activations ? *activations : 0},
                     {"usage_rows", usage ? *usage : 0},
                     {"access_rows", access ? *access : 0},
                     {"async_invocations", async ? *async : 0},
                     {"audit_entries", audit ? *audit : 0},
                     {"bytes_given_back", given_back ? *given_back : 0}});
}

}  // namespace gust::server
