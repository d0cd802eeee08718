#include "control/control_api.h"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <set>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "auth/tokens.h"
#include "common/ids.h"
#include "common/time.h"
#include "control/api_util.h"
#include "control/load_check.h"
#include "control/query_params.h"
#include "gateway/codec.h"
#include "gateway/http_status.h"
#include "gateway/route_ownership.h"
#include "loop/channel.h"
#include "loop/offload.h"
#include "observe/log.h"
#include "protocol/json_input.h"

namespace gust::control {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using nlohmann::json;
namespace bhttp = http::beast::http;

std::string baseUrl(http::Exchange& exchange) {
  std::string host(exchange.request()[http::Field::host]);
  return "http://" + (host.empty() ? std::string("127.0.0.1") : host);
}

json versionJson(const store::VersionRecord& v, int64_t live_version) {
  json out = {{"version", v.version},
              {"bundle_sha256", v.bundle_sha256},
              {"bundle_bytes", v.bundle_bytes},
              {"created_at", rfc3339(v.created_at_us)},
              {"live", v.version == live_version}};
  auto config = bundle::functionConfigFromJson(v.config_json);
  if (config) out["config"] = bundle::toJson(*config);
  return out;
}

// Where a tenant's function is invoked: /fn/NAME for the default tenant, /t/TENANT/fn/NAME else.
std::string functionUrl(const std::string& base_url, const std::string& tenant,
                        const std::string& name) {
  return tenant == store::kDefaultTenant ? fmt::format("{}/fn/{}", base_url, name)
                                         : fmt::format("{}/t/{}/fn/{}", base_url, tenant, name);
}

json functionJson(const store::FunctionRecord& f, const std::string& base_url) {
  return {{"name", f.name},
          {"tenant", f.tenant},
          {"live_version", f.live_version},
          {"versions", f.versions},
          {"created_at", rfc3339(f.created_at_us)},
          {"updated_at", rfc3339(f.updated_at_us)},
          {"url", functionUrl(base_url, f.tenant, f.name)}};
}

json activationJson(const store::ActivationRecord& a, bool with_logs) {
  json out = {{"id", a.id},
              {"function", a.function},
              {"version", a.version},
              {"entry", a.entry},
              {"trigger", a.trigger},
              {"status", a.status},
              {"http_status", a.http_status},
              {"cold", a.cold},
              {"init_ms", a.init_ms},
              {"received_at", rfc3339(a.received_at_us)},
              {"dispatched_at", rfc3339(a.dispatched_at_us)},
              {"started_at", rfc3339(a.started_at_us)},
              {"finished_at", rfc3339(a.finished_at_us)},
              {"responded_at", rfc3339(a.responded_at_us)},
              {"duration_ms", a.duration_ms},
              {"billed_ms", a.billed_ms},
              {"memory_mb", a.memory_mb},
              {"gb_s", metering::gbSeconds(a.memory_mb * a.billed_ms)},
              {"cpu_user_ms", static_cast<double>(a.cpu_user_us) / 1000.0},
              {"cpu_sys_ms", static_cast<double>(a.cpu_sys_us) / 1000.0},
              {"peak_memory_mb", static_cast<double>(a.peak_memory_bytes) / (1024.0 * 1024.0)},
              {"bytes_in", a.bytes_in},
              {"bytes_out", a.bytes_out},
              {"key_id", a.key_id.empty() ? json(nullptr) : json(a.key_id)},
              {"trace_id", a.trace_id},
              {"error", a.error}};
  if (with_logs) out["logs"] = a.logs;
  return out;
}

json usageJson(const store::UsageRow& u, const metering::PriceTable& prices) {
  auto cost = metering::costOf(u, prices, /*apply_free_tier=*/false);
  return {{"group", u.group},
          {"invocations", u.invocations},
          {"errors", u.errors},
          {"billed_ms", u.billed_ms},
          {"gb_s", metering::gbSeconds(u.mb_ms)},
          {"mb_ms", u.mb_ms},
          {"cpu_user_ms", static_cast<double>(u.cpu_user_us) / 1000.0},
          {"cpu_sys_ms", static_cast<double>(u.cpu_sys_us) / 1000.0},
          {"bytes_in", u.bytes_in},
          {"bytes_out", u.bytes_out},
          {"cost", cost.total()}};
}

struct DeployEvent {
  std::string progress;
  std::optional<Result<bundle::DeployResult>> done;
};

}  // namespace

awaitable<void> ControlApi::handle(http::Exchange& exchange) {
  AuthOutcome outcome = co_await authenticate(exchange);
  if (!outcome.caller) {
    auto response = gateway::errorResponseFor(outcome.status);
    if (outcome.status.code() == Code::Unauthenticated) {
      response.set(http::Field::www_authenticate, "Bearer");
    }
    if (outcome.retry_after_s > 0) {
      response.set(http::Field::retry_after, std::to_string(outcome.retry_after_s));
    }
    co_await exchange.respond(std::move(response));
    co_return;
  }
  co_await route(exchange, *outcome.caller);
}

awaitable<ControlApi::AuthOutcome> ControlApi::authenticate(http::Exchange& exchange) {
  // DESIGN: the admin token is compared directly; a tenant token names its record by id and is
  // checked against the stored hash (both in constant time), and its record is read on every
  // request, so a revocation applies to the next one. Only requests that present a bearer token
  // that does not verify drain the caller's failure bucket; a valid token always passes.
  http::Request& request = exchange.request();
  AuthOutcome out;
  std::string_view authorization = request[http::Field::authorization];
  constexpr std::string_view kBearer = "Bearer ";
  std::string_view presented = authorization.starts_with(kBearer)
                                   ? authorization.substr(kBearer.size())
                                   : std::string_view();
  Caller caller;
  caller.source_ip = exchange.peerAddress();
  bool verified = false;
  if (!presented.empty() && auth::constantTimeEquals(presented, deps_.admin_token)) {
    caller.admin = true;
    verified = true;
  } else if (auto id = auth::tokenId(presented)) {
    auto lookup = [this, &id] { return deps_.store.getToken(*id); };
    auto record = co_await loop::offload(deps_.blocking.get_executor(), lookup);
    if (record && record->revoked_at_us == 0 && auth::verifyToken(presented, record->hash)) {
      caller.token_id = record->id;
      caller.tenant = record->tenant;
      verified = true;
    }
  }
  if (!verified) {
    if (presented.empty()) {
      out.status = Status(Code::Unauthenticated,
                          "missing token: send 'Authorization: Bearer <token>' (the admin token "
                          "is in <data dir>/admin.token; `gust login URL TOKEN` stores it for "
                          "the CLI)");
      co_return out;
    }
    out.retry_after_s =
        limiter_.recordFailure(caller.source_ip, auth::FailureLimiter::Clock::now());
    observe::logEvent(observe::LogLevel::Warn, "auth.failed",
                      {{"source_ip", caller.source_ip}, {"limited", out.retry_after_s > 0}});
    out.status = out.retry_after_s > 0
                     ? Status(Code::RateLimited,
                              fmt::format("too many failed authentications from {}: retry in {} s",
                                          caller.source_ip, out.retry_after_s))
                     : Status(Code::Unauthenticated,
                              "wrong, unknown or revoked token: send 'Authorization: Bearer "
                              "<token>' with the admin token or a live tenant token");
    co_return out;
  }
  std::string wanted(request[kTenantHeader]);
  if (caller.admin) {
    caller.all_tenants = wanted.empty();
    caller.tenant = wanted.empty() ? std::string(store::kDefaultTenant) : wanted;
    if (!wanted.empty()) {
      if (Status valid = auth::validateTenantName(wanted); !valid.isOk()) {
        out.status = valid;
        co_return out;
      }
      auto lookup = [this, &wanted] { return deps_.store.getTenant(wanted); };
      auto tenant = co_await loop::offload(deps_.blocking.get_executor(), lookup);
      if (!tenant) {
        out.status = tenant.status();
        co_return out;
      }
    }
  } else if (!wanted.empty() && wanted != caller.tenant) {
    out.status =
        Status(Code::PermissionDenied,
               fmt::format("a tenant token acts on its own tenant only; drop the {} header",
                           kTenantHeader));
    co_return out;
  }
  out.caller = std::move(caller);
  co_return out;
}

store::AuditRecord auditEntry(const Caller& caller, std::string_view action,
                              std::string_view target, const Status& outcome,
                              std::string_view detail, std::string_view tenant) {
  store::AuditRecord record;
  record.at_us = nowMicros();
  record.actor = caller.actor();
  record.tenant = tenant.empty() ? caller.tenant : std::string(tenant);
  record.source_ip = caller.source_ip;
  record.action = std::string(action);
  record.target = std::string(target);
  record.outcome = outcome.isOk() ? "ok" : outcome.codeName();
  record.detail = std::string(detail);
  return record;
}

awaitable<void> ControlApi::audit(const store::AuditRecord& entry) {
  auto append = [this, &entry] { return deps_.store.appendAudit(entry); };
  Status written = co_await loop::offload(deps_.blocking.get_executor(), append);
  if (!written.isOk()) {
    observe::logEvent(observe::LogLevel::Error, "audit.failed",
                      {{"action", entry.action}, {"error", written.message()}});
  }
}

awaitable<void> ControlApi::route(http::Exchange& exchange, const Caller& caller) {
  http::Request& request = exchange.request();
  const std::string& tenant = caller.tenant;
  Target target = parseTarget(request.target());
  const auto& seg = target.segments;
  auto method = request.method();
  auto& store = deps_.store;
  auto blocking = deps_.blocking.get_executor();
  auto fail = [&](const Status& status) {
    return exchange.respond(gateway::errorResponseFor(status));
  };

  // Every body this API takes is JSON, but a deploy's archive. Its nesting is checked once, here,
  // so that no handler's walk of it (a dump into a stored record, an answer) can recurse deeper
  // than protocol::kMaxJsonDepth.
  bool archive = seg.size() == 3 && seg[0] == "functions" && seg[2] == "versions" &&
                 method == http::Verb::post;
  if (Status flat =
          archive ? Status::ok() : protocol::checkJsonDepth(request.body(), "the request body");
      !flat.isOk()) {
    co_return co_await fail(flat);
  }
  if (isEventsResource(seg)) co_return co_await eventsApi(exchange, caller);
  if (seg.size() >= 1 && seg[0] == "functions") {
    if (seg.size() == 1 && method == http::Verb::get) {
      auto functions =
          co_await loop::offload(blocking, [&] { return store.listFunctions(tenant); });
      if (!functions) co_return co_await fail(functions.status());
      json list = json::array();
      for (const auto& f : *functions) list.push_back(functionJson(f, baseUrl(exchange)));
      {
        http::Response reply = jsonResponse(bhttp::status::ok, {{"functions", list}});
        co_await exchange.respond(std::move(reply));
        co_return;
      }
    }
    if (seg.size() < 2) co_return co_await fail(notFound("no such control API resource"));
    const std::string& name = seg[1];
    if (seg.size() == 2 && method == http::Verb::get) {
      auto fn = co_await loop::offload(blocking, [&] { return store.getFunction(tenant, name); });
      if (!fn) co_return co_await fail(fn.status());
      json out = functionJson(*fn, baseUrl(exchange));
      auto live = co_await loop::offload(
          blocking, [&] { return store.getVersion(tenant, name, fn->live_version); });
      if (live) {
        auto config = bundle::functionConfigFromJson(live->config_json);
        if (config) {
          out["config"] = bundle::toJson(*config);
          json entries = json::array();
          for (const auto& e : config->entries) {
            std::string route = bundle::FunctionConfig::routeOf(e);
            entries.push_back({{"path", e.path},
                               {"runtime", e.runtime},
                               {"handler", e.handler},
                               {"url", functionUrl(baseUrl(exchange), tenant, name) + "/" + e.path},
                               {"route", baseUrl(exchange) + route}});
          }
          out["entries"] = entries;
        }
      }
      {
        http::Response reply = jsonResponse(bhttp::status::ok, out);
        co_await exchange.respond(std::move(reply));
        co_return;
      }
    }
    if (seg.size() == 2 && method == http::Verb::delete_) {
      auto deleted = co_await loop::offload(blocking, [&] {
        Status status = store.deleteFunction(tenant, name);
        if (status.isOk()) {
          deps_.catalog.invalidate(tenant, name);
          (void)deps_.catalog.reloadRoutes();
          deps_.deployer.removeFunctionFiles(tenant, name);
        }
        return status;
      });
      store::AuditRecord audit_entry = auditEntry(caller, "function.rm", name, deleted);
      co_await audit(audit_entry);
      if (!deleted.isOk()) co_return co_await fail(deleted);
      observe::logEvent(observe::LogLevel::Info, "function.removed",
                        {{"function", name}, {"tenant", tenant}});
      asio::post(deps_.scheduler.executor(), [&scheduler = deps_.scheduler, tenant, name] {
        scheduler.dropFunction(tenant, name);
      });
      {
        http::Response reply = jsonResponse(bhttp::status::ok, {{"deleted", name}});
        co_await exchange.respond(std::move(reply));
        co_return;
      }
    }
    if (seg.size() == 3 && seg[2] == "versions" && method == http::Verb::get) {
      auto fn = co_await loop::offload(blocking, [&] { return store.getFunction(tenant, name); });
      if (!fn) co_return co_await fail(fn.status());
      auto versions =
          co_await loop::offload(blocking, [&] { return store.listVersions(tenant, name); });
      if (!versions) co_return co_await fail(versions.status());
      json list = json::array();
      for (const auto& v : *versions) list.push_back(versionJson(v, fn->live_version));
      {
        http::Response reply =
            jsonResponse(bhttp::status::ok, {{"function", name}, {"versions", list}});
        co_await exchange.respond(std::move(reply));
        co_return;
      }
    }
    if (seg.size() == 3 && seg[2] == "versions" && method == http::Verb::post) {
      if (Status room = os::admitNewWork(deps_.disk_guard); !room.isOk())
        co_return co_await fail(room);
      co_return co_await deploy(exchange, caller, name);
    }
    if (seg.size() == 4 && seg[2] == "aliases" && method == http::Verb::put) {
      const std::string& alias = seg[3];
      json body = protocol::parseJsonOrDiscarded(request.body());
      if (!body.is_object() || !body.contains("version") || !body["version"].is_number_integer()) {
        co_return co_await fail(invalidArgument("send a JSON body {\"version\": N}"));
      }
      int64_t version = body["version"].get<int64_t>();
      auto set = co_await loop::offload(blocking, [&] {
        // A project's routes follow its live version: rolling back restores the old routes.
        std::optional<std::vector<store::RouteRecord>> routes;
        if (alias == store::kLiveAlias) {
          auto target_version = store.getVersion(tenant, name, version);
          if (!target_version) return target_version.status();
          auto config = bundle::functionConfigFromJson(target_version->config_json);
          if (!config) return config.status();
          routes.emplace();
          for (const auto& entry : config->entries) {
            routes->push_back({bundle::FunctionConfig::routeOf(entry), tenant, name, entry.path});
          }
        }
        // The old version's routes may overlap what other tenants routed since.
        auto guard = [&](const store::RouteSpace& space) {
          return gateway::checkProjectRoutes(tenant, *routes, space);
        };
        Status status = store.setAlias(tenant, name, alias, version, routes, guard);
        if (status.isOk()) {
          deps_.catalog.invalidate(tenant, name);
          (void)deps_.catalog.reloadRoutes();
        }
        return status;
      });
      store::AuditRecord audit_entry = auditEntry(caller, "alias.set", name, set,
                                                  fmt::format("{} -> version {}", alias, version));
      co_await audit(audit_entry);
      if (!set.isOk()) co_return co_await fail(set);
      {
        http::Response reply = jsonResponse(
            bhttp::status::ok, {{"function", name}, {"alias", alias}, {"version", version}});
        co_await exchange.respond(std::move(reply));
        co_return;
      }
    }
    if (seg.size() == 3 && seg[2] == "logs" && method == http::Verb::get) {
      co_return co_await streamLogs(exchange, caller, name);
    }
    if (seg.size() == 3 && seg[2] == "invoke" && method == http::Verb::post) {
      if (Status room = os::admitNewWork(deps_.disk_guard); !room.isOk())
        co_return co_await fail(room);
      co_return co_await invoke(exchange, caller, name);
    }
    co_return co_await fail(notFound("no such control API resource"));
  }

  if (!seg.empty() &&
      (seg[0] == "routes" || seg[0] == "keys" || seg[0] == "shares" || seg[0] == "access-log")) {
    co_return co_await gatewayApi(exchange, caller);
  }
  if (!seg.empty() && seg[0] == "tenants") co_return co_await tenants(exchange, caller);
  if (!seg.empty() && seg[0] == "hosts") co_return co_await hosts(exchange, caller);
  if (!seg.empty() && seg[0] == "tokens") co_return co_await tokens(exchange, caller);
  if (!seg.empty() && seg[0] == "secrets") co_return co_await secrets(exchange, caller);
  if (seg.size() == 1 && seg[0] == "audit" && method == http::Verb::get) {
    co_return co_await auditLog(exchange, caller);
  }

  if (seg.size() == 1 && seg[0] == "activations" && method == http::Verb::get) {
    store::ActivationQuery query;
    query.tenant = tenant;
    if (auto it = target.query.find("function"); it != target.query.end() && !it->second.empty()) {
      query.function = it->second;
    }
    if (auto it = target.query.find("limit"); it != target.query.end()) {
      auto limit = integerParam("limit", it->second, 1, 1000);
      if (!limit) co_return co_await fail(limit.status());
      query.limit = static_cast<int>(*limit);
    }
    if (auto it = target.query.find("cursor"); it != target.query.end())
      query.after_id = it->second;
    if (auto it = target.query.find("since"); it != target.query.end() && !it->second.empty()) {
      auto since = timeBoundParam("since", it->second, nowMicros());
      if (!since) co_return co_await fail(since.status());
      query.since_us = *since;
    }
    query.oldest_first = target.query.count("order") && target.query["order"] == "asc";
    query.with_logs = target.query.count("logs") && target.query["logs"] == "1";
    auto list = co_await loop::offload(blocking, [&] { return store.listActivations(query); });
    if (!list) co_return co_await fail(list.status());
    json items = json::array();
    for (const auto& a : *list) items.push_back(activationJson(a, query.with_logs));
    json out = {{"activations", items}};
    out["next_cursor"] = list->empty() ? query.after_id : list->back().id;
    {
      http::Response reply = jsonResponse(bhttp::status::ok, out);
      co_await exchange.respond(std::move(reply));
      co_return;
    }
  }
  if (seg.size() == 1 && seg[0] == "usage" && method == http::Verb::get) {
    store::UsageQuery query;
    if (!caller.all_tenants) query.tenant = tenant;
    std::string by = target.query.count("by") ? target.query["by"] : "function";
    static const std::map<std::string, store::UsageGrouping> kGroupings = {
        {"tenant", store::UsageGrouping::Tenant},   {"function", store::UsageGrouping::Function},
        {"version", store::UsageGrouping::Version}, {"key", store::UsageGrouping::Key},
        {"hour", store::UsageGrouping::Hour},       {"route", store::UsageGrouping::Function}};
    auto grouping = kGroupings.find(by);
    if (grouping == kGroupings.end()) {
      co_return co_await fail(
          invalidArgument("by must be tenant, function, version, key, route or hour"));
    }
    query.by = grouping->second;
    int64_t now = nowMicros();
    for (const char* bound : {"since", "until"}) {
      if (!target.query.count(bound) || target.query[bound].empty()) continue;
      auto value = timeBoundParam(bound, target.query[bound], now);
      if (!value) co_return co_await fail(value.status());
      (std::string_view(bound) == "since" ? query.since_us : query.until_us) = *value;
    }
    // Usage is rolled up by the hour: the window widens to whole hours, and the answer says
    // which hours it covers, so its totals match the records received inside them exactly.
    constexpr int64_t kHourUs = 3600LL * 1000000;
    query.since_us -= query.since_us % kHourUs;
    if (query.until_us % kHourUs != 0) query.until_us += kHourUs - query.until_us % kHourUs;
    auto rows = co_await loop::offload(blocking, [&] { return store.usage(query); });
    if (!rows) co_return co_await fail(rows.status());
    if (by == "route") rows->clear();  // billing is not kept per route: the traffic below is
    // Gateway traffic (requests, status classes, rate-limited, latency) by key, route or function.
    std::map<std::string, json> traffic;
    if (by == "key" || by == "route" || by == "function") {
      store::TrafficGrouping traffic_by = by == "key"     ? store::TrafficGrouping::Key
                                          : by == "route" ? store::TrafficGrouping::Route
                                                          : store::TrafficGrouping::Function;
      auto counted = co_await loop::offload(
          blocking, [&] { return store.traffic(query.tenant, traffic_by, query.since_us); });
      if (!counted) co_return co_await fail(counted.status());
      for (const auto& t : *counted) {
        traffic[t.group] = {
            {"requests", t.requests},
            {"status_2xx", t.status_2xx},
            {"status_4xx", t.status_4xx},
            {"status_5xx", t.status_5xx},
            {"rate_limited", t.limited},
            {"latency_ms",
             {{"p50", t.latency_p50_ms}, {"p95", t.latency_p95_ms}, {"p99", t.latency_p99_ms}}},
            {"request_bytes", t.bytes_in},
            {"response_bytes", t.bytes_out}};
      }
    }
    json items = json::array();
    store::UsageRow total;
    total.group = "total";
    for (const auto& row : *rows) {
      items.push_back(usageJson(row, deps_.prices));
      if (auto it = traffic.find(row.group); it != traffic.end()) {
        items.back()["traffic"] = it->second;
        traffic.erase(it);
      }
      total.invocations += row.invocations;
      total.errors += row.errors;
      total.billed_ms += row.billed_ms;
      total.mb_ms += row.mb_ms;
      total.cpu_user_us += row.cpu_user_us;
      total.cpu_sys_us += row.cpu_sys_us;
      total.bytes_in += row.bytes_in;
      total.bytes_out += row.bytes_out;
    }
    for (auto& [group, counts] : traffic) {  // routes (and keys) seen by the gateway only
      store::UsageRow only;
      only.group = group;
      items.push_back(usageJson(only, deps_.prices));
      items.back()["traffic"] = counts;
    }
    json totals = usageJson(total, deps_.prices);
    totals["cost_after_free_tier"] = metering::costOf(total, deps_.prices, true).total();
    json body = {{"by", by},
                 {"since", rfc3339(query.since_us)},
                 {"until", rfc3339(query.until_us)},
                 {"rows", items},
                 {"total", totals},
                 {"prices",
                  {{"per_gb_s", deps_.prices.per_gb_s},
                   {"per_million_requests", deps_.prices.per_million_requests},
                   {"per_cpu_s", deps_.prices.per_cpu_s},
                   {"free_gb_s", deps_.prices.free_gb_s},
                   {"free_requests", deps_.prices.free_requests}}}};
    http::Response reply = jsonResponse(bhttp::status::ok, body);
    co_await exchange.respond(std::move(reply));
    co_return;
  }
  if (seg.size() == 2 && seg[0] == "activations" && method == http::Verb::get) {
    auto activation =
        co_await loop::offload(blocking, [&] { return store.getActivation(tenant, seg[1]); });
    if (!activation) co_return co_await fail(activation.status());
    {
      http::Response reply = jsonResponse(bhttp::status::ok, activationJson(*activation, true));
      co_await exchange.respond(std::move(reply));
      co_return;
    }
  }
  if (seg.size() == 1 && seg[0] == "instances" && method == http::Verb::get) {
    auto stats = co_await loop::offload(
        deps_.scheduler.executor(), [&scheduler = deps_.scheduler] { return scheduler.stats(); });
    json items = json::array();
    for (const auto& s : stats) {
      if (s.tenant != tenant) continue;
      items.push_back({{"function", s.function},
                       {"version", s.version},
                       {"entry", s.entry},
                       {"instances", s.instances},
                       {"busy", s.busy},
                       {"queued", s.queued}});
    }
    {
      http::Response reply = jsonResponse(bhttp::status::ok, {{"pools", items}});
      co_await exchange.respond(std::move(reply));
      co_return;
    }
  }
  co_await fail(
      notFound(fmt::format("no such control API resource: {} {}",
                           std::string(request.method_string()), std::string(request.target()))));
}

// One per runtime the function's entries use: the launcher keeps one pre-started instance per
// tenant and runtime, so this is a no-op when one is ready already.
void ControlApi::prepareInstances(const std::string& tenant, const bundle::FunctionConfig& config) {
  std::set<std::string> runtimes;
  if (config.entries.empty()) runtimes.insert(config.runtime);
  for (const auto& entry : config.entries) runtimes.insert(entry.runtime);
  for (const auto& runtime : runtimes) {
    worker::InstanceSpec spec;
    spec.tenant = tenant;
    spec.runtime = runtime;
    spec.network = config.network;
    spec.env = config.env;
    deps_.scheduler.prepare(std::move(spec));
  }
}

awaitable<void> ControlApi::deploy(http::Exchange& exchange, const Caller& caller,
                                   const std::string& function) {
  const std::string& tenant = caller.tenant;
  http::Request& request = exchange.request();
  bool stream = std::string_view(request[http::Field::accept]).find("application/x-ndjson") !=
                std::string_view::npos;
  auto channel = std::make_shared<loop::Channel<DeployEvent>>(exchange.executor());
  bundle::DeployRequest deploy_request{tenant,  function, std::move(request.body()),
                                       nullptr, nullptr,  nullptr};
  // A function may only name secrets its tenant has set: refuse the deploy (400) rather than
  // fail its invocations later.
  deploy_request.check = [&store = deps_.store, tenant](const bundle::FunctionConfig& config) {
    for (const std::string& name : config.secrets) {
      GUST_RETURN_IF_ERROR(secrets::validateSecretName(name));
      auto secret = store.getSecret(tenant, name);
      if (!secret) {
        if (secret.status().code() != Code::NotFound) return secret.status();
        return invalidArgument(fmt::format(
            "gust.toml names secret '{}', which is not set: run `gust secret set {}` first", name,
            name));
      }
    }
    // Refuse routes that overlap another tenant's before minutes of pip; the guard below
    // checks again where it holds, in the transaction that records the version.
    std::vector<store::RouteRecord> routes;
    for (const auto& entry : config.entries) {
      routes.push_back({bundle::FunctionConfig::routeOf(entry), tenant, config.name, entry.path});
    }
    auto space = gateway::readRouteSpace(store);
    if (!space) return space.status();
    return gateway::checkProjectRoutes(tenant, routes, *space);
  };
  deploy_request.route_guard = [tenant](const std::vector<store::RouteRecord>& routes,
                                        const store::RouteSpace& space) {
    return gateway::checkProjectRoutes(tenant, routes, space);
  };
  // Broken code never goes live silently: unless forced, the build must load in a sandbox first.
  std::string force = parseTarget(request.target()).query["force"];
  const bool forced = force == "1" || force == "true";
  if (!forced) {
    deploy_request.verify = [deps = LoadCheckDeps{deps_.scheduler, deps_.store, deps_.secret_box},
                             tenant, function](const std::string& build_dir,
                                               const bundle::FunctionConfig& config) {
      return checkCodeLoads(deps, tenant, function, build_dir, config);
    };
  }
  asio::post(deps_.builds, [this, channel, deploy_request = std::move(deploy_request)] {
    auto result = deps_.deployer.deploy(deploy_request, [&](std::string_view line) {
      channel->push({std::string(line), std::nullopt});
    });
    if (result) {
      deps_.catalog.invalidate(deploy_request.tenant, deploy_request.function);
      (void)deps_.catalog.reloadRoutes();
      prepareInstances(deploy_request.tenant, result->config);
    }
    channel->push({"", std::move(result)});
    channel->close();
  });

  bool streaming = false;
  while (auto event = co_await channel->receive()) {
    if (!event->done) {
      if (!stream) continue;
      if (!streaming) {
        http::Response head(bhttp::status::ok, 11);
        head.set(http::Field::content_type, "application/x-ndjson");
        if (!(co_await exchange.startChunked(std::move(head))).isOk()) co_return;
        streaming = true;
      }
      json line = {{"event", "progress"}, {"message", event->progress}};
      (void)co_await exchange.writeChunk(line.dump() + "\n");
      continue;
    }
    auto& result = *event->done;
    std::string detail =
        result ? fmt::format("version {}{}{}", result->version.version,
                             result->unchanged ? " (unchanged)" : "",
                             forced && !result->unchanged ? " (forced: load check skipped)" : "")
               : result.status().message();
    store::AuditRecord audit_entry =
        auditEntry(caller, "function.deploy", function, result.status(), detail);
    co_await audit(audit_entry);
    if (result) {
      observe::logEvent(observe::LogLevel::Info, "deploy",
                        {{"function", function},
                         {"tenant", tenant},
                         {"version", result->version.version},
                         {"unchanged", result->unchanged},
                         {"forced", forced},
                         {"build_ms", result->build_ms},
                         {"bundle_sha256", result->version.bundle_sha256}});
    } else {
      observe::logEvent(observe::LogLevel::Warn, "deploy.failed",
                        {{"function", function}, {"error", result.status().message()}});
    }
    json body;
    if (result) {
      json routes = json::array();
      for (const auto& r : result->routes) routes.push_back(baseUrl(exchange) + r);
      body = {{"function", function},
              {"version", result->version.version},
              {"bundle_sha256", result->version.bundle_sha256},
              {"bundle_bytes", result->version.bundle_bytes},
              {"build_ms", result->build_ms},
              {"unchanged", result->unchanged},
              {"load_checked", !forced && !result->unchanged},
              {"runtime", result->config.runtime},
              {"url", functionUrl(baseUrl(exchange), tenant, function)},
              {"routes", routes}};
    }
    if (streaming) {
      Status shown = gateway::callerFacing(result.status());
      json line = result
                      ? json{{"event", "done"}, {"result", body}}
                      : json{{"event", "error"},
                             {"error", {{"code", shown.codeName()}, {"message", shown.message()}}}};
      (void)co_await exchange.writeChunk(line.dump() + "\n");
      (void)co_await exchange.finishChunked();
    } else if (result) {
      http::Response reply = jsonResponse(bhttp::status::created, body);
      co_await exchange.respond(std::move(reply));
    } else {
      co_await exchange.respond(gateway::errorResponseFor(result.status()));
    }
    co_return;
  }
}

awaitable<void> ControlApi::streamLogs(http::Exchange& exchange, const Caller& caller,
                                       const std::string& function) {
  const std::string& tenant = caller.tenant;
  // Server-Sent Events: the recent activations (with their logs) first, then, with follow=1,
  // each new one as it is recorded. One event per activation; its id is the activation id, so
  // a client that reconnects with ?cursor=<last id> misses nothing.
  Target target = parseTarget(exchange.request().target());
  auto blocking = deps_.blocking.get_executor();
  auto& store = deps_.store;
  auto exists =
      co_await loop::offload(blocking, [&] { return store.getFunction(tenant, function); });
  if (!exists) {
    co_await exchange.respond(gateway::errorResponseFor(exists.status()));
    co_return;
  }
  bool follow = target.query["follow"] == "1";
  store::ActivationQuery query;
  query.tenant = tenant;
  query.function = function;
  query.with_logs = true;
  query.limit = 20;
  if (auto it = target.query.find("limit"); it != target.query.end()) {
    auto limit = integerParam("limit", it->second, 1, 1000);
    if (!limit) {
      co_await exchange.respond(gateway::errorResponseFor(limit.status()));
      co_return;
    }
    query.limit = static_cast<int>(*limit);
  }
  int64_t started_us = nowMicros();
  if (!target.query["since"].empty()) {
    auto since = timeBoundParam("since", target.query["since"], started_us);
    if (!since) {
      co_await exchange.respond(gateway::errorResponseFor(since.status()));
      co_return;
    }
    query.since_us = *since;
  }
  std::string cursor = target.query["cursor"];
  http::Response head(bhttp::status::ok, 11);
  head.set(http::Field::content_type, "text/event-stream");
  head.set(http::Field::cache_control, "no-cache");
  if (!(co_await exchange.startChunked(std::move(head))).isOk()) co_return;

  auto send = [&](const std::vector<store::ActivationRecord>& records) -> awaitable<bool> {
    std::string events;
    for (const auto& record : records) {
      events += fmt::format("id: {}\nevent: activation\ndata: {}\n\n", record.id,
                            activationJson(record, true).dump());
      cursor = record.id;
    }
    co_return (co_await exchange.writeChunk(events)).isOk();
  };
  if (cursor.empty()) {
    auto recent = co_await loop::offload(blocking, [&] { return store.listActivations(query); });
    if (recent) {
      std::vector<store::ActivationRecord> oldest_first(recent->rbegin(), recent->rend());
      if (!co_await send(oldest_first)) co_return;
    }
  }
  if (!follow) {
    (void)co_await exchange.finishChunked();
    co_return;
  }
  query.oldest_first = true;
  query.limit = 100;
  if (cursor.empty()) query.since_us = started_us;
  asio::steady_timer timer(exchange.executor());
  auto last_write = std::chrono::steady_clock::now();
  for (;;) {
    timer.expires_after(std::chrono::milliseconds(250));
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    // A draining server ends the tail (an EventSource reconnects) rather than keep its drain
    // waiting: a client that left unseen would otherwise hold it for the whole 10 s.
    if (exchange.draining()) {
      (void)co_await exchange.finishChunked();
      co_return;
    }
    query.after_id = cursor;
    auto fresh = co_await loop::offload(blocking, [&] { return store.listActivations(query); });
    if (fresh && !fresh->empty()) {
      if (!co_await send(*fresh)) co_return;
      last_write = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - last_write > std::chrono::seconds(15)) {
      // A comment line keeps proxies from closing an idle stream and tells us the client left.
      if (!(co_await exchange.writeChunk(": keep-alive\n\n")).isOk()) co_return;
      last_write = std::chrono::steady_clock::now();
    }
  }
}

awaitable<void> ControlApi::invoke(http::Exchange& exchange, const Caller& caller,
                                   const std::string& function) {
  http::Request& request = exchange.request();
  if (events::wantsEventInvocation(request))
    co_return co_await asyncInvoke(exchange, caller, function);
  Target target = parseTarget(request.target());
  gateway::DirectInvocation invocation;
  invocation.tenant = caller.tenant;
  invocation.function = function;
  invocation.qualifier = target.query["qualifier"];
  invocation.entry = target.query["entry"];
  invocation.payload = request.body().empty() ? "{}" : std::move(request.body());
  invocation.trace_id = gateway::traceIdFromTraceparent(request["traceparent"]);
  if (auto payload = protocol::parseJson(invocation.payload, "the payload"); !payload) {
    co_await exchange.respond(gateway::errorResponseFor(payload.status()));
    co_return;
  }
  auto result = co_await deps_.invoker.invokeDirect(std::move(invocation));
  http::Response response;
  if (result.status.isOk()) {
    response = http::Response(bhttp::status::ok, 11);
    response.set(http::Field::content_type, "application/json");
    response.body() = std::move(result.result);
  } else {
    response = gateway::errorResponseFor(result.status);
  }
  if (!result.activation_id.empty()) response.set("X-Gust-Activation-Id", result.activation_id);
  if (!result.trace_id.empty()) {
    response.set("traceparent", fmt::format("00-{}-{}-01", result.trace_id, randomHex(8)));
  }
  co_await exchange.respond(std::move(response));
}

}  // namespace gust::control
