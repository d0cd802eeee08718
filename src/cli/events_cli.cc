#include "cli/events_cli.h"

#include <cstdio>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/output.h"
#include "protocol/json_input.h"

namespace gust::cli {
namespace {

using nlohmann::json;

// A time field that may be null: "-" then.
std::string shortTimeOf(const json& value) {
  return value.is_string() && !value.get<std::string>().empty()
             ? shortTime(value.get<std::string>())
             : "-";
}

std::string oneLine(std::string text, std::size_t max = 60) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  if (text.size() > max) text = text.substr(0, max - 3) + "...";
  return text;
}

int deadLetters(const EventCommands& c, const Connection& connection, bool as_json) {
  std::string base = fmt::format("/api/v1/functions/{}/dead-letters", urlEncode(c.function));
  if (c.dlq_ls->parsed()) {
    auto body = sendJson(connection, "GET", fmt::format("{}?limit={}", base, c.limit));
    if (!body) return fail(body.status());
    if (as_json) return std::printf("%s\n", (*body)["dead_letters"].dump(2).c_str()), 0;
    if ((*body)["dead_letters"].empty()) {
      std::printf("No dead letters for %s.\n", c.function.c_str());
      return 0;
    }
    std::vector<std::vector<std::string>> rows = {
        {"ID", "TRIGGER", "RECEIVED", "ATTEMPTS", "REASON", "LAST ERROR"}};
    for (const auto& d : (*body)["dead_letters"]) {
      rows.push_back({d.value("id", ""), d.value("trigger", ""), shortTimeOf(d["received_at"]),
                      std::to_string(d.value("attempts", 0)),
                      d["dead_reason"].is_string() ? d["dead_reason"].get<std::string>() : "-",
                      oneLine(d.value("last_error", ""))});
    }
    printTable(rows);
    std::printf("\nreplay: gust dlq replay %s [--id ID]   drop: gust dlq purge %s [--id ID]\n",
                c.function.c_str(), c.function.c_str());
    return 0;
  }
  bool replay = c.dlq_replay->parsed();
  json body = json::object();
  if (!c.ids.empty()) body["ids"] = c.ids;
  auto result = replay ? sendJson(connection, "POST", base + "/replay", body)
                       : sendJson(connection, "DELETE", base, body);
  if (!result) return fail(result.status());
  if (as_json) return std::printf("%s\n", result->dump(2).c_str()), 0;
  const json& ids = (*result)[replay ? "replayed" : "purged"];
  std::printf("%s %zu dead letter%s of %s\n", replay ? "Replayed" : "Purged", ids.size(),
              ids.size() == 1 ? "" : "s", c.function.c_str());
  if (replay && !ids.empty()) {
    std::printf("  follow one: gust invocation %s\n", ids[0].get<std::string>().c_str());
  }
  return 0;
}

void printTrigger(const json& t) {
  std::printf("Trigger %s: %s '%s' (%s) -> %s%s\n", t.value("id", "").c_str(),
              t.value("kind", "").c_str(), t.value("schedule", "").c_str(),
              t.value("tz", "").c_str(), t.value("function", "").c_str(),
              t.value("paused", false) ? " [paused]" : "");
  if (t.contains("next_slot") && t["next_slot"].is_string()) {
    std::printf("  next: %s\n", t["next_slot"].get<std::string>().c_str());
  }
}

int triggers(const EventCommands& c, const Connection& connection, bool as_json) {
  if (c.trigger_cron->parsed()) {
    json body = {{"kind", "cron"},
                 {"function", c.function},
                 {"schedule", c.schedule},
                 {"tz", c.tz},
                 {"catch_up", c.catch_up}};
    if (!c.payload.empty()) {
      json payload = protocol::parseJsonOrDiscarded(c.payload);
      if (payload.is_discarded()) {
        return fail(
            invalidArgument("--payload must be JSON, e.g. --payload '{\"job\": \"cleanup\"}'"));
      }
      body["payload"] = payload;
    }
    auto created = sendJson(connection, "POST", "/api/v1/triggers", body);
    if (!created) return fail(created.status());
    if (as_json) return std::printf("%s\n", created->dump(2).c_str()), 0;
    printTrigger(*created);
    return 0;
  }
  if (c.trigger_kafka->parsed()) {
    json body = {{"kind", "kafka"},  {"function", c.function},
                 {"topic", c.topic}, {"brokers", c.brokers},
                 {"batch", c.batch}, {"window", c.window},
                 {"start", c.start}, {"max_retries", c.max_retries}};
    if (!c.group.empty()) body["group"] = c.group;
    if (!c.dlq_topic.empty()) body["dlq"] = c.dlq_topic;
    json properties = json::object();
    for (const auto& property : c.properties) {
      auto eq = property.find('=');
      if (eq == std::string::npos || eq == 0) {
        return fail(
            invalidArgument(fmt::format("--property takes KEY=VALUE (a librdkafka setting, e.g. "
                                        "security.protocol=SASL_SSL), not '{}'",
                                        property)));
      }
      properties[property.substr(0, eq)] = property.substr(eq + 1);
    }
    if (!properties.empty()) body["properties"] = properties;
    auto created = sendJson(connection, "POST", "/api/v1/triggers", body);
    if (!created) return fail(created.status());
    if (as_json) return std::printf("%s\n", created->dump(2).c_str()), 0;
    std::printf("Trigger %s: kafka %s @ %s (group %s, batch %lld) -> %s\n",
                created->value("id", "").c_str(), c.topic.c_str(), c.brokers.c_str(),
                created->value("group", "").c_str(), static_cast<long long>(c.batch),
                c.function.c_str());
    return 0;
  }
  if (c.trigger_ls->parsed()) {
    std::string target = "/api/v1/triggers";
    if (!c.function.empty()) target += "?function=" + urlEncode(c.function);
    auto body = sendJson(connection, "GET", target);
    if (!body) return fail(body.status());
    if (as_json) return std::printf("%s\n", (*body)["triggers"].dump(2).c_str()), 0;
    if ((*body)["triggers"].empty()) {
      std::printf("No triggers yet. Make one: gust trigger cron '*/5 * * * *' --fn NAME\n");
      return 0;
    }
    std::vector<std::vector<std::string>> rows = {
        {"ID", "KIND", "FUNCTION", "SOURCE", "STATE", "LAST SLOT", "NEXT SLOT", "LAG"}};
    for (const auto& t : (*body)["triggers"]) {
      bool kafka = t.value("kind", "") == "kafka";
      std::string source =
          kafka ? fmt::format("{} @ {}", t.value("topic", ""), t.value("brokers", ""))
                : fmt::format("{} ({})", t.value("schedule", ""), t.value("tz", ""));
      std::string lag = "-";
      if (kafka && t.contains("lag") && t["lag"].is_object()) {
        lag = std::to_string(t["lag"].value("total", 0));
        std::string parts;
        for (const auto& p : t["lag"].value("partitions", json::array())) {
          parts += fmt::format("{}{}:{}", parts.empty() ? "" : " ", p.value("partition", 0),
                               p.value("lag", 0));
        }
        if (!parts.empty()) lag += " (" + parts + ")";
      }
      rows.push_back({t.value("id", ""), t.value("kind", ""), t.value("function", ""), source,
                      t.value("paused", false) ? "paused" : "active",
                      kafka ? "-" : shortTimeOf(t.value("last_slot", json())),
                      kafka ? "-" : shortTimeOf(t.value("next_slot", json())), lag});
    }
    printTable(rows);
    return 0;
  }
  std::string target = "/api/v1/triggers/" + urlEncode(c.id);
  if (c.trigger_rm->parsed()) {
    auto removed = sendJson(connection, "DELETE", target);
    if (!removed) return fail(removed.status());
    if (as_json) return std::printf("%s\n", removed->dump(2).c_str()), 0;
    std::printf("Removed trigger %s\n", c.id.c_str());
    return 0;
  }
  bool pause = c.trigger_pause->parsed();
  json body = {{"paused", pause}};
  auto changed = sendJson(connection, "PATCH", target, body);
  if (!changed) return fail(changed.status());
  if (as_json) return std::printf("%s\n", changed->dump(2).c_str()), 0;
  printTrigger(*changed);
  return 0;
}

int invocation(const EventCommands& c, const Connection& connection, bool as_json) {
  auto body = sendJson(connection, "GET", "/api/v1/invocations/" + urlEncode(c.id));
  if (!body) return fail(body.status());
  if (as_json) return std::printf("%s\n", body->dump(2).c_str()), 0;
  const json& r = *body;
  std::printf("%s  %s  %s  (%s, %lld attempt%s, max_retries %lld)\n", r.value("id", "").c_str(),
              r.value("function", "").c_str(), r.value("state", "").c_str(),
              r.value("trigger", "").c_str(), static_cast<long long>(r.value("attempts", 0)),
              r.value("attempts", 0) == 1 ? "" : "s",
              static_cast<long long>(r.value("max_retries", 0)));
  if (r["next_attempt_at"].is_string()) {
    std::printf("  next attempt: %s\n", shortTimeOf(r["next_attempt_at"]).c_str());
  }
  if (r["dead_reason"].is_string()) {
    std::printf("  dead letter: %s\n", r["dead_reason"].get<std::string>().c_str());
  }
  for (const auto& a : r.value("attempt_history", json::array())) {
    std::printf(
        "  #%lld  %s  %s  %s%s\n", static_cast<long long>(a.value("attempt", 0)),
        shortTimeOf(a["started_at"]).c_str(), a.value("activation_id", "").c_str(),
        a.value("status", "").c_str(),
        a.value("error", "").empty() ? "" : ("  " + oneLine(a.value("error", ""), 100)).c_str());
  }
  return 0;
}

}  // namespace

void addEventCommands(CLI::App& app, EventCommands& c) {
  c.dlq = app.add_subcommand(
      "dlq", "A function's dead letters: async invocations that failed every attempt");
  c.dlq->require_subcommand(1);
  c.dlq_ls = c.dlq->add_subcommand("ls", "List the dead letters, with their last error");
  c.dlq_ls->add_option("name", c.function, "The function")->required();
  c.dlq_ls->add_option("-n,--limit", c.limit, "At most this many")->capture_default_str();
  c.dlq_replay = c.dlq->add_subcommand("replay", "Queue dead letters again (all, or --id ...)");
  c.dlq_replay->add_option("name", c.function, "The function")->required();
  c.dlq_replay->add_option("--id", c.ids, "Only these invocations");
  c.dlq_purge = c.dlq->add_subcommand("purge", "Delete dead letters (all, or --id ...)");
  c.dlq_purge->add_option("name", c.function, "The function")->required();
  c.dlq_purge->add_option("--id", c.ids, "Only these invocations");

  c.trigger =
      app.add_subcommand("trigger", "Triggers: events that invoke a function (cron, kafka)");
  c.trigger->require_subcommand(1);
  c.trigger_cron = c.trigger->add_subcommand("cron", "Invoke a function on a schedule");
  c.trigger_cron
      ->add_option("schedule", c.schedule,
                   "Five cron fields ('*/5 * * * *'), @hourly/@daily/..., or '@every 30s'")
      ->required();
  c.trigger_cron->add_option("--fn", c.function, "The function to invoke")->required();
  c.trigger_cron->add_option("--tz", c.tz, "IANA time zone of the cron fields")
      ->capture_default_str();
  c.trigger_cron->add_option("--payload", c.payload, "JSON sent in the event's \"payload\"");
  c.trigger_cron->add_flag("--catch-up", c.catch_up,
                           "After the server was down, fire one missed slot on start");
  c.trigger_kafka =
      c.trigger->add_subcommand("kafka", "Invoke a function with batches of a topic's records");
  c.trigger_kafka->add_option("topic", c.topic, "The topic")->required();
  c.trigger_kafka->add_option("--fn", c.function, "The function to invoke")->required();
  c.trigger_kafka->add_option("--brokers", c.brokers, "HOST:PORT[,HOST:PORT...]")->required();
  c.trigger_kafka->add_option("--group", c.group, "Consumer group (default: gust-<trigger id>)");
  c.trigger_kafka->add_option("--batch", c.batch, "Records per invocation, at most")
      ->capture_default_str();
  c.trigger_kafka->add_option("--window", c.window, "How long a batch may wait to fill (500ms, 2s)")
      ->capture_default_str();
  c.trigger_kafka->add_option("--start", c.start, "Where a new group starts")
      ->check(CLI::IsMember({"earliest", "latest"}))
      ->capture_default_str();
  c.trigger_kafka->add_option("--dlq", c.dlq_topic, "Topic for records that fail every retry");
  c.trigger_kafka->add_option("--max-retries", c.max_retries, "Retries of a failing record")
      ->capture_default_str();
  c.trigger_kafka->add_option("--property", c.properties,
                              "KEY=VALUE passed to librdkafka (SASL, TLS), repeatable");
  c.trigger_ls =
      c.trigger->add_subcommand("ls", "List triggers: slots (cron), lag per partition (kafka)");
  c.trigger_ls->add_option("--fn", c.function, "Only this function's");
  c.trigger_rm = c.trigger->add_subcommand("rm", "Remove a trigger");
  c.trigger_rm->add_option("id", c.id)->required();
  c.trigger_pause =
      c.trigger->add_subcommand("pause", "Stop firing (slots while paused are skipped)");
  c.trigger_pause->add_option("id", c.id)->required();
  c.trigger_resume = c.trigger->add_subcommand("resume", "Fire again from the next slot");
  c.trigger_resume->add_option("id", c.id)->required();

  c.invocation =
      app.add_subcommand("invocation", "Show an asynchronous invocation and its attempts");
  c.invocation->add_option("id", c.id, "The id `invoke --async` printed")->required();
}

std::optional<int> runEventCommand(const EventCommands& c, const Connection& connection,
                                   bool as_json) {
  if (c.dlq->parsed()) return deadLetters(c, connection, as_json);
  if (c.trigger->parsed()) return triggers(c, connection, as_json);
  if (c.invocation->parsed()) return invocation(c, connection, as_json);
  return std::nullopt;
}

int invokeAsync(const Connection& connection, const std::string& function,
                const std::string& qualifier, const std::string& entry, const std::string& data,
                bool as_json) {
  http::ClientRequest request;
  request.method = "POST";
  request.target = fmt::format("/api/v1/functions/{}/invoke?qualifier={}&entry={}",
                               urlEncode(function), urlEncode(qualifier), urlEncode(entry));
  request.headers["Content-Type"] = "application/json";
  request.headers["X-Gust-Invocation-Type"] = "Event";
  request.body = data.empty() ? "{}" : data;
  if (protocol::parseJsonOrDiscarded(request.body).is_discarded()) {
    return fail(invalidArgument("--data must be JSON, e.g. --data '{\"name\": \"ada\"}'"));
  }
  auto response = callApi(connection, request);
  if (!response) return fail(response.status());
  auto body = protocol::parseJsonOrDiscarded(response->body);
  std::string id = body.is_object() ? body.value("activation_id", "") : "";
  if (as_json) {
    json out = {{"activation_id", id}, {"status", response->status}, {"state", "queued"}};
    return std::printf("%s\n", out.dump(2).c_str()), 0;
  }
  std::printf("Accepted: activation %s (queued, durable)\n  follow it: gust invocation %s\n",
              id.c_str(), id.c_str());
  return 0;
}

}  // namespace gust::cli
