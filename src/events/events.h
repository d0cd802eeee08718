#pragma once
// Events: the part that makes invocations out of things other than a waiting HTTP client —
// asynchronous invocations (`X-Gust-Invocation-Type: Event`, `gust invoke --async`), cron
// triggers and Kafka triggers. Every event becomes a durable asynchronous invocation
// in the store and runs through the gateway's Invoker, so through the scheduler; nothing here
// starts a process.
//
// Owned by the server's composition root. It owns one event loop ("gust-events") on which the
// AsyncQueue and the CronRunner live (the KafkaRunner's consumers have threads of their own and
// hop onto that loop to invoke); accept() and serveHttp() are called from any I/O loop
// (they offload store calls to the blocking pool and post to the events loop).

#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "events/async_queue.h"
#include "gateway/catalog.h"
#include "gateway/gateway.h"
#include "gateway/invoker.h"
#include "http/server.h"
#include "store/store.h"

namespace gust::loop {
class EventLoop;
}
namespace gust::events::cron {
class CronRunner;
}
namespace gust::events::kafka {
class KafkaRunner;
struct PartitionLag;
}

namespace gust::events {

// The invocation-type header (Lambda's X-Amz-Invocation-Type twin): "Event" is asynchronous,
// "RequestResponse" (or no header) synchronous.
inline constexpr std::string_view kInvocationTypeHeader = "X-Gust-Invocation-Type";

// True when the request asks for anything but a synchronous invocation (serveHttp() then
// answers: 202, or 400 for an unknown type).
bool wantsEventInvocation(const http::Request& request);

struct AsyncRequest {
  std::string id;  // "" = a new one
  std::string tenant{store::kDefaultTenant};
  std::string function;
  std::string qualifier;
  std::string entry;
  std::string payload;  // the event, JSON
  std::string trace_id;
};

struct EventsOptions {
  AsyncOptions async;
  std::chrono::milliseconds cron_tick{250};
};

class Events final : public gateway::AsyncSink {
 public:
  Events(store::Store& store, gateway::Catalog& catalog, gateway::Invoker& invoker,
         boost::asio::thread_pool& blocking, EventsOptions options = {});
  ~Events() override;

  // Requeues the invocations a killed server was running, then starts the loop, the queue and
  // the cron runner.
  Status start();
  // Stops taking new work and joins the loop: attempts in flight end first (stop the HTTP
  // server before, shut the scheduler down after stopTaking()).
  void stopTaking();
  void join();

  // Validates and stores the invocation; its id once it is durable. NotFound when the function
  // (or the project entry) does not exist.
  boost::asio::awaitable<Result<std::string>> accept(AsyncRequest request);
  // gateway::AsyncSink: a request with an invocation-type header that passed the gateway
  // (`/fn/...`, `/t/{tenant}/fn/...`, routes): 202 with X-Gust-Activation-Id once durable (the
  // event is the same HTTP event a synchronous call gets), or the error.
  bool wantsAsync(const http::Request& request) const override { return wantsEventInvocation(request); }
  boost::asio::awaitable<void> serveAsync(http::Exchange& exchange, gateway::HttpTarget target) override;
  // The queue should look for work now (a dead letter was replayed).
  void wake();
  // A Kafka trigger's lag per partition (nullopt: not consuming now). Any thread.
  std::optional<std::vector<kafka::PartitionLag>> kafkaLag(const std::string& trigger_id);

 private:
  store::Store& store_;
  gateway::Catalog& catalog_;
  boost::asio::thread_pool& blocking_;
  std::unique_ptr<loop::EventLoop> loop_;
  std::unique_ptr<Destinations> destinations_;
  std::unique_ptr<AsyncQueue> queue_;
  std::unique_ptr<cron::CronRunner> cron_;
  std::unique_ptr<kafka::KafkaRunner> kafka_;
  bool started_ = false;
};

}  // namespace gust::events
