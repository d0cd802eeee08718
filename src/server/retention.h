#pragma once
// Retention keeps the data dir bounded: every interval it prunes each tenant's activation records
// (by age, then by size: store::Store::pruneActivations), hourly usage roll-ups, the gateway's
// access log, finished asynchronous invocations (dead letters too) and the audit log, then compacts
// the database (freed pages back to the file system, WAL truncated). Owned by the server; runs on
// its own thread (the store calls block), stopped by the destructor.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "store/store.h"

namespace gust::server {

struct RetentionOptions {
  store::RetentionDefaults activations;  // a tenant's own Retention wins over these
  int64_t usage_days = 400;              // 0: no limit
  int64_t access_days = 7;               // 0: no age limit
  int64_t access_rows = 2000000;         // ~180 bytes each: ~360 MB; 0: no limit
  int64_t async_days = 30;               // finished asynchronous invocations and dead letters
  int64_t audit_days = 365;
  std::chrono::seconds interval{60};
};

class RetentionRunner final {
 public:
  RetentionRunner(store::Store& store, RetentionOptions options);
  ~RetentionRunner();
  RetentionRunner(const RetentionRunner&) = delete;
  RetentionRunner& operator=(const RetentionRunner&) = delete;

  // One round, on the calling thread: what the thread does every interval.
  void runOnce();

 private:
  void loop();

  store::Store& store_;
  const RetentionOptions options_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // GUARDED_BY(mutex_)
  std::thread thread_;
};

}  // namespace gust::server
