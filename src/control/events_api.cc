// The control API's event endpoints: asynchronous invocations and their attempts, a function's
// dead letters (list, replay, purge), and triggers (cron: create, list, pause, resume, remove).
// Everything is scoped to the caller's tenant: another tenant's invocation or trigger is a 404.

#include <algorithm>
#include <vector>

#include <boost/asio/post.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/ids.h"
#include "common/time.h"
#include "control/api_util.h"
#include "control/control_api.h"
#include "control/query_params.h"
#include "events/cron/cron_runner.h"
#include "events/cron/schedule.h"
#include "events/events.h"
#include "events/kafka/kafka_config.h"
#include "events/kafka/kafka_runner.h"
#include "gateway/http_status.h"
#include "loop/offload.h"
#include "observe/log.h"
#include "protocol/json_input.h"

namespace gust::control {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using nlohmann::json;
namespace bhttp = http::beast::http;

json invocationJson(const store::AsyncInvocationRecord& r) {
  json out = {{"id", r.id},
              {"function", r.function},
              {"qualifier", r.qualifier},
              {"entry", r.entry},
              {"trigger", r.trigger},
              {"source", r.source},
              {"state", r.state},
              {"attempts", r.attempts},
              {"max_retries", r.max_retries},
              {"max_event_age_s", r.max_event_age_s},
              {"received_at", rfc3339(r.received_at_us)},
              {"next_attempt_at",
               r.state == "queued" ? json(rfc3339(r.next_attempt_at_us)) : json(nullptr)},
              {"finished_at", r.finished_at_us ? json(rfc3339(r.finished_at_us)) : json(nullptr)},
              {"last_error", r.last_error},
              {"dead_reason", r.dead_reason.empty() ? json(nullptr) : json(r.dead_reason)},
              {"trace_id", r.trace_id}};
  if (r.state == "dead") {
    out["payload"] = protocol::jsonOrText(r.payload);
  }
  return out;
}

json attemptJson(const store::AsyncAttemptRecord& a) {
  return {{"attempt", a.attempt},
          {"activation_id", a.activation_id},
          {"status", a.status},
          {"error", a.error},
          {"started_at", rfc3339(a.started_at_us)},
          {"finished_at", rfc3339(a.finished_at_us)}};
}

json triggerJson(
    const store::TriggerRecord& t, int64_t now_us,
    const std::optional<std::vector<events::kafka::PartitionLag>>& lag = std::nullopt) {
  json out = {{"id", t.id},
              {"kind", t.kind},
              {"function", t.function},
              {"paused", t.paused},
              {"created_at", rfc3339(t.created_at_us)}};
  if (t.kind == "cron") {
    auto config = events::cron::cronConfigFromJson(t.config_json);
    if (config) {
      out["schedule"] = config->schedule;
      out["tz"] = config->tz;
      out["payload"] = config->payload;
      out["catch_up"] = config->catch_up;
      auto schedule = events::cron::Schedule::parse(config->schedule, config->tz);
      if (schedule) {
        auto next = schedule->nextAfter(std::max(t.last_slot_us, now_us));
        out["next_slot"] = next && !t.paused ? json(rfc3339(*next)) : json(nullptr);
      }
    }
    out["last_slot"] = t.last_slot_us ? json(rfc3339(t.last_slot_us)) : json(nullptr);
  }
  if (t.kind == "kafka") {
    auto config = events::kafka::kafkaConfigFromJson(protocol::parseJsonOrDiscarded(t.config_json));
    if (config) {
      out["topic"] = config->topic;
      out["brokers"] = config->brokers;
      out["group"] = config->group.empty() ? "gust-" + t.id : config->group;
      out["batch"] = config->batch;
      out["window_ms"] = config->window_ms;
      out["start"] = config->start;
      out["dlq"] = config->dlq_topic.empty() ? json(nullptr) : json(config->dlq_topic);
      out["max_retries"] = config->max_retries;
      // Values may be credentials (sasl.password): only the names are shown.
      json names = json::array();
      for (const auto& [name, value] : config->properties) names.push_back(name);
      out["properties"] = names;
    }
    if (lag) {
      json partitions = json::array();
      int64_t total = 0;
      for (const auto& p : *lag) {
        partitions.push_back({{"partition", p.partition},
                              {"committed", p.committed},
                              {"high_watermark", p.high_watermark},
                              {"lag", p.lag}});
        total += p.lag;
      }
      out["lag"] = {{"total", total}, {"partitions", partitions}};
    } else {
      out["lag"] = nullptr;
    }
  }
  return out;
}

// {"ids": ["..."]} or no body: which dead letters a replay or purge touches (empty = all).
Result<std::vector<std::string>> idsFromBody(const std::string& body) {
  if (body.empty()) return std::vector<std::string>{};
  json j = protocol::parseJsonOrDiscarded(body);
  if (!j.is_object() || (j.contains("ids") && !j["ids"].is_array())) {
    return invalidArgument(
        "send no body (all dead letters) or {\"ids\": [\"<invocation id>\", ...]}");
  }
  std::vector<std::string> ids;
  for (const auto& id : j.value("ids", json::array())) {
    if (!id.is_string()) return invalidArgument("ids must be strings");
    ids.push_back(id.get<std::string>());
  }
  return ids;
}

}  // namespace

bool ControlApi::isEventsResource(const std::vector<std::string>& seg) {
  if (!seg.empty() && (seg[0] == "triggers" || seg[0] == "invocations")) return true;
  return seg.size() >= 3 && seg[0] == "functions" && seg[2] == "dead-letters";
}

awaitable<void> ControlApi::eventsApi(http::Exchange& exchange, const Caller& caller) {
  auto fail = [&](const Status& status) {
    return exchange.respond(gateway::errorResponseFor(status));
  };
  http::Request& request = exchange.request();
  Target target = parseTarget(request.target());
  const auto& seg = target.segments;
  auto method = request.method();
  auto blocking = deps_.blocking.get_executor();
  auto& store = deps_.store;
  const std::string& tenant = caller.tenant;
  int limit = 100;
  if (auto it = target.query.find("limit"); it != target.query.end()) {
    auto parsed = integerParam("limit", it->second, 1, 1000);
    if (!parsed) co_return co_await fail(parsed.status());
    limit = static_cast<int>(*parsed);
  }

  // --- asynchronous invocations -------------------------------------------------------------
  if (seg[0] == "invocations") {
    if (seg.size() == 1 && method == http::Verb::get) {
      store::AsyncQuery query;
      query.tenant = tenant;
      query.limit = limit;
      if (!target.query["function"].empty()) query.function = target.query["function"];
      if (!target.query["state"].empty()) {
        static const char* kStates[] = {"queued", "running", "succeeded", "dead"};
        if (std::find(std::begin(kStates), std::end(kStates), target.query["state"]) ==
            std::end(kStates)) {
          co_return co_await fail(
              invalidArgument("state must be queued, running, succeeded or dead"));
        }
        query.state = target.query["state"];
      }
      auto list = co_await loop::offload(blocking, [&] { return store.listAsync(query); });
      if (!list) co_return co_await fail(list.status());
      json items = json::array();
      for (const auto& r : *list) items.push_back(invocationJson(r));
      json body = {{"invocations", items}};
      co_return co_await respondJson(exchange, bhttp::status::ok, body);
    }
    if (seg.size() == 2 && method == http::Verb::get) {
      const std::string& id = seg[1];
      auto read = [&]() -> Result<json> {
        auto record = store.getAsync(tenant, id);
        if (!record) return record.status();
        auto attempts = store.listAsyncAttempts(id);
        if (!attempts) return attempts.status();
        json out = invocationJson(*record);
        json list = json::array();
        for (const auto& a : *attempts) list.push_back(attemptJson(a));
        out["attempt_history"] = list;
        return out;
      };
      auto body = co_await loop::offload(blocking, read);
      if (!body) co_return co_await fail(body.status());
      co_return co_await respondJson(exchange, bhttp::status::ok, *body);
    }
    co_return co_await fail(notFound("no such control API resource"));
  }

  // --- dead letters ---------------------------------------------------------------------------
  if (seg[0] == "functions") {
    const std::string& function = seg[1];
    if (seg.size() == 3 && method == http::Verb::get) {
      auto read = [&]() -> Result<json> {
        store::AsyncQuery query;
        query.tenant = tenant;
        query.function = function;
        query.state = "dead";
        query.limit = limit;
        auto list = store.listAsync(query);
        if (!list) return list.status();
        // A removed function's dead letters stay readable; an unknown name with none is a 404.
        if (list->empty()) {
          auto exists = store.getFunction(tenant, function);
          if (!exists) return exists.status();
        }
        json items = json::array();
        for (const auto& r : *list) {
          json item = invocationJson(r);
          auto attempts = store.listAsyncAttempts(r.id);
          json history = json::array();
          if (attempts) {
            for (const auto& a : *attempts) history.push_back(attemptJson(a));
          }
          item["attempt_history"] = history;
          items.push_back(item);
        }
        return json{{"function", function}, {"dead_letters", items}};
      };
      auto body = co_await loop::offload(blocking, read);
      if (!body) co_return co_await fail(body.status());
      co_return co_await respondJson(exchange, bhttp::status::ok, *body);
    }
    bool replay = seg.size() == 4 && seg[3] == "replay" && method == http::Verb::post;
    bool purge = seg.size() == 3 && method == http::Verb::delete_;
    if (!replay && !purge) co_return co_await fail(notFound("no such control API resource"));
    auto ids = idsFromBody(request.body());
    if (!ids) co_return co_await fail(ids.status());
    int64_t now = nowMicros();
    auto change = [&]() -> Result<std::vector<std::string>> {
      auto touched = replay ? store.replayDeadLetters(tenant, function, *ids, now)
                            : store.purgeDeadLetters(tenant, function, *ids);
      if (!touched) return touched.status();
      // As for the list: a name with no dead letters of this tenant's is a 404 unless the
      // tenant has such a function, so another tenant's function looks like nobody's.
      if (touched->empty()) {
        auto exists = store.getFunction(tenant, function);
        if (!exists) return exists.status();
      }
      for (const auto& id : *ids) {
        if (std::find(touched->begin(), touched->end(), id) == touched->end()) {
          return notFound(fmt::format("function '{}' has no dead letter '{}'", function, id));
        }
      }
      return touched;
    };
    auto touched = co_await loop::offload(blocking, change);
    std::string detail = touched ? fmt::format("{} dead letters", touched->size()) : "";
    store::AuditRecord audit_entry =
        auditEntry(caller, replay ? "dlq.replay" : "dlq.purge", function, touched.status(), detail);
    co_await audit(audit_entry);
    if (!touched) co_return co_await fail(touched.status());
    if (replay) deps_.events.wake();
    json body = {{"function", function}, {replay ? "replayed" : "purged", *touched}};
    co_return co_await respondJson(exchange, bhttp::status::ok, body);
  }

  // --- triggers -------------------------------------------------------------------------------
  if (seg.size() == 1 && method == http::Verb::get) {
    auto list = co_await loop::offload(
        blocking, [&] { return store.listTriggers(std::optional<std::string>(tenant)); });
    if (!list) co_return co_await fail(list.status());
    json items = json::array();
    int64_t now = nowMicros();
    for (const auto& t : *list) {
      if (!target.query["function"].empty() && t.function != target.query["function"]) continue;
      items.push_back(
          triggerJson(t, now, t.kind == "kafka" ? deps_.events.kafkaLag(t.id) : std::nullopt));
    }
    json body = {{"triggers", items}};
    co_return co_await respondJson(exchange, bhttp::status::ok, body);
  }
  if (seg.size() == 1 && method == http::Verb::post) {
    json body = protocol::parseJsonOrDiscarded(request.body());
    if (!body.is_object() || !body.contains("kind") || !body["kind"].is_string() ||
        !body.contains("function") || !body["function"].is_string()) {
      co_return co_await fail(invalidArgument(
          "send {\"kind\": \"cron\", \"function\": \"NAME\", \"schedule\": \"*/5 * * * *\", "
          "\"tz\": \"UTC\", \"payload\": {...}, \"catch_up\": false}"));
    }
    std::string kind = body["kind"].get<std::string>();
    if (kind == "kafka") co_return co_await createKafkaTrigger(exchange, caller, body);
    if (kind != "cron") {
      co_return co_await fail(
          invalidArgument(fmt::format("unknown trigger kind '{}': use cron or kafka", kind)));
    }
    events::cron::CronConfig config;
    if (!body.contains("schedule") || !body["schedule"].is_string()) {
      co_return co_await fail(
          invalidArgument("a cron trigger needs \"schedule\": \"*/5 * * * *\" or \"@every 30s\""));
    }
    config.schedule = body["schedule"].get<std::string>();
    if (body.contains("tz") && !body["tz"].is_null()) {
      if (!body["tz"].is_string())
        co_return co_await fail(invalidArgument("tz must be a string like \"UTC\""));
      config.tz = body["tz"].get<std::string>();
    }
    if (body.contains("catch_up")) {
      if (!body["catch_up"].is_boolean())
        co_return co_await fail(invalidArgument("catch_up must be true or false"));
      config.catch_up = body["catch_up"].get<bool>();
    }
    config.payload = body.value("payload", json());
    auto schedule = events::cron::Schedule::parse(config.schedule, config.tz);
    if (!schedule) co_return co_await fail(schedule.status());
    config.schedule = schedule->spec();
    store::TriggerRecord record;
    record.id = "trg_" + randomHex(6);
    record.tenant = tenant;
    record.kind = kind;
    record.function = body["function"].get<std::string>();
    record.config_json = events::cron::toJson(config).dump();
    record.created_at_us = nowMicros();
    record.last_slot_us = record.created_at_us;  // slots from now on
    auto create = [&]() -> Status {
      auto exists = store.getFunction(tenant, record.function);
      if (!exists) return exists.status();
      return store.createTrigger(record);
    };
    Status created = co_await loop::offload(blocking, create);
    std::string detail =
        fmt::format("cron '{}' ({}) -> {}", config.schedule, config.tz, record.function);
    store::AuditRecord audit_entry =
        auditEntry(caller, "trigger.create", record.id, created, detail);
    co_await audit(audit_entry);
    if (!created.isOk()) co_return co_await fail(created);
    observe::logEvent(observe::LogLevel::Info, "trigger.created",
                      {{"trigger", record.id},
                       {"tenant", tenant},
                       {"function", record.function},
                       {"schedule", config.schedule}});
    json out = triggerJson(record, nowMicros());
    co_return co_await respondJson(exchange, bhttp::status::created, out);
  }
  if (seg.size() != 2) co_return co_await fail(notFound("no such control API resource"));
  const std::string& id = seg[1];
  if (method == http::Verb::get) {
    auto trigger = co_await loop::offload(blocking, [&] { return store.getTrigger(tenant, id); });
    if (!trigger) co_return co_await fail(trigger.status());
    auto lag = trigger->kind == "kafka" ? deps_.events.kafkaLag(id) : std::nullopt;
    json out = triggerJson(*trigger, nowMicros(), lag);
    co_return co_await respondJson(exchange, bhttp::status::ok, out);
  }
  if (method == http::Verb::delete_) {
    auto remove = [&] { return store.deleteTrigger(tenant, id); };
    Status removed = co_await loop::offload(blocking, remove);
    store::AuditRecord audit_entry = auditEntry(caller, "trigger.rm", id, removed);
    co_await audit(audit_entry);
    if (!removed.isOk()) co_return co_await fail(removed);
    json out = {{"deleted", id}};
    co_return co_await respondJson(exchange, bhttp::status::ok, out);
  }
  if (method == http::Verb::patch) {
    json body = protocol::parseJsonOrDiscarded(request.body());
    if (!body.is_object() || !body.contains("paused") || !body["paused"].is_boolean()) {
      co_return co_await fail(invalidArgument("send {\"paused\": true} or {\"paused\": false}"));
    }
    bool paused = body["paused"].get<bool>();
    int64_t now = nowMicros();
    auto change = [&]() -> Result<store::TriggerRecord> {
      auto trigger = store.getTrigger(tenant, id);
      if (!trigger) return trigger.status();
      GUST_RETURN_IF_ERROR(store.setTriggerPaused(tenant, id, paused));
      if (!paused && trigger->paused && trigger->kind == "cron") {
        // Slots that passed while paused are skipped, not fired on resume.
        (void)store.claimCronSlot(id, trigger->last_slot_us, std::max(trigger->last_slot_us, now),
                                  std::nullopt);
      }
      return store.getTrigger(tenant, id);
    };
    auto changed = co_await loop::offload(blocking, change);
    store::AuditRecord audit_entry =
        auditEntry(caller, paused ? "trigger.pause" : "trigger.resume", id, changed.status());
    co_await audit(audit_entry);
    if (!changed) co_return co_await fail(changed.status());
    json out = triggerJson(*changed, nowMicros());
    co_return co_await respondJson(exchange, bhttp::status::ok, out);
  }
  co_await fail(notFound("no such control API resource"));
}

awaitable<void> ControlApi::createKafkaTrigger(http::Exchange& exchange, const Caller& caller,
                                               const json& body) {
  auto fail = [&](const Status& status) {
    return exchange.respond(gateway::errorResponseFor(status));
  };
  auto config = events::kafka::kafkaConfigFromJson(body);
  if (!config) co_return co_await fail(config.status());
  auto& store = deps_.store;
  store::TriggerRecord record;
  record.id = "trg_" + randomHex(6);
  record.tenant = caller.tenant;
  record.kind = "kafka";
  record.function = body["function"].get<std::string>();
  record.config_json = events::kafka::toJson(*config).dump();
  record.created_at_us = nowMicros();
  auto create = [&]() -> Status {
    auto exists = store.getFunction(record.tenant, record.function);
    if (!exists) return exists.status();
    return store.createTrigger(record);
  };
  Status created = co_await loop::offload(deps_.blocking.get_executor(), create);
  std::string detail =
      fmt::format("kafka {} @ {} -> {}", config->topic, config->brokers, record.function);
  store::AuditRecord audit_entry = auditEntry(caller, "trigger.create", record.id, created, detail);
  co_await audit(audit_entry);
  if (!created.isOk()) co_return co_await fail(created);
  observe::logEvent(observe::LogLevel::Info, "trigger.created",
                    {{"trigger", record.id},
                     {"tenant", record.tenant},
                     {"function", record.function},
                     {"topic", config->topic}});
  json out = triggerJson(record, nowMicros());
  co_return co_await respondJson(exchange, bhttp::status::created, out);
}

awaitable<void> ControlApi::asyncInvoke(http::Exchange& exchange, const Caller& caller,
                                        const std::string& function) {
  http::Request& request = exchange.request();
  if (std::string_view(request[events::kInvocationTypeHeader]) != "Event") {
    auto response = gateway::errorResponseFor(invalidArgument(
        fmt::format("{} must be Event (asynchronous) or RequestResponse (synchronous)",
                    events::kInvocationTypeHeader)));
    co_await exchange.respond(std::move(response));
    co_return;
  }
  Target target = parseTarget(request.target());
  events::AsyncRequest async;
  async.tenant = caller.tenant;
  async.function = function;
  async.qualifier = target.query["qualifier"];
  async.entry = target.query["entry"];
  async.payload = request.body().empty() ? "{}" : std::move(request.body());
  async.trace_id = gateway::traceIdFromTraceparent(request["traceparent"]);
  auto accepted = co_await deps_.events.accept(std::move(async));
  if (!accepted) {
    auto response = gateway::errorResponseFor(accepted.status());
    co_await exchange.respond(std::move(response));
    co_return;
  }
  http::Response response = jsonResponse(bhttp::status::accepted,
                                         json{{"activation_id", *accepted}, {"state", "queued"}});
  response.set("X-Gust-Activation-Id", *accepted);
  co_await exchange.respond(std::move(response));
}

}  // namespace gust::control
