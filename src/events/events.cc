#include "events/events.h"

#include <future>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/ids.h"
#include "common/time.h"
#include "events/cron/cron_runner.h"
#include "events/kafka/kafka_runner.h"
#include "gateway/caller_error.h"
#include "gateway/codec.h"
#include "gateway/http_event.h"
#include "gateway/http_status.h"
#include "loop/event_loop.h"
#include "loop/offload.h"
#include "observe/log.h"
#include "protocol/json_input.h"

namespace gust::events {
namespace asio = boost::asio;
using asio::awaitable;

bool wantsEventInvocation(const http::Request& request) {
  std::string_view type = request[kInvocationTypeHeader];
  return !type.empty() && type != "RequestResponse";
}

Events::Events(store::Store& store, gateway::Catalog& catalog, gateway::Invoker& invoker,
               asio::thread_pool& blocking, EventsOptions options)
    : store_(store),
      catalog_(catalog),
      blocking_(blocking),
      loop_(std::make_unique<loop::EventLoop>("gust-events")) {
  destinations_ = std::make_unique<Destinations>(store, catalog, [this] { wake(); });
  queue_ = std::make_unique<AsyncQueue>(loop_->executor(), store, invoker, blocking, options.async,
                                        destinations_.get());
  cron_ = std::make_unique<cron::CronRunner>(
      loop_->executor(), store, blocking, [queue = queue_.get()] { queue->wake(); },
      options.cron_tick);
  // Kafka consumers block in librdkafka on threads of their own; each batch hops onto this
  // loop to run through the Invoker and back.
  auto executor = loop_->executor();
  kafka::InvokeFn invoke = [executor, &invoker](gateway::DirectInvocation invocation) {
    auto work = invoker.invokeDirect(std::move(invocation));
    auto result = asio::co_spawn(executor, std::move(work), asio::use_future);
    return result.get();
  };
  kafka_ = std::make_unique<kafka::KafkaRunner>(store, std::move(invoke));
}

Events::~Events() { join(); }

Status Events::start() {
  auto requeued = store_.requeueRunningAsync();
  if (!requeued) return requeued.status();
  if (*requeued > 0) {
    observe::logEvent(observe::LogLevel::Info, "async.requeued", {{"invocations", *requeued}});
  }
  loop_->start();
  std::promise<void> started;
  asio::post(loop_->executor(), [this, &started] {
    queue_->start();
    cron_->start();
    started.set_value();
  });
  started.get_future().wait();
  kafka_->start();
  started_ = true;
  return Status::ok();
}

void Events::stopTaking() {
  if (!started_) return;
  kafka_->stop();  // each consumer finishes its batch in flight (the loop still runs)
  std::promise<void> stopped;
  asio::post(loop_->executor(), [this, &stopped] {
    queue_->stop();
    cron_->stop();
    stopped.set_value();
  });
  stopped.get_future().wait();
}

void Events::join() {
  if (!started_) return;
  stopTaking();
  loop_->stop();
  started_ = false;
}

std::optional<std::vector<kafka::PartitionLag>> Events::kafkaLag(const std::string& trigger_id) {
  return kafka_->lag(trigger_id);
}

void Events::wake() {
  if (started_) queue_->wake();
}

awaitable<Result<std::string>> Events::accept(AsyncRequest request) {
  store::AsyncInvocationRecord record;
  record.received_at_us = nowMicros();
  if (auto payload = protocol::parseJson(request.payload, "the payload"); !payload) {
    co_return payload.status();
  }
  auto resolve = [this, &request] {
    return catalog_.resolve(request.tenant, request.function, request.qualifier);
  };
  auto version = co_await loop::offload(blocking_.get_executor(), resolve);
  if (!version) co_return version.status();
  const gateway::RunnableVersion& v = **version;
  if (v.config.isProject() && !request.entry.empty() && !v.config.findEntry(request.entry)) {
    co_return notFound(
        fmt::format("project '{}' has no entry '{}'", request.function, request.entry));
  }
  record.id = request.id.empty() ? newActivationId() : request.id;
  record.tenant = request.tenant;
  record.function = request.function;
  record.qualifier = request.qualifier;
  record.entry = request.entry;
  record.payload = std::move(request.payload);
  record.trigger = "async";
  record.trace_id = request.trace_id.empty() ? randomHex(16) : request.trace_id;
  record.max_retries = v.config.max_retries;
  record.max_event_age_s = v.config.max_event_age_s;
  record.next_attempt_at_us = record.received_at_us;
  record.state = "queued";
  auto enqueue = [this, &record] { return store_.enqueueAsync(record); };
  Status stored = co_await loop::offload(blocking_.get_executor(), enqueue);
  if (!stored.isOk()) co_return stored;
  wake();
  co_return record.id;
}

awaitable<void> Events::serveAsync(http::Exchange& exchange, gateway::HttpTarget target) {
  http::Request& request = exchange.request();
  std::string type(request[kInvocationTypeHeader]);
  if (type != "Event") {
    auto response = gateway::errorResponseFor(invalidArgument(
        fmt::format("{} must be Event (asynchronous) or RequestResponse (synchronous), not '{}'",
                    kInvocationTypeHeader, type)));
    co_await exchange.respond(std::move(response));
    co_return;
  }
  AsyncRequest async;
  async.tenant = target.tenant;
  async.function = target.function;
  async.qualifier = target.qualifier;
  async.trace_id = gateway::traceIdFromTraceparent(request["traceparent"]);
  if (async.trace_id.empty()) {
    async.trace_id = randomHex(16);
    request.set("traceparent", fmt::format("00-{}-{}-01", async.trace_id, randomHex(8)));
  }
  // The handler gets the HTTP event a synchronous call would, so one function serves both.
  auto resolve = [this, &async] {
    return catalog_.resolve(async.tenant, async.function, async.qualifier);
  };
  auto version = co_await loop::offload(blocking_.get_executor(), resolve);
  if (!version) {
    // The detail (a secret the function names is gone) is the owner's, not the caller's.
    auto response = gateway::errorResponseFor(gateway::callerError(version.status(), "", ""));
    co_await exchange.respond(std::move(response));
    co_return;
  }
  const bundle::Entry* entry = nullptr;
  if ((*version)->config.isProject()) {
    entry = (*version)->config.findEntry(target.rest);
    if (!entry) {
      auto response = gateway::errorResponseFor(notFound(
          fmt::format("project '{}' has no function at /{}", target.function, target.rest)));
      co_await exchange.respond(std::move(response));
      co_return;
    }
    async.entry = entry->path;
  }
  gateway::EventContext context;
  context.request_id = async.id = newActivationId();
  context.route_key = std::move(target.route_key);
  context.path_parameters = std::move(target.path_parameters);
  if (!target.rest.empty() && !entry) {
    context.path_parameters["proxy"] = gateway::urlDecode(target.rest, false);
  }
  context.source_ip = exchange.peerAddress();
  context.time_epoch_ms = nowMicros() / 1000;
  context.domain_name = std::string(request[http::Field::host]);
  async.payload = gateway::buildHttpEvent(request, context);
  auto accepted = co_await accept(std::move(async));
  if (!accepted) {
    auto response = gateway::errorResponseFor(accepted.status());
    co_await exchange.respond(std::move(response));
    co_return;
  }
  http::Response response(http::beast::http::status::accepted, 11);
  response.set(http::Field::content_type, "application/json");
  response.set("X-Gust-Activation-Id", *accepted);
  nlohmann::json body = {{"activation_id", *accepted}, {"state", "queued"}};
  response.body() = body.dump() + "\n";
  co_await exchange.respond(std::move(response));
}

}  // namespace gust::events
