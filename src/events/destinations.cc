// DESIGN: deliver() runs before the invocation's final state is committed (AsyncQueue::attempt),
// so a crash between the two re-runs the invocation and delivers again: destinations are
// at-least-once, like the invocations themselves, never lost. A function destination is only an
// enqueue (durable, then the queue retries it); nothing here calls the scheduler.

#include "events/destinations.h"

#include <thread>
#include <utility>

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <nlohmann/json.hpp>

#include "bundle/manifest.h"
#include "common/ids.h"
#include "common/time.h"
#include "observe/log.h"
#include "protocol/json_input.h"

namespace gust::events {

std::string destinationCondition(const store::AsyncInvocationRecord& record) {
  if (record.state == "succeeded") return "Success";
  if (record.dead_reason == "max_event_age") return "EventAgeExceeded";
  return "RetriesExhausted";
}

std::string destinationRecord(const Completion& c, int64_t now_us) {
  const store::AsyncInvocationRecord& r = c.record;
  bool ok = r.state == "succeeded";
  nlohmann::json request_context = {{"requestId", r.id},
                                    {"function", r.function},
                                    {"tenant", r.tenant},
                                    {"condition", destinationCondition(r)},
                                    {"approximateInvokeCount", r.attempts}};
  if (!r.qualifier.empty()) request_context["qualifier"] = r.qualifier;
  nlohmann::json response_context = {{"statusCode", ok ? 200 : 500}};
  nlohmann::json response_payload;
  if (ok) {
    response_payload = c.result.empty() ? nlohmann::json() : protocol::jsonOrText(c.result);
  } else {
    response_context["functionError"] = c.status.empty() ? "Unhandled" : c.status;
    response_payload = {{"errorMessage", r.last_error},
                        {"errorType", r.dead_reason.empty() ? "Error" : r.dead_reason}};
  }
  nlohmann::json record = {{"version", "1.0"},
                           {"timestamp", formatRfc3339Micros(now_us)},
                           {"requestContext", request_context},
                           {"requestPayload", protocol::jsonOrText(c.payload)},
                           {"responseContext", response_context},
                           {"responsePayload", response_payload}};
  return record.dump();
}

Destinations::Destinations(store::Store& store, gateway::Catalog& catalog,
                           std::function<void()> wake, DestinationOptions options)
    : store_(store), catalog_(catalog), wake_(std::move(wake)), options_(options) {}

namespace {

// Produces one message and waits for its delivery report. "" on success, else the error.
std::string produceOnce(const bundle::Destination& d, const std::string& key,
                        const std::string& value, std::chrono::milliseconds timeout) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::string timeout_ms = std::to_string(timeout.count());
  if (rd_kafka_conf_set(conf, "bootstrap.servers", d.brokers.c_str(), errstr, sizeof errstr) !=
          RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "message.timeout.ms", timeout_ms.c_str(), errstr, sizeof errstr) !=
          RD_KAFKA_CONF_OK ||
      rd_kafka_conf_set(conf, "client.id", "gust-destinations", errstr, sizeof errstr) !=
          RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    return errstr;
  }
  // The delivery report's error lands here (set on the flushing thread, through the opaque).
  rd_kafka_resp_err_t delivered = RD_KAFKA_RESP_ERR__TIMED_OUT;
  rd_kafka_conf_set_opaque(conf, &delivered);
  rd_kafka_conf_set_dr_msg_cb(conf,
                              [](rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
                                *static_cast<rd_kafka_resp_err_t*>(opaque) = message->err;
                              });
  rd_kafka_t* producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!producer) {  // rd_kafka_new takes conf only on success
    rd_kafka_conf_destroy(conf);
    return errstr;
  }
  rd_kafka_resp_err_t err =
      rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(d.topic.c_str()),
                        RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
                        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
  std::string error;
  if (err) {
    error = rd_kafka_err2str(err);
  } else {
    rd_kafka_flush(producer, static_cast<int>(timeout.count()) + 1000);
    if (delivered) error = rd_kafka_err2str(delivered);
  }
  rd_kafka_destroy(producer);
  return error;
}

}  // namespace

void Destinations::deliver(const Completion& c) {
  const store::AsyncInvocationRecord& r = c.record;
  bool ok = r.state == "succeeded";
  auto version = catalog_.resolve(r.tenant, r.function, r.qualifier);
  if (!version) {
    // The function went away since: nothing names a destination any more.
    return;
  }
  const std::string& target = ok ? (*version)->config.on_success : (*version)->config.on_failure;
  if (target.empty()) return;
  nlohmann::json fields = {{"invocation", r.id},
                           {"tenant", r.tenant},
                           {"function", r.function},
                           {"condition", destinationCondition(r)},
                           {"destination", target}};
  auto destination = bundle::parseDestination(target);
  if (!destination) {  // validated at deploy; a stored config should not get here
    fields["error"] = destination.status().message();
    observe::logEvent(observe::LogLevel::Error, "destination.invalid", fields);
    return;
  }
  std::string record = destinationRecord(c, nowMicros());
  if (destination->kind == bundle::Destination::Kind::kFunction) {
    auto to = catalog_.resolve(r.tenant, destination->function, "");
    if (!to) {
      fields["error"] = to.status().message();
      observe::logEvent(observe::LogLevel::Error, "destination.failed", fields);
      return;
    }
    store::AsyncInvocationRecord next;
    next.id = newActivationId();
    next.tenant = r.tenant;
    next.function = destination->function;
    next.payload = std::move(record);
    next.trigger = "destination";
    next.source = r.id;
    next.trace_id = r.trace_id;
    next.max_retries = (*to)->config.max_retries;
    next.max_event_age_s = (*to)->config.max_event_age_s;
    next.received_at_us = nowMicros();
    next.next_attempt_at_us = next.received_at_us;
    next.state = "queued";
    Status stored = store_.enqueueAsync(next);
    if (!stored.isOk()) {
      fields["error"] = stored.message();
      observe::logEvent(observe::LogLevel::Error, "destination.failed", fields);
      return;
    }
    fields["enqueued"] = next.id;
    observe::logEvent(observe::LogLevel::Info, "destination.sent", fields);
    if (wake_) wake_();
    return;
  }
  std::chrono::milliseconds backoff = options_.kafka_backoff;
  std::string error;
  for (int attempt = 1; attempt <= options_.kafka_attempts; ++attempt) {
    error = produceOnce(*destination, r.id, record, options_.kafka_timeout);
    if (error.empty()) {
      fields["attempts"] = attempt;
      observe::logEvent(observe::LogLevel::Info, "destination.sent", fields);
      return;
    }
    fields["attempt"] = attempt;
    fields["error"] = error;
    observe::logEvent(observe::LogLevel::Warn, "destination.produce_failed", fields);
    if (attempt < options_.kafka_attempts) {
      std::this_thread::sleep_for(backoff);
      backoff *= 2;
    }
  }
  observe::logEvent(observe::LogLevel::Error, "destination.failed", fields);
}

}  // namespace gust::events
