#include "gateway/invoker.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "common/ids.h"
#include "common/time.h"
#include "gateway/caller_error.h"
#include "gateway/codec.h"
#include "gateway/http_event.h"
#include "gateway/http_status.h"
#include "loop/completion.h"
#include "loop/offload.h"
#include "metering/metering.h"
#include "observe/log.h"
#include "protocol/frame.h"
#include "store/record_ticket.h"

namespace gust::gateway {
namespace asio = boost::asio;
using asio::awaitable;

worker::InstanceSpec instanceSpecFor(const RunnableVersion& version, const bundle::Entry* entry) {
  worker::InstanceSpec spec;
  spec.tenant = version.record.tenant;
  spec.function = version.record.function;
  spec.version = version.record.version;
  spec.entry = entry ? entry->path : "";
  spec.runtime = entry ? entry->runtime : version.config.runtime;
  spec.handler = entry ? entry->handler : version.config.handler;
  spec.contract = version.config.contract;
  spec.ready_path = version.config.ready_path;
  spec.code_dir = version.code_dir;
  spec.memory_mb = version.config.memory_mb;
  spec.tmp_mb = version.config.tmp_mb;
  spec.network = version.config.network;
  spec.env = version.config.env;
  for (const auto& secret : version.secrets) spec.env[secret.name] = secret.value;  // secrets win
  return spec;
}

namespace {

constexpr const char* kActivationHeader = "X-Gust-Activation-Id";

http::Response withActivation(http::Response response, const std::string& id) {
  response.set(kActivationHeader, id);
  return response;
}

}  // namespace

std::string traceIdFromTraceparent(std::string_view header) {
  auto hex = [](std::string_view text) {
    return text.find_first_not_of("0123456789abcdef") == std::string_view::npos;
  };
  if (header.size() < 55 || header[2] != '-' || header[35] != '-' || header[52] != '-') return "";
  std::string_view version = header.substr(0, 2), trace = header.substr(3, 32),
                   parent = header.substr(36, 16), flags = header.substr(53, 2);
  if (!hex(version) || version == "ff" || !hex(trace) || !hex(parent) || !hex(flags)) return "";
  if (trace == std::string(32, '0') || parent == std::string(16, '0')) return "";
  return std::string(trace);
}

Invoker::Invoker(Catalog& catalog, scheduler::Scheduler& scheduler, store::Store& store,
                 asio::thread_pool& blocking, observe::Registry& metrics)
    : catalog_(catalog),
      scheduler_(scheduler),
      store_(store),
      blocking_(blocking),
      metrics_(metrics) {}

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
                                                     std::string activation_id,
                                                     std::string trace_id, std::string event,
                                                     std::shared_ptr<worker::StreamSink> stream) {
  scheduler::InvocationTask task;
  task.stream = std::move(stream);
  task.spec = instanceSpecFor(version, entry);
  task.limits = {version.config.timeout_s, version.config.concurrency,
                 version.config.max_instances};
  task.activation_id = std::move(activation_id);
  task.event = std::move(event);
  task.trace_id = std::move(trace_id);
  auto outcome = co_await asio::co_spawn(scheduler_.executor(), scheduler_.invoke(std::move(task)),
                                         asio::use_awaitable);
  // What the function printed or raised is stored, streamed and shown: none of it may carry a
  // secret's value.
  if (!version.secrets.empty()) {
    outcome.logs = secrets::redact(std::move(outcome.logs), version.secrets);
    if (!outcome.status.isOk()) {
      outcome.status =
          Status(outcome.status.code(), secrets::redact(outcome.status.message(), version.secrets));
    }
  }
  co_return outcome;
}

awaitable<void> Invoker::runStreaming(const RunnableVersion& version, std::string activation_id,
                                      std::string trace_id, std::string event,
                                      std::shared_ptr<worker::StreamSink> stream,
                                      std::shared_ptr<scheduler::InvocationOutcome> slot) {
  *slot = co_await run(version, nullptr, std::move(activation_id), std::move(trace_id),
                       std::move(event), stream);
  stream->close();
}

namespace {

constexpr std::string_view kWithheld =
    "the activation could not be recorded in time, so its result is withheld";
constexpr auto kRecordWait = std::chrono::seconds(10);

// What a caller whose record was not committed in time is answered, as its record will say.
store::WithheldAnswer withheldAnswer() {
  http::Response answer = errorResponseFor(internalError(std::string(kWithheld)));
  return {"withheld", static_cast<int>(answer.result_int()), std::string(kWithheld),
          static_cast<int64_t>(answer.body().size())};
}

}  // namespace

awaitable<bool> Invoker::record(const RunnableVersion& version, const bundle::Entry* entry,
                                const Meter& meter, const scheduler::InvocationOutcome& outcome,
                                bool may_withhold) {
  store::ActivationRecord r;
  r.id = meter.activation_id;
  r.tenant = version.record.tenant;
  r.function = version.record.function;
  r.version = version.record.version;
  r.entry = entry ? entry->path : "";
  r.trigger = meter.trigger;
  r.status = outcome.state;
  r.http_status = meter.http_status;
  r.cold = outcome.cold;
  r.init_ms = outcome.init_ms;
  r.received_at_us = meter.received_at_us;
  r.dispatched_at_us = outcome.started_at_us;
  r.started_at_us = outcome.started_at_us;
  r.finished_at_us = outcome.finished_at_us;
  r.responded_at_us = nowMicros();
  r.duration_ms = static_cast<double>(outcome.finished_at_us - outcome.started_at_us) / 1000.0;
  r.billed_ms = metering::billedMs(outcome.started_at_us, outcome.finished_at_us);
  r.memory_mb = version.config.memory_mb;
  r.cpu_user_us = outcome.cpu_user_ns / 1000;
  r.cpu_sys_us = outcome.cpu_sys_ns / 1000;
  r.peak_memory_bytes = outcome.peak_rss_bytes;
  r.bytes_in = meter.bytes_in;
  r.bytes_out = meter.bytes_out;
  r.trace_id = meter.trace_id;
  r.key_id = meter.key_id;
  r.error = outcome.status.isOk() ? "" : outcome.status.message();
  r.logs = outcome.logs;

  const std::string& fn = r.function;
  metrics_
      .counter("gust_invocations_total", "Invocations by function and final status",
               {{"function", fn}, {"status", r.status}})
      .inc();
  if (r.status == "throttled") {
    metrics_
        .counter("gust_rejected_total", "Invocations turned away",
                 {{"function", fn}, {"reason", "throttled"}})
        .inc();
  } else {
    metrics_
        .histogram("gust_invocation_duration_seconds", "From dispatch to the instance's reply",
                   {{"function", fn}})
        .observe(r.duration_ms / 1000.0);
  }
  if (r.cold) {
    metrics_
        .counter("gust_cold_starts_total", "Invocations that started a new instance",
                 {{"function", fn}})
        .inc();
    metrics_
        .histogram("gust_init_duration_seconds", "Time to start an instance and load the code",
                   {{"function", fn}})
        .observe(static_cast<double>(r.init_ms) / 1000.0);
  }

  if (!outcome.status.isOk()) {
    observe::logEvent(outcome.status.code() == Code::Unavailable ? observe::LogLevel::Warn
                                                                 : observe::LogLevel::Info,
                      "activation.failed",
                      {{"function", r.function},
                       {"version", r.version},
                       {"activation", r.id},
                       {"status", r.status},
                       {"error", r.error}});
  }
  auto executor = co_await asio::this_coro::executor;
  auto committed = std::make_shared<loop::Completion<bool>>(executor);
  auto ticket = may_withhold ? std::make_shared<store::RecordTicket>() : nullptr;
  store_.recordActivation(
      std::move(r),
      [committed, executor] { asio::post(executor, [committed] { committed->complete(true); }); },
      ticket);
  auto done = co_await committed->wait(std::chrono::steady_clock::now() + kRecordWait);
  // Not committed in time: answer an error and have the record say so — unless a write of the
  // record as it ran is under way; then its commit is moments away, or it fails and the next
  // look withholds.
  while (!done && ticket) {
    if (ticket->withhold(withheldAnswer())) co_return false;
    done =
        co_await committed->wait(std::chrono::steady_clock::now() + std::chrono::milliseconds(100));
  }
  co_return done.has_value();
}

awaitable<void> Invoker::serveHttp(http::Exchange& exchange, HttpTarget target) {
  Meter meter;
  meter.trigger = "http";
  meter.key_id = target.key_id;
  meter.received_at_us = nowMicros();
  meter.activation_id = newActivationId();
  http::Request& request = exchange.request();
  meter.trace_id = traceIdFromTraceparent(request["traceparent"]);
  if (meter.trace_id.empty()) {
    // Start a trace here, and let the function see it as if the caller had sent it.
    meter.trace_id = randomHex(16);
    request.set("traceparent", fmt::format("00-{}-{}-01", meter.trace_id, randomHex(8)));
  }
  auto version = co_await resolve(target.tenant, target.function, target.qualifier);
  if (!version) {
    const Status& failed = version.status();
    if (failed.code() == Code::FunctionError || failed.code() == Code::Internal) {
      // No activation record exists yet: the server log is where the detail goes.
      observe::logEvent(observe::LogLevel::Warn, "activation.failed",
                        {{"function", target.function},
                         {"activation", meter.activation_id},
                         {"status", "unresolved"},
                         {"error", failed.message()}});
    }
    co_await exchange.respond(withActivation(
        errorResponseFor(callerError(failed, "", meter.activation_id)), meter.activation_id));
    co_return;
  }
  const RunnableVersion& v = **version;
  const bundle::Entry* entry = nullptr;
  if (v.config.isProject()) {
    entry = v.config.findEntry(target.rest);
    if (!entry) {
      co_await exchange.respond(
          withActivation(errorResponseFor(notFound(fmt::format(
                             "project '{}' has no function at /{}", target.function, target.rest))),
                         meter.activation_id));
      co_return;
    }
  }
  EventContext context;
  context.request_id = meter.activation_id;
  context.route_key = std::move(target.route_key);
  context.path_parameters = std::move(target.path_parameters);
  // Decoded, as API Gateway delivers path parameters.
  if (!target.rest.empty() && !entry)
    context.path_parameters["proxy"] = urlDecode(target.rest, false);
  context.source_ip = exchange.peerAddress();
  context.time_epoch_ms = meter.received_at_us / 1000;
  context.domain_name = std::string(request[http::Field::host]);
  std::string event = buildHttpEvent(request, context);
  meter.bytes_in = exchange.requestBytes();
  // The event holds the body now (escaped or base64): the request's copy goes, so a large
  // request is held once while the function runs.
  std::string().swap(request.body());
  if (event.size() > protocol::kMaxBodyBytes) {
    co_await exchange.respond(withActivation(
        errorResponseFor(Status(Code::TooLarge,
                                fmt::format("the request's event is {} bytes (its body base64 "
                                            "or escaped), over the {} MiB a function can receive",
                                            event.size(), protocol::kMaxBodyBytes >> 20))),
        meter.activation_id));
    co_return;
  }

  scheduler::InvocationOutcome outcome;
  if (v.config.runtime == "provided" && !entry) {
    // A Runtime API client may stream its reply (Lambda-Runtime-Function-Response-Mode:
    // streaming): the head and chunks are relayed as chunked HTTP while the function runs.
    auto stream = std::make_shared<worker::StreamSink>(exchange.executor());
    auto slot = std::make_shared<scheduler::InvocationOutcome>();
    asio::co_spawn(
        exchange.executor(),
        runStreaming(v, meter.activation_id, meter.trace_id, std::move(event), stream, slot),
        asio::detached);
    bool streaming = false;
    bool broken = false;
    for (;;) {
      worker::StreamSink::Batch batch = co_await stream->take();
      if (batch.head && !streaming) {
        std::string head_json = std::move(*batch.head);
        auto mapped = mapHandlerResult(head_json);
        http::Response head(static_cast<boost::beast::http::status>(mapped ? mapped->status : 200),
                            11);
        if (mapped) {
          for (auto& [name, value] : mapped->headers) head.insert(name, value);
        }
        head.erase(http::Field::content_length);
        head.set(kActivationHeader, meter.activation_id);
        head.set("traceparent", fmt::format("00-{}-{}-01", meter.trace_id, randomHex(8)));
        streaming = true;
        broken = !(co_await exchange.startChunked(std::move(head))).isOk();
      }
      for (const std::string& chunk : batch.chunks) {
        if (streaming && !broken) broken = !(co_await exchange.writeChunk(chunk)).isOk();
      }
      if (batch.closed) break;
    }
    outcome = std::move(*slot);
    if (streaming) {
      // The status went out with the head; a failure after it can only cut the body short.
      if (!broken && outcome.status.isOk()) (void)co_await exchange.finishChunked();
      meter.http_status = exchange.responseStatus();
      meter.bytes_out = exchange.responseBytes();
      if (!co_await record(v, entry, meter, outcome, /*may_withhold=*/false)) {
        observe::logEvent(observe::LogLevel::Error, "activation.unrecorded",
                          {{"activation", meter.activation_id}});
      }
      co_return;
    }
  } else {
    outcome = co_await run(v, entry, meter.activation_id, meter.trace_id, std::move(event));
  }
  http::Response response;
  if (outcome.status.isOk()) {
    auto mapped = mapHandlerResult(outcome.result);
    std::string().swap(outcome.result);  // mapped holds the body now
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
    // The record keeps the whole message for the owner; the caller gets what is theirs to see.
    response = errorResponseFor(callerError(outcome.status, outcome.state, meter.activation_id));
  }
  meter.http_status = static_cast<int>(response.result_int());
  meter.bytes_out = static_cast<int64_t>(response.body().size());
  if (!co_await record(v, entry, meter, outcome)) {
    response = errorResponseFor(internalError(std::string(kWithheld)));
  }
  response.set(kActivationHeader, meter.activation_id);
  response.set("traceparent", fmt::format("00-{}-{}-01", meter.trace_id, randomHex(8)));
  co_await exchange.respond(std::move(response));
}

awaitable<DirectResult> Invoker::invokeDirect(DirectInvocation invocation) {
  DirectResult result;
  Meter meter;
  meter.trigger = invocation.trigger;
  meter.received_at_us = invocation.received_at_us ? invocation.received_at_us : nowMicros();
  meter.activation_id = result.activation_id =
      invocation.activation_id.empty() ? newActivationId() : invocation.activation_id;
  meter.trace_id = invocation.trace_id.empty() ? randomHex(16) : invocation.trace_id;
  result.trace_id = meter.trace_id;
  auto version = co_await resolve(invocation.tenant, invocation.function, invocation.qualifier);
  if (!version) {
    result.status = version.status();
    co_return result;
  }
  const RunnableVersion& v = **version;
  const bundle::Entry* entry = nullptr;
  if (v.config.isProject()) {
    entry =
        invocation.entry.empty() ? &v.config.entries.front() : v.config.findEntry(invocation.entry);
    if (!entry) {
      result.status = notFound(
          fmt::format("project '{}' has no entry '{}'", invocation.function, invocation.entry));
      co_return result;
    }
  }
  meter.bytes_in = static_cast<int64_t>(invocation.payload.size());
  auto outcome =
      co_await run(v, entry, meter.activation_id, meter.trace_id, std::move(invocation.payload));
  result.status = outcome.status;
  result.state = outcome.state;
  meter.http_status = static_cast<int>(httpStatusFor(outcome.status.code()));
  meter.bytes_out = static_cast<int64_t>(outcome.result.size());
  result.result = std::move(outcome.result);
  if (!co_await record(v, entry, meter, outcome)) {
    result.status = internalError(std::string(kWithheld));
    result.result.clear();
  }
  co_return result;
}

}  // namespace gust::gateway
