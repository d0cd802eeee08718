// The control API's gateway endpoints: routes (gateway and project), client keys, shares and the
// access log. Every change reloads the gateway's snapshot before it is answered, so it holds on
// the next request (a revoked key included). A key's secret is shown once, in the creating
// response, and never stored, logged or audited.

#include <algorithm>
#include <limits>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "auth/tokens.h"
#include "bundle/manifest.h"
#include "common/ids.h"
#include "common/time.h"
#include "control/api_util.h"
#include "control/control_api.h"
#include "control/query_params.h"
#include "gateway/cors.h"
#include "gateway/gateway.h"
#include "gateway/http_status.h"
#include "gateway/rate_limiter.h"
#include "gateway/route_ownership.h"
#include "gateway/route_table.h"
#include "loop/offload.h"
#include "protocol/json_input.h"

namespace gust::control {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using nlohmann::json;
namespace bhttp = http::beast::http;

json routeJson(const store::GatewayRouteRecord& r) {
  json cors = r.cors_json.empty() ? json(nullptr) : protocol::parseJsonOrDiscarded(r.cors_json);
  return {{"id", r.id},
          {"kind", "gateway"},
          {"route", fmt::format("{} {}", r.method, r.path)},
          {"method", r.method},
          {"path", r.path},
          {"host", r.host.empty() ? json(nullptr) : json(r.host)},
          {"function", r.function},
          {"auth", r.auth},
          {"rate", r.rate.empty() ? json(nullptr) : json(r.rate)},
          {"burst", r.burst},
          {"cors", cors},
          {"max_body", r.max_body_bytes == 0 ? json(nullptr) : json(r.max_body_bytes)},
          {"created_at", rfc3339(r.created_at_us)}};
}

json keyJson(const store::ClientKeyRecord& k, int64_t now_us) {
  std::string state = k.revoked_at_us                                  ? "revoked"
                      : (k.expires_at_us && k.expires_at_us <= now_us) ? "expired"
                                                                       : "active";
  return {{"client_id", k.client_id},
          {"name", k.name},
          {"tenant", k.tenant},
          {"scopes", k.scopes},
          {"rate", k.rate.empty() ? json(nullptr) : json(k.rate)},
          {"burst", k.burst},
          {"quota", k.quota.empty() ? json(nullptr) : json(k.quota)},
          {"state", state},
          {"expires_at", k.expires_at_us ? json(rfc3339(k.expires_at_us)) : json(nullptr)},
          {"created_at", rfc3339(k.created_at_us)},
          {"revoked_at", k.revoked_at_us ? json(rfc3339(k.revoked_at_us)) : json(nullptr)}};
}

json accessJson(const store::AccessRecord& a) {
  return {{"seq", a.seq},
          {"time", rfc3339(a.at_us)},
          {"method", a.method},
          {"host", a.host},
          {"path", a.path},
          {"route", a.route},
          {"function", a.function},
          {"key_id", a.key_id.empty() ? json(nullptr) : json(a.key_id)},
          {"status", a.status},
          {"latency_ms", static_cast<double>(a.latency_us) / 1000.0},
          {"bytes_in", a.bytes_in},
          {"bytes_out", a.bytes_out},
          {"activation_id", a.activation_id.empty() ? json(nullptr) : json(a.activation_id)},
          {"client_ip", a.client_ip},
          {"user_agent", a.user_agent},
          {"rate_limited", a.limited}};
}

// "30d", "12h", "90m", "45s" ahead of now, or an absolute RFC 3339 time in the future.
std::optional<int64_t> parseExpiry(const std::string& text, int64_t now_us) {
  if (auto seconds = parseDurationSeconds(text)) return now_us + *seconds * 1000000;
  auto at = parseTimeBound(text, now_us);
  if (!at || *at <= now_us) return std::nullopt;
  return at;
}

// "1m", "512k", "1048576" -> bytes.
std::optional<int64_t> parseSize(const json& value) {
  if (value.is_number_integer()) return value.get<int64_t>();
  if (!value.is_string()) return std::nullopt;
  std::string text = value.get<std::string>();
  if (text.empty()) return std::nullopt;
  int64_t unit = 1;
  char last = static_cast<char>(std::tolower(static_cast<unsigned char>(text.back())));
  if (last == 'k') unit = 1024;
  if (last == 'm') unit = 1024 * 1024;
  if (last == 'g') unit = 1024LL * 1024 * 1024;
  if (unit != 1) text.pop_back();
  auto number = parseInt(text);
  if (!number || *number <= 0) return std::nullopt;
  return *number * unit;
}

constexpr int64_t kMaxRouteBody = 1LL << 30;

Result<store::GatewayRouteRecord> routeFromBody(const json& body, const std::string& tenant) {
  if (!body.is_object() || !body.contains("route") || !body["route"].is_string() ||
      !body.contains("function") || !body["function"].is_string()) {
    return invalidArgument(
        "send a JSON body {\"route\": \"GET /users/{id}\", \"function\": \"users\"} (optional: "
        "host, auth, "
        "rate, burst, cors, max_body)");
  }
  auto parsed = gateway::parseRouteKey(body["route"].get<std::string>());
  if (!parsed) return parsed.status();
  if (gateway::isReservedPath(parsed->path)) {
    return invalidArgument(
        fmt::format("{} is Gust's own (/fn, /t, /api/v1, /healthz, /metrics, /ui): "
                    "pick another path",
                    parsed->path));
  }
  store::GatewayRouteRecord route;
  route.id = "rt_" + randomHex(8);
  route.tenant = tenant;
  route.method = parsed->method;
  route.path = parsed->path;
  route.shape = gateway::routeShape(parsed->path);
  route.function = body["function"].get<std::string>();
  GUST_RETURN_IF_ERROR(bundle::validateFunctionName(route.function));
  try {
    std::string host = body.value("host", "");
    std::transform(host.begin(), host.end(), host.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (host.find_first_of("/: ") != std::string::npos) {
      return invalidArgument(
          fmt::format("host '{}' must be a bare name like api.example.com", host));
    }
    route.host = host;
    route.auth = body.value("auth", "public");
    GUST_RETURN_IF_ERROR(bundle::validateAccessMode(route.auth));
    route.rate = body.value("rate", "");
    route.burst = body.value("burst", int64_t{0});
    if (!route.rate.empty()) {
      auto rate = gateway::parseRate(route.rate, route.burst);
      if (!rate) return rate.status();
    } else if (route.burst != 0) {
      return invalidArgument("burst needs a rate too, e.g. --rate 100/s --burst 200");
    }
    if (body.contains("cors") && !body["cors"].is_null()) {
      auto cors = gateway::corsFromJson(body["cors"]);
      if (!cors) return cors.status();
      if (cors->enabled()) route.cors_json = gateway::corsToJson(*cors).dump();
    }
    if (body.contains("max_body") && !body["max_body"].is_null()) {
      auto size = parseSize(body["max_body"]);
      if (!size || *size > kMaxRouteBody) {
        return invalidArgument("max_body must be a size like 512k, 1m or a byte count, at most 1g");
      }
      route.max_body_bytes = *size;
    }
  } catch (const json::exception& e) {
    return invalidArgument(fmt::format("route: {}", e.what()));
  }
  return route;
}

}  // namespace

awaitable<void> ControlApi::gatewayApi(http::Exchange& exchange, const Caller& caller) {
  auto fail = [&](const Status& status) {
    return exchange.respond(gateway::errorResponseFor(status));
  };
  http::Request& request = exchange.request();
  Target target = parseTarget(request.target());
  const auto& seg = target.segments;
  auto method = request.method();
  auto blocking = deps_.blocking.get_executor();
  auto& store = deps_.store;
  auto& gateway = deps_.gateway;
  const std::string& tenant = caller.tenant;
  int64_t now = nowMicros();

  // ---- routes ----
  if (seg[0] == "routes" && seg.size() == 1 && method == http::Verb::get) {
    auto list = [&]() -> Result<json> {
      json items = json::array();
      auto routes = store.listGatewayRoutes(tenant);
      if (!routes) return routes.status();
      for (const auto& r : *routes) items.push_back(routeJson(r));
      auto projects = store.listRoutes();
      if (!projects) return projects.status();
      for (const auto& r : *projects) {
        if (r.tenant != tenant) continue;  // another tenant's routes are not ours to show
        items.push_back({{"kind", "project"},
                         {"route", "ANY " + r.path},
                         {"path", r.path},
                         {"function", r.function},
                         {"entry", r.entry},
                         {"auth", nullptr}});
      }
      return items;
    };
    auto items = co_await loop::offload(blocking, list);
    if (!items) co_return co_await fail(items.status());
    json body = {{"routes", *items}};
    co_return co_await respondJson(exchange, bhttp::status::ok, body);
  }
  if (seg[0] == "routes" && seg.size() == 1 && method == http::Verb::post) {
    json body = protocol::parseJsonOrDiscarded(request.body());
    auto route = routeFromBody(body, tenant);
    Result<store::GatewayRouteRecord> stored = route.status();
    if (route) {
      auto put = [&]() -> Result<store::GatewayRouteRecord> {
        auto function = store.getFunction(tenant, route->function);
        if (!function) return function.status();
        // Host ownership and overlap with other tenants' routes, checked where the route is
        // written so that no other change slips in between.
        auto guard = [&](const store::RouteSpace& space) {
          return gateway::checkGatewayRoute(*route, space);
        };
        auto saved = store.putGatewayRoute(*route, guard);
        if (!saved) return saved;
        GUST_RETURN_IF_ERROR(gateway.reload());
        return saved;
      };
      stored = co_await loop::offload(blocking, put);
    }
    std::string name = body.is_object() ? body.value("route", "") : "";
    store::AuditRecord audit_entry =
        auditEntry(caller, "route.add", name, stored.status(), stored ? "id " + stored->id : "");
    co_await audit(audit_entry);
    if (!stored) co_return co_await fail(stored.status());
    json out = routeJson(*stored);
    co_return co_await respondJson(exchange, bhttp::status::created, out);
  }
  if (seg[0] == "routes" && method == http::Verb::delete_ &&
      (seg.size() == 2 || target.query.count("route"))) {
    // By id (/routes/rt_...) or by key (?route=GET%20/x&host=...).
    std::string id = seg.size() == 2 ? seg[1] : "";
    std::string key = target.query.count("route") ? target.query["route"] : "";
    std::string host = target.query.count("host") ? target.query["host"] : "";
    auto remove = [&]() -> Status {
      if (id.empty()) {
        auto parsed = gateway::parseRouteKey(key);
        if (!parsed) return parsed.status();
        auto routes = store.listGatewayRoutes(tenant);
        if (!routes) return routes.status();
        for (const auto& r : *routes) {
          if (r.method == parsed->method && r.shape == gateway::routeShape(parsed->path) &&
              r.host == host) {
            id = r.id;
          }
        }
        if (id.empty())
          return notFound(fmt::format("no route '{}'{}: see `gust route ls`", key,
                                      host.empty() ? "" : " for host " + host));
      }
      GUST_RETURN_IF_ERROR(store.deleteGatewayRoute(tenant, id));
      return gateway.reload();
    };
    Status removed = co_await loop::offload(blocking, remove);
    store::AuditRecord audit_entry = auditEntry(caller, "route.rm", id.empty() ? key : id, removed);
    co_await audit(audit_entry);
    if (!removed.isOk()) co_return co_await fail(removed);
    json out = {{"deleted", id}};
    co_return co_await respondJson(exchange, bhttp::status::ok, out);
  }

  // ---- keys ----
  if (seg[0] == "keys" && seg.size() == 1 && method == http::Verb::get) {
    auto list = co_await loop::offload(blocking, [&] { return store.listClientKeys(tenant); });
    if (!list) co_return co_await fail(list.status());
    json items = json::array();
    for (const auto& k : *list) items.push_back(keyJson(k, now));
    json body = {{"keys", items}};
    co_return co_await respondJson(exchange, bhttp::status::ok, body);
  }
  if (seg[0] == "keys" && seg.size() == 1 && method == http::Verb::post) {
    json body = protocol::parseJsonOrDiscarded(request.body());
    store::ClientKeyRecord record;
    Status valid = Status::ok();
    if (!body.is_object() || !body.contains("name") || !body["name"].is_string() ||
        body["name"].get<std::string>().empty() || body["name"].get<std::string>().size() > 100) {
      valid = invalidArgument(
          "send a JSON body {\"name\": \"mobile\"} (optional: scopes, expires, rate, burst, "
          "quota)");
    }
    try {
      if (valid.isOk()) {
        record.name = body["name"].get<std::string>();
        record.scopes = body.value("scopes", std::vector<std::string>{});
        for (const auto& scope : record.scopes) {
          if (!bundle::validateFunctionName(scope).isOk() &&
              !gateway::parseRouteKey(scope).isOk()) {
            valid = invalidArgument(fmt::format(
                "scope '{}' must be a function name or a route like 'GET /users/{{id}}'", scope));
          }
        }
        record.rate = body.value("rate", "");
        record.burst = body.value("burst", int64_t{0});
        if (valid.isOk() && !record.rate.empty()) {
          if (auto rate = gateway::parseRate(record.rate, record.burst); !rate)
            valid = rate.status();
        }
        record.quota = body.value("quota", "");
        if (valid.isOk() && !record.quota.empty()) {
          if (auto quota = gateway::parseQuota(record.quota); !quota) valid = quota.status();
        }
        std::string expires = body.value("expires", "");
        if (valid.isOk() && !expires.empty()) {
          auto at = parseExpiry(expires, now);
          if (!at) {
            valid = invalidArgument(
                fmt::format("expires '{}' must be a duration like 30d or 12h (at most {}d), or a "
                            "future time like 2027-01-01T00:00:00Z",
                            expires, kMaxDurationSeconds / 86400));
          } else {
            record.expires_at_us = *at;
          }
        }
      }
    } catch (const json::exception& e) {
      valid = invalidArgument(fmt::format("key: {}", e.what()));
    }
    auth::NewClientKey key = auth::generateClientKey();
    record.client_id = key.client_id;
    record.hash = key.hash;
    record.tenant = tenant;
    record.created_at_us = now;
    if (valid.isOk()) {
      auto create = [&]() -> Status {
        GUST_RETURN_IF_ERROR(store.createClientKey(record));
        return gateway.reload();
      };
      valid = co_await loop::offload(blocking, create);
    }
    store::AuditRecord audit_entry = auditEntry(caller, "key.create", record.client_id, valid,
                                                valid.isOk() ? "name " + record.name : "");
    co_await audit(audit_entry);
    if (!valid.isOk()) co_return co_await fail(valid);
    json out = keyJson(record, now);
    out["secret"] = key.secret;  // the only time it is shown
    co_return co_await respondJson(exchange, bhttp::status::created, out);
  }
  if (seg[0] == "keys" && seg.size() == 2 && method == http::Verb::delete_) {
    const std::string& id = seg[1];
    auto revoke = [&]() -> Status {
      GUST_RETURN_IF_ERROR(store.revokeClientKey(tenant, id));
      return gateway.reload();
    };
    Status revoked = co_await loop::offload(blocking, revoke);
    store::AuditRecord audit_entry = auditEntry(caller, "key.revoke", id, revoked);
    co_await audit(audit_entry);
    if (!revoked.isOk()) co_return co_await fail(revoked);
    json out = {{"revoked", id}};
    co_return co_await respondJson(exchange, bhttp::status::ok, out);
  }

  // ---- shares ----
  if (seg[0] == "shares" && seg.size() == 1 && method == http::Verb::get) {
    auto list = co_await loop::offload(blocking, [&] { return store.listShares(tenant); });
    if (!list) co_return co_await fail(list.status());
    json items = json::array();
    for (const auto& s : *list) {
      items.push_back({{"function", s.function},
                       {"with", s.with_tenant},
                       {"created_at", rfc3339(s.created_at_us)}});
    }
    json body = {{"shares", items}};
    co_return co_await respondJson(exchange, bhttp::status::ok, body);
  }
  if (seg[0] == "shares" && seg.size() == 1 &&
      (method == http::Verb::post || method == http::Verb::delete_)) {
    bool sharing = method == http::Verb::post;
    json body = protocol::parseJsonOrDiscarded(request.body());
    std::string function, with;
    Status done = Status::ok();
    if (!body.is_object() || !body.contains("function") || !body["function"].is_string() ||
        !body.contains("with") || !body["with"].is_string()) {
      done = invalidArgument(
          "send a JSON body {\"function\": \"users\", \"with\": \"partner-tenant\"}");
    } else {
      function = body["function"].get<std::string>();
      with = body["with"].get<std::string>();
      done = auth::validateTenantName(with);
      if (done.isOk() && with == tenant)
        done = invalidArgument("a tenant's own keys can call its functions already");
    }
    if (done.isOk()) {
      auto change = [&]() -> Status {
        if (sharing) {
          auto exists = store.getFunction(tenant, function);
          if (!exists) return exists.status();
          GUST_RETURN_IF_ERROR(store.putShare({tenant, function, with, 0}));
        } else {
          GUST_RETURN_IF_ERROR(store.deleteShare(tenant, function, with));
        }
        return gateway.reload();
      };
      done = co_await loop::offload(blocking, change);
    }
    store::AuditRecord audit_entry = auditEntry(
        caller, sharing ? "function.share" : "function.unshare", function, done, "with " + with);
    co_await audit(audit_entry);
    if (!done.isOk()) co_return co_await fail(done);
    json out = {{"function", function}, {"with", with}, {"shared", sharing}};
    co_return co_await respondJson(exchange, sharing ? bhttp::status::created : bhttp::status::ok,
                                   out);
  }

  // ---- the access log ----
  if (seg[0] == "access-log" && seg.size() == 1 && method == http::Verb::get) {
    store::AccessQuery query;
    if (!caller.all_tenants) query.tenant = tenant;
    auto& q = target.query;
    if (q.count("route")) query.route = q["route"];
    if (q.count("key")) query.key_id = q["key"];
    if (q.count("function")) query.function = q["function"];
    if (q.count("status") && !q["status"].empty()) {
      const std::string& status = q["status"];
      if (status.size() == 3 && status[0] >= '1' && status[0] <= '5' && status.substr(1) == "xx") {
        query.status_class = status[0] - '0';
      } else if (auto exact = parseInt(status); exact && *exact >= 100 && *exact <= 599) {
        query.status = static_cast<int>(*exact);
      } else {
        co_return co_await fail(invalidArgument("status must be like 404 or 5xx"));
      }
    }
    if (q.count("since") && !q["since"].empty()) {
      auto since = timeBoundParam("since", q["since"], now);
      if (!since) co_return co_await fail(since.status());
      query.since_us = *since;
    }
    if (q.count("after")) {
      auto after = integerParam("after", q["after"], 0, std::numeric_limits<int64_t>::max());
      if (!after) co_return co_await fail(after.status());
      query.after_seq = *after;
    }
    if (q.count("limit")) {
      auto limit = integerParam("limit", q["limit"], 1, 1000);
      if (!limit) co_return co_await fail(limit.status());
      query.limit = static_cast<int>(*limit);
    }
    auto list = co_await loop::offload(blocking, [&] { return store.listAccess(query); });
    if (!list) co_return co_await fail(list.status());
    json items = json::array();
    int64_t last = query.after_seq;
    for (const auto& a : *list) {
      items.push_back(accessJson(a));
      last = std::max(last, a.seq);
    }
    if (list->empty() && query.after_seq == 0) {
      // Nothing matched yet: a follower starts after the newest record of any kind.
      store::AccessQuery newest;
      newest.tenant = query.tenant;
      newest.limit = 1;
      auto latest = co_await loop::offload(blocking, [&] { return store.listAccess(newest); });
      if (latest && !latest->empty()) last = latest->front().seq;
    }
    json body = {{"records", items}, {"last_seq", last}};
    co_return co_await respondJson(exchange, bhttp::status::ok, body);
  }
  co_await fail(notFound("no such control API resource"));
}

}  // namespace gust::control
