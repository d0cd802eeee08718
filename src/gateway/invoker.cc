#include "gateway/invoker.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include "common/ids.h"
#include "common/time.h"
#include "gateway/http_event.h"
#include "gateway/http_status.h"
#include "loop/offload.h"

namespace gust::gateway {
namespace asio = boost::asio;
using asio::awaitable;

namespace {

constexpr const char* kActivationHeader = "X-Gust-Activation-Id";

worker::InstanceSpec instanceSpec(const RunnableVersion& version, const bundle::Entry* entry) {
  worker::InstanceSpec spec;
  spec.tenant = version.record.tenant;
  spec.function = version.record.function;
  spec.version = version.record.version;
  spec.entry = entry ? entry->path : "";
  spec.runtime = entry ? entry->runtime : version.config.runtime;
  spec.handler = entry ? entry->handler : version.config.handler;
  spec.code_dir = version.code_dir;
  spec.memory_mb = version.config.memory_mb;
  spec.network = version.config.network;
  spec.env = version.config.env;
  return spec;
}

http::Response withActivation(http::Response response, const std::string& id) {
  response.set(kActivationHeader, id);
  return response;
}

}  // namespace

Invoker::Invoker(Catalog& catalog, scheduler::Scheduler& scheduler, store::Store& store,
                 asio::thread_pool& blocking)
    : catalog_(catalog), scheduler_(scheduler), store_(store), blocking_(blocking) {}

awaitable<Result<RunnablePtr>> Invoker::resolve(const std::string& tenant,
                                                const std::string& function,
                                                const std::string& qualifier) {
  if (auto hit = catalog_.cached(tenant, function, qualifier)) co_return hit;
  auto lookup = [this, &tenant, &function, &qualifier] {
    return catalog_.resolve(tenant, function, qualifier);
  };
  auto executor = blocking_.get_executor();
  auto resolved = co_await loop::offload(executor, lookup);
  co_return resolved;
}

awaitable<scheduler::InvocationOutcome> Invoker::run(const RunnableVersion& version,
                                                     const bundle::Entry* entry,
                                                     std::string activation_id, std::string event) {
  scheduler::InvocationTask task;
  task.spec = instanceSpec(version, entry);
  task.limits = {version.config.timeout_s, version.config.concurrency, version.config.max_instances};
  task.activation_id = std::move(activation_id);
  task.event = std::move(event);
  task.trace_id = task.activation_id;
  co_return co_await asio::co_spawn(scheduler_.executor(), scheduler_.invoke(std::move(task)),
                                    asio::use_awaitable);
}

void Invoker::record(const RunnableVersion& version, const bundle::Entry* entry,
                     const std::string& activation_id, const std::string& trigger,
                     int64_t received_at_us, const scheduler::InvocationOutcome& outcome,
                     int http_status, int64_t bytes_in, int64_t bytes_out) {
  store::ActivationRecord r;
  r.id = activation_id;
  r.tenant = version.record.tenant;
  r.function = version.record.function;
  r.version = version.record.version;
  r.entry = entry ? entry->path : "";
  r.trigger = trigger;
  r.status = outcome.state;
  r.http_status = http_status;
  r.cold = outcome.cold;
  r.init_ms = outcome.init_ms;
  r.received_at_us = received_at_us;
  r.started_at_us = outcome.started_at_us;
  r.finished_at_us = outcome.finished_at_us;
  r.duration_ms = static_cast<double>(outcome.finished_at_us - outcome.started_at_us) / 1000.0;
  r.memory_mb = version.config.memory_mb;
  r.bytes_in = bytes_in;
  r.bytes_out = bytes_out;
  r.error = outcome.status.isOk() ? "" : outcome.status.message();
  r.logs = outcome.logs;
  store_.recordActivation(std::move(r));
}

awaitable<void> Invoker::serveFunction(http::Exchange& exchange, const FunctionAddress& address) {
  co_await serveHttp(exchange, address.tenant, address.name, address.qualifier, address.rest,
                     "$default");
}

awaitable<void> Invoker::serveRoute(http::Exchange& exchange, const RouteMatch& route) {
  co_await serveHttp(exchange, route.tenant, route.function, "", route.entry,
                     fmt::format("ANY {}", route.route));
}

awaitable<void> Invoker::serveHttp(http::Exchange& exchange, const std::string& tenant,
                                   const std::string& function, const std::string& qualifier,
                                   std::string rest, std::string route_key) {
  int64_t received_at_us = nowMicros();
  std::string activation_id = newActivationId();
  auto version = co_await resolve(tenant, function, qualifier);
  if (!version) {
    co_await exchange.respond(withActivation(errorResponseFor(version.status()), activation_id));
    co_return;
  }
  const RunnableVersion& v = **version;
  const bundle::Entry* entry = nullptr;
  if (v.config.isProject()) {
    entry = v.config.findEntry(rest);
    if (!entry) {
      co_await exchange.respond(withActivation(
          errorResponseFor(notFound(fmt::format("project '{}' has no function at /{}", function, rest))),
          activation_id));
      co_return;
    }
  }
  http::Request& request = exchange.request();
  EventContext context;
  context.request_id = activation_id;
  context.route_key = std::move(route_key);
  if (!rest.empty() && !entry) context.path_parameters["proxy"] = rest;
  context.source_ip = exchange.peerAddress();
  context.time_epoch_ms = received_at_us / 1000;
  context.domain_name = std::string(request[http::Field::host]);
  std::string event = buildHttpEvent(request, context);
  int64_t bytes_in = static_cast<int64_t>(request.body().size());

  auto outcome = co_await run(v, entry, activation_id, std::move(event));
  http::Response response;
  if (outcome.status.isOk()) {
    auto mapped = mapHandlerResult(outcome.result);
    if (mapped) {
      response.result(static_cast<unsigned>(mapped->status));
      for (auto& [name, value] : mapped->headers) response.insert(name, value);
      response.body() = std::move(mapped->body);
    } else {
      outcome.status = mapped.status();
      outcome.state = "bad_response";
      response = errorResponseFor(mapped.status());
    }
  } else {
    response = errorResponseFor(outcome.status);
  }
  response.set(kActivationHeader, activation_id);
  int http_status = static_cast<int>(response.result_int());
  int64_t bytes_out = static_cast<int64_t>(response.body().size());
  record(v, entry, activation_id, "http", received_at_us, outcome, http_status, bytes_in, bytes_out);
  co_await exchange.respond(std::move(response));
}

awaitable<DirectResult> Invoker::invokeDirect(DirectInvocation invocation) {
  DirectResult result;
  int64_t received_at_us = nowMicros();
  result.activation_id = newActivationId();
  auto version = co_await resolve(invocation.tenant, invocation.function, invocation.qualifier);
  if (!version) {
    result.status = version.status();
    co_return result;
  }
  const RunnableVersion& v = **version;
  const bundle::Entry* entry = nullptr;
  if (v.config.isProject()) {
    entry = invocation.entry.empty() ? &v.config.entries.front() : v.config.findEntry(invocation.entry);
    if (!entry) {
      result.status = notFound(fmt::format("project '{}' has no entry '{}'", invocation.function,
                                           invocation.entry));
      co_return result;
    }
  }
  int64_t bytes_in = static_cast<int64_t>(invocation.payload.size());
  auto outcome = co_await run(v, entry, result.activation_id, std::move(invocation.payload));
  result.status = outcome.status;
  result.result = outcome.result;
  int http_status = static_cast<int>(httpStatusFor(outcome.status.code()));
  record(v, entry, result.activation_id, "invoke", received_at_us, outcome, http_status, bytes_in,
         static_cast<int64_t>(outcome.result.size()));
  co_return result;
}

}  // namespace gust::gateway
