#pragma once
// Gateway: every request that is not the control plane passes through one pipeline here —
//   match (function address, gateway route, project route; 404/405)
//   → CORS preflight (answered here; the function never runs)
//   → authentication (client keys) → policy (public | key | keys:<ids>, shares, scopes)
//   → rate limits (token buckets per key and per route) and quotas (per key, per day/month)
//   → CORS response headers → invoke (Invoker) → access log.
// Routes, keys and shares are read from the store into an immutable snapshot that reload()
// replaces; the control API reloads after every change, so a revoked key is refused on the very
// next request. Thread-safe: every I/O loop calls serve(); reload() and flushQuotas() block on the
// store and run on other threads.

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include "gateway/catalog.h"
#include "gateway/cors.h"
#include "gateway/invoker.h"
#include "gateway/rate_limiter.h"
#include "gateway/route_table.h"
#include "http/server.h"
#include "observe/metrics.h"
#include "os/disk_guard.h"
#include "store/store.h"

namespace gust::gateway {

// The prefixes Gust itself answers; gateway routes may not claim them.
bool isReservedPath(std::string_view path);

// Where the gateway hands a request that asks for an asynchronous invocation (an
// X-Gust-Invocation-Type other than RequestResponse) once it passed authentication, policy and
// limits. Implemented by events::Events (the gateway cannot depend on src/events).
class AsyncSink {
 public:
  virtual ~AsyncSink() = default;
  virtual bool wantsAsync(const http::Request& request) const = 0;
  virtual boost::asio::awaitable<void> serveAsync(http::Exchange& exchange, HttpTarget target) = 0;
};

class Gateway final {
 public:
  Gateway(store::Store& store, Catalog& catalog, Invoker& invoker,
          boost::asio::thread_pool& blocking, observe::Registry& metrics,
          uint64_t default_max_body);
  ~Gateway();

  Status reload();
  // The body limit for a request head: its route's max_body, else the server default.
  uint64_t bodyLimit(const http::RequestHead& head) const;
  boost::asio::awaitable<void> serve(http::Exchange& exchange);
  // Set once before serving; the sink outlives the gateway's use of it.
  void setAsyncSink(AsyncSink* sink) { async_sink_ = sink; }
  // Set once before serving: while it refuses, invocations answer 507 (nullptr: never).
  void setDiskGuard(const os::DiskGuard* guard) { disk_guard_ = guard; }
  // Persists the quota counts taken since the last flush (a restart keeps them).
  void flushQuotas();

 private:
  struct Snapshot;
  struct Request;
  struct QuotaCounter {
    int64_t period_start_us = 0;
    int64_t used = 0;     // in the period, including what is not yet flushed
    int64_t pending = 0;  // not yet written to the store
  };
  std::shared_ptr<const Snapshot> snapshot() const;
  boost::asio::awaitable<void> pipeline(http::Exchange& exchange, Request& request);
  // The version a /fn address or project route runs, for its access mode and CORS; null if none.
  boost::asio::awaitable<RunnablePtr> functionConfig(const std::string& tenant,
                                                     const std::string& function,
                                                     const std::string& qualifier);
  // Counts one request against the key's quota; false (and when to retry) if it is used up.
  bool takeQuota(const std::string& client_id, const QuotaSpec& quota, int64_t now_us,
                 int64_t& retry_after_s);
  void logAccess(http::Exchange& exchange, const Request& request);

  store::Store& store_;
  Catalog& catalog_;
  Invoker& invoker_;
  boost::asio::thread_pool& blocking_;
  observe::Registry& metrics_;
  uint64_t default_max_body_;
  RateLimiter limiter_;
  mutable std::mutex mutex_;
  std::shared_ptr<const Snapshot> snapshot_;              // GUARDED_BY(mutex_)
  std::unordered_map<std::string, QuotaCounter> quotas_;  // GUARDED_BY(mutex_)
  // Unflushed counts of periods that ended: (client id, period start, count).
  std::vector<std::tuple<std::string, int64_t, int64_t>> rolled_over_;  // GUARDED_BY(mutex_)
  AsyncSink* async_sink_ = nullptr;
  const os::DiskGuard* disk_guard_ = nullptr;
};

}  // namespace gust::gateway
