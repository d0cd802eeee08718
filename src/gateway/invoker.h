#pragma once
// Invoker: the path of one invocation through the platform — resolve the version, build the
// event, hand it to the scheduler, map the result, answer, and record the activation. Used by
// HTTP requests to /fn/... and project routes, and by the control API's direct invoke.
// Thread-safe: every I/O loop calls it; it hops to the scheduler loop and the blocking pool.

#include <map>
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include "gateway/catalog.h"
#include "gateway/function_path.h"
#include "http/server.h"
#include "observe/metrics.h"
#include "scheduler/scheduler.h"
#include "store/store.h"

namespace gust::gateway {

// What an instance of `version` runs (its entry `entry`, or the function itself when null):
// code, limits, environment and secrets.
worker::InstanceSpec instanceSpecFor(const RunnableVersion& version, const bundle::Entry* entry);

struct DirectInvocation {
  std::string tenant{store::kDefaultTenant};
  std::string function;
  std::string qualifier;
  std::string entry;               // for projects: which file; "" takes the first
  std::string payload;             // the event, JSON
  std::string trace_id;            // from the caller's traceparent; "" starts a new trace
  std::string activation_id;       // "" = a new one (events pass their own)
  std::string trigger = "invoke";  // recorded with the activation: "invoke", "async", "cron"
  int64_t received_at_us = 0;      // 0 = now (events pass when the event was accepted)
};

// Where an HTTP request goes, as the gateway resolved it.
struct HttpTarget {
  std::string tenant;
  std::string function;
  std::string qualifier;
  std::string rest;  // a project's entry path, or the tail after /fn/<name>/
  std::string route_key = "$default";
  std::map<std::string, std::string> path_parameters;
  std::string key_id;  // the client key that called, if any: metered with the activation
};

struct DirectResult {
  Status status;
  std::string activation_id;
  std::string result;  // the handler's JSON result
  std::string trace_id;
  std::string state;  // the activation's status: "success", "error", "timeout", "throttled", ...
};

class Invoker final {
 public:
  Invoker(Catalog& catalog, scheduler::Scheduler& scheduler, store::Store& store,
          boost::asio::thread_pool& blocking, observe::Registry& metrics);

  boost::asio::awaitable<void> serveHttp(http::Exchange& exchange, HttpTarget target);
  boost::asio::awaitable<DirectResult> invokeDirect(DirectInvocation invocation);

 private:
  struct Prepared;
  boost::asio::awaitable<Result<RunnablePtr>> resolve(const std::string& tenant,
                                                      const std::string& function,
                                                      const std::string& qualifier);
  boost::asio::awaitable<scheduler::InvocationOutcome> run(
      const RunnableVersion& version, const bundle::Entry* entry, std::string activation_id,
      std::string trace_id, std::string event,
      std::shared_ptr<worker::StreamSink> stream = nullptr);
  // run(), then closes `stream`: its consumer then finds the outcome in `slot`.
  boost::asio::awaitable<void> runStreaming(const RunnableVersion& version,
                                            std::string activation_id, std::string trace_id,
                                            std::string event,
                                            std::shared_ptr<worker::StreamSink> stream,
                                            std::shared_ptr<scheduler::InvocationOutcome> slot);
  // Builds the activation record, counts it in the metrics and waits until the store has
  // committed it: an answered activation is never lost. False when the store did not commit in
  // time (the caller then answers 500 rather than pretend).
  struct Meter {
    std::string activation_id;
    std::string trace_id;
    std::string trigger;
    std::string key_id;
    int64_t received_at_us = 0;
    int64_t bytes_in = 0;
    int64_t bytes_out = 0;
    int http_status = 0;
  };
  // Records the activation and waits for it to be durable. False when it was not in time: the
  // caller is to answer 500 (kWithheld), and the record says so — unless `may_withhold` is
  // false (the answer is already out, streamed), when it says what ran.
  boost::asio::awaitable<bool> record(const RunnableVersion& version, const bundle::Entry* entry,
                                      const Meter& meter,
                                      const scheduler::InvocationOutcome& outcome,
                                      bool may_withhold = true);

  Catalog& catalog_;
  scheduler::Scheduler& scheduler_;
  store::Store& store_;
  boost::asio::thread_pool& blocking_;
  observe::Registry& metrics_;
};

// The trace id of a W3C `traceparent` header ("00-<32 hex>-<16 hex>-<2 hex>"), or "" when the
// header is absent or malformed.
std::string traceIdFromTraceparent(std::string_view header);

}  // namespace gust::gateway
