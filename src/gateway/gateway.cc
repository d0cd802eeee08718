// DESIGN: the gateway's state that changes by control-plane action (routes, keys, shares) lives
// in one immutable Snapshot swapped under a mutex; a request copies the shared_ptr once and reads
// it without locks. State that changes per request lives elsewhere, each with its own
// lifetime: token buckets (RateLimiter, memory only — a restart refills them, which only lets
// clients through sooner), quota counters (memory, flushed to the store every second and at
// shutdown, and loaded at reload, so usage plans survive restarts; a crash loses at most the last
// second's counts), and the access log (the store's group-commit writer, never awaited).

#include "gateway/gateway.h"

#include <algorithm>
#include <set>
#include <tuple>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "auth/tokens.h"
#include "common/time.h"
#include "gateway/credentials.h"
#include "gateway/function_path.h"
#include "gateway/http_status.h"
#include "loop/offload.h"
#include "observe/log.h"
#include "protocol/json_input.h"

namespace gust::gateway {
namespace asio = boost::asio;
using asio::awaitable;

namespace {

constexpr const char* kActivationHeader = "X-Gust-Activation-Id";

struct CompiledRoute {
  store::GatewayRouteRecord record;
  std::string key;  // "GET /users/{id}": the routeKey of the event and the access log
  RateSpec rate;
  CorsPolicy cors;
};

struct CompiledKey {
  store::ClientKeyRecord record;
  RateSpec rate;
  QuotaSpec quota;
};

http::Response errorWith(Code code, std::string message) {
  return errorResponseFor(Status(code, std::move(message)));
}

std::vector<std::string> routeMethods(const std::string& method) { return {method}; }

}  // namespace

bool isReservedPath(std::string_view path) {
  for (std::string_view prefix : {"/fn/", "/t/", "/api/v1", "/healthz", "/metrics", "/ui"}) {
    if (path == prefix || path.starts_with(prefix)) return true;
  }
  return path == "/fn" || path == "/t";
}

struct Gateway::Snapshot {
  std::unique_ptr<RouteTable> table;
  std::vector<CompiledRoute> routes;  // indexed like the table's entries
  std::unordered_map<std::string, CompiledKey> keys;
  std::set<std::tuple<std::string, std::string, std::string>> shares;  // tenant, function, with
};

// What the pipeline learned about one request, for the access log.
struct Gateway::Request {
  int64_t received_us = 0;
  std::string method;
  std::string host;
  std::string path;
  std::string tenant;
  std::string function;
  std::string route_key;
  std::string key_id;
  bool limited = false;
  std::string kind = "none";  // function | route | project | none
  std::string refusal;        // why the gateway answered instead of the function, if it did
};

Gateway::Gateway(store::Store& store, Catalog& catalog, Invoker& invoker,
                 asio::thread_pool& blocking, observe::Registry& metrics, uint64_t default_max_body)
    : store_(store),
      catalog_(catalog),
      invoker_(invoker),
      blocking_(blocking),
      metrics_(metrics),
      default_max_body_(default_max_body) {
  auto empty = std::make_shared<Snapshot>();
  empty->table = std::make_unique<RouteTable>(std::vector<RouteTable::Entry>{});
  snapshot_ = std::move(empty);
}

Gateway::~Gateway() = default;

std::shared_ptr<const Gateway::Snapshot> Gateway::snapshot() const {
  std::lock_guard lock(mutex_);
  return snapshot_;
}

Status Gateway::reload() {
  auto routes = store_.listGatewayRoutes(std::nullopt);
  if (!routes) return routes.status();
  auto keys = store_.listClientKeys(std::nullopt);
  if (!keys) return keys.status();
  auto shares = store_.listShares(std::nullopt);
  if (!shares) return shares.status();
  auto hosts = store_.listHosts(std::nullopt);
  if (!hosts) return hosts.status();

  auto next = std::make_shared<Snapshot>();
  std::vector<RouteTable::Entry> entries;
  for (auto& record : *routes) {
    CompiledRoute route;
    route.key = fmt::format("{} {}", record.method, record.path);
    if (!record.rate.empty()) {
      auto rate = parseRate(record.rate, record.burst);
      if (rate) route.rate = *rate;
    }
    if (!record.cors_json.empty()) {
      auto cors = corsFromJson(protocol::parseJsonOrDiscarded(record.cors_json));
      if (cors) route.cors = std::move(*cors);
    }
    entries.push_back({record.host, {record.method, record.path}, record.tenant});
    route.record = std::move(record);
    next->routes.push_back(std::move(route));
  }
  std::map<std::string, std::string> host_owners;
  for (auto& host : *hosts) host_owners[host.host] = std::move(host.tenant);
  next->table = std::make_unique<RouteTable>(entries, std::move(host_owners));
  int64_t now = nowMicros();
  std::unordered_map<std::string, QuotaCounter> counters;
  for (auto& record : *keys) {
    CompiledKey key;
    if (!record.rate.empty()) {
      auto rate = parseRate(record.rate, record.burst);
      if (rate) key.rate = *rate;
    }
    if (!record.quota.empty()) {
      auto quota = parseQuota(record.quota);
      if (quota) key.quota = *quota;
    }
    if (key.quota.limit > 0 && record.revoked_at_us == 0) {
      int64_t start = quotaPeriodStart(key.quota.period, now);
      auto used = store_.quotaUse(record.client_id, start);
      if (!used) return used.status();
      counters[record.client_id] = {start, *used, 0};
    }
    std::string id = record.client_id;
    key.record = std::move(record);
    next->keys.emplace(std::move(id), std::move(key));
  }
  for (const auto& share : *shares)
    next->shares.emplace(share.tenant, share.function, share.with_tenant);

  std::lock_guard lock(mutex_);
  snapshot_ = std::move(next);
  // Counts taken since the store was read must not be lost: keep a key's pending counts.
  for (auto& [id, counter] : counters) {
    auto old = quotas_.find(id);
    if (old != quotas_.end() && old->second.period_start_us == counter.period_start_us) {
      counter.used += old->second.pending;
      counter.pending = old->second.pending;
    }
  }
  quotas_ = std::move(counters);
  return Status::ok();
}

void Gateway::flushQuotas() {
  std::vector<std::tuple<std::string, int64_t, int64_t>> writes;
  {
    std::lock_guard lock(mutex_);
    writes.swap(rolled_over_);
    for (auto& [id, counter] : quotas_) {
      if (counter.pending > 0) {
        writes.emplace_back(id, counter.period_start_us, counter.pending);
        counter.pending = 0;
      }
    }
  }
  for (const auto& [id, period, count] : writes) {
    Status written = store_.addQuotaUse(id, period, count);
    if (!written.isOk()) {
      observe::logEvent(observe::LogLevel::Error, "quota.flush_failed",
                        {{"error", written.message()}});
      std::lock_guard lock(mutex_);
      auto it = quotas_.find(id);
      if (it != quotas_.end() && it->second.period_start_us == period) it->second.pending += count;
    }
  }
}

bool Gateway::takeQuota(const std::string& client_id, const QuotaSpec& quota, int64_t now_us,
                        int64_t& retry_after_s) {
  int64_t start = quotaPeriodStart(quota.period, now_us);
  std::lock_guard lock(mutex_);
  QuotaCounter& counter = quotas_[client_id];
  if (counter.period_start_us != start) {
    // A new period. The old one's unflushed counts still belong to it: the next flush writes them.
    if (counter.pending > 0 && counter.period_start_us != 0) {
      rolled_over_.emplace_back(client_id, counter.period_start_us, counter.pending);
    }
    counter = {start, 0, 0};
  }
  if (counter.used >= quota.limit) {
    retry_after_s =
        std::max<int64_t>(1, (quotaPeriodEnd(quota.period, now_us) - now_us + 999999) / 1000000);
    return false;
  }
  ++counter.used;
  ++counter.pending;
  return true;
}

uint64_t Gateway::bodyLimit(const http::RequestHead& head) const {
  std::string_view target = head.target();
  std::string_view path = target.substr(0, target.find('?'));
  if (isReservedPath(path)) return default_max_body_;
  auto current = snapshot();
  auto match = current->table->match(head[http::Field::host], head.method_string(), path);
  if (match.route >= 0) {
    int64_t limit = current->routes[static_cast<std::size_t>(match.route)].record.max_body_bytes;
    if (limit > 0) return static_cast<uint64_t>(limit);
  }
  return default_max_body_;
}

awaitable<RunnablePtr> Gateway::functionConfig(const std::string& tenant,
                                               const std::string& function,
                                               const std::string& qualifier) {
  if (auto hit = catalog_.cached(tenant, function, qualifier)) co_return hit;
  auto lookup = [this, &tenant, &function, &qualifier] {
    return catalog_.resolve(tenant, function, qualifier);
  };
  auto executor = blocking_.get_executor();
  auto resolved = co_await loop::offload(executor, lookup);
  if (!resolved) co_return nullptr;
  co_return *resolved;
}

awaitable<void> Gateway::serve(http::Exchange& exchange) {
  Request request;
  request.received_us = nowMicros();
  exchange.noteResponseHeader(kActivationHeader);
  co_await pipeline(exchange, request);
  logAccess(exchange, request);
}

void Gateway::logAccess(http::Exchange& exchange, const Request& request) {
  store::AccessRecord record;
  record.at_us = request.received_us;
  record.tenant = request.tenant;
  record.function = request.function;
  record.method = request.method;
  record.host = request.host;
  record.path = request.path;
  record.route = request.route_key;
  record.key_id = request.key_id;
  record.status = exchange.responseStatus();
  record.latency_us = nowMicros() - request.received_us;
  record.bytes_in = exchange.requestBytes();
  record.bytes_out = exchange.responseBytes();
  record.activation_id = exchange.notedHeaderValue();
  record.client_ip = exchange.peerAddress();
  record.user_agent = std::string(exchange.request()[http::Field::user_agent]);
  record.limited = request.limited;
  // Labels stay few whatever clients send: the kind of target and the status class.
  static constexpr const char* kClasses[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
  int status_class = record.status / 100;
  metrics_
      .counter("gust_gateway_requests_total",
               "Requests through the gateway by target kind and status class",
               {{"kind", request.kind},
                {"class",
                 status_class >= 1 && status_class <= 5 ? kClasses[status_class - 1] : "other"}})
      .inc();
  if (!request.refusal.empty()) {
    metrics_
        .counter("gust_gateway_refused_total", "Requests the gateway answered itself, by reason",
                 {{"reason", request.refusal}})
        .inc();
  }
  store_.recordAccess(std::move(record));
}

awaitable<void> Gateway::pipeline(http::Exchange& exchange, Request& request) {
  http::Request& http_request = exchange.request();
  std::string_view target = http_request.target();
  request.path = std::string(target.substr(0, target.find('?')));
  request.method = std::string(http_request.method_string());
  request.host = std::string(http_request[http::Field::host]);
  auto current = snapshot();

  // 1. Match: a function address, a gateway route, a project route.
  HttpTarget invoke;
  std::string access = "public";
  CorsPolicy cors;
  const CompiledRoute* route = nullptr;
  bool unknown_function = false;
  std::vector<std::string> methods_here;
  std::string_view origin = http_request[http::Field::origin];
  std::string_view preflight_method = http_request["Access-Control-Request-Method"];
  bool preflight = isPreflight(request.method, origin, preflight_method);
  // A claimed host is its owner's alone: another tenant's /fn and /t/.../fn addresses are not
  // served there (they would be that tenant's pages under the owner's name), only elsewhere.
  auto address = parseFunctionPath(request.path);
  if (address) {
    const std::string owner = current->table->ownerOf(request.host);
    if (!owner.empty() && owner != address->tenant) address.reset();
  }
  if (address) {
    invoke.tenant = address->tenant;
    invoke.function = address->name;
    invoke.qualifier = address->qualifier;
    invoke.rest = address->rest;
    request.route_key = fmt::format("/fn/{}", address->name);
    request.kind = "function";
    if (RunnablePtr version =
            co_await functionConfig(address->tenant, address->name, address->qualifier)) {
      access = version->config.access;
      if (!version->config.cors.is_null()) {
        auto policy = corsFromJson(version->config.cors);
        if (policy) cors = std::move(*policy);
      }
    } else if (address->qualifier.empty() ||
               !co_await functionConfig(address->tenant, address->name, "")) {
      // No such function (or tenant): the name is the caller's, so it gets no traffic row of
      // its own, or random names would mint rows without end. The access log keeps the path.
      unknown_function = true;
    }
    methods_here = {"ANY"};
  } else {
    std::string_view method = preflight ? preflight_method : std::string_view(request.method);
    auto match = current->table->match(request.host, method, request.path);
    if (preflight && (match.route < 0 ||
                      !current->routes[static_cast<std::size_t>(match.route)].cors.enabled())) {
      // No CORS for what the browser asks about: the OPTIONS request is an ordinary request.
      preflight = false;
      method = request.method;
      match = current->table->match(request.host, method, request.path);
    }
    if (match.route >= 0) {
      route = &current->routes[static_cast<std::size_t>(match.route)];
      invoke.tenant = route->record.tenant;
      invoke.function = route->record.function;
      invoke.route_key = route->key;
      for (auto& [name, value] : match.parameters) invoke.path_parameters[name] = value;
      request.route_key = route->key;
      request.kind = "route";
      access = route->record.auth;
      cors = route->cors;
      methods_here = routeMethods(route->record.method);
    } else if (auto project = catalog_.matchRoute(request.path, match.host_owner)) {
      invoke.tenant = project->tenant;
      invoke.function = project->function;
      invoke.rest = project->entry;
      invoke.route_key = fmt::format("ANY {}", project->route);
      request.route_key = invoke.route_key;
      request.kind = "project";
      if (RunnablePtr version = co_await functionConfig(project->tenant, project->function, "")) {
        access = version->config.access;
        if (!version->config.cors.is_null()) {
          auto policy = corsFromJson(version->config.cors);
          if (policy) cors = std::move(*policy);
        }
      }
      methods_here = {"ANY"};
    } else if (!match.allowed_methods.empty()) {
      std::string message = fmt::format("{} is not served for {}: it takes {}", request.path,
                                        method, fmt::join(match.allowed_methods, ", "));
      http::Response response = http::errorResponse(http::beast::http::status::method_not_allowed,
                                                    "method_not_allowed", message);
      response.set(http::Field::allow, fmt::format("{}", fmt::join(match.allowed_methods, ", ")));
      request.refusal = "method_not_allowed";
      co_await exchange.respond(std::move(response));
      co_return;
    } else {
      request.refusal = "not_found";
      co_await exchange.respond(errorResponseFor(notFound(fmt::format(
          "nothing at {}: functions are at /fn/<name>; routes are listed by `gust route ls`",
          request.path))));
      co_return;
    }
  }
  if (!unknown_function) {
    request.tenant = invoke.tenant;
    request.function = invoke.function;
  }

  // 2. A CORS preflight is answered here, whoever asks: it carries no credentials.
  if (preflight && cors.enabled()) {
    request.refusal = "preflight";
    http::Response response(http::beast::http::status::no_content, 11);
    for (auto& [name, value] :
         preflightHeaders(cors, origin, preflight_method,
                          http_request["Access-Control-Request-Headers"], methods_here)) {
      response.set(name, value);
    }
    co_await exchange.respond(std::move(response));
    co_return;
  }
  for (auto& [name, value] : responseHeaders(cors, origin)) exchange.addResponseHeader(name, value);

  // 3. Authentication: a valid key is attributed even on public routes.
  auto presented =
      parseCredentials(http_request[http::Field::authorization], http_request["X-Api-Key"]);
  const CompiledKey* key = nullptr;
  std::string refusal;
  int64_t now = request.received_us;
  if (presented.state == CredentialsState::Malformed) {
    refusal =
        "malformed API key: send Authorization: Bearer <client_id>.<secret>, Basic "
        "base64(<client_id>:<secret>) or X-Api-Key: <client_id>.<secret>";
  } else if (presented.state == CredentialsState::Present) {
    auto found = current->keys.find(presented.credentials.client_id);
    // The hash is compared whether or not the id exists, so timing says nothing about ids.
    static const std::string kNoHash(64, '0');
    bool secret_ok =
        auth::verifyToken(presented.credentials.secret,
                          found == current->keys.end() ? kNoHash : found->second.record.hash);
    if (found == current->keys.end() || !secret_ok) {
      refusal = "invalid API key: the client id or secret is wrong";
    } else if (found->second.record.revoked_at_us != 0) {
      refusal = fmt::format("API key {} was revoked", found->first);
    } else if (found->second.record.expires_at_us != 0 &&
               found->second.record.expires_at_us <= now) {
      refusal = fmt::format("API key {} expired at {}", found->first,
                            formatRfc3339Micros(found->second.record.expires_at_us));
    } else {
      key = &found->second;
      request.key_id = found->first;
      invoke.key_id = found->first;
    }
  }

  // 4. Policy.
  if (access != "public") {
    if (!key) {
      http::Response response = errorWith(
          Code::Unauthenticated,
          refusal.empty()
              ? fmt::format("{} needs an API key: send Authorization: Bearer <client_id>.<secret> "
                            "(create one with `gust key create`)",
                            request.route_key)
              : refusal);
      response.set(http::Field::www_authenticate, "Bearer realm=\"gust\"");
      request.refusal = "unauthenticated";
      co_await exchange.respond(std::move(response));
      co_return;
    }
    const std::string& key_tenant = key->record.tenant;
    bool tenant_ok = key_tenant == invoke.tenant ||
                     current->shares.count({invoke.tenant, invoke.function, key_tenant}) > 0;
    std::string denied;
    if (!tenant_ok) {
      denied = fmt::format("API key {} may not call {}: it belongs to another tenant",
                           key->record.client_id, request.route_key);
    } else if (access.starts_with("keys:")) {
      std::string list = "," + access.substr(5) + ",";
      if (list.find("," + key->record.client_id + ",") == std::string::npos) {
        denied = fmt::format("API key {} is not among the keys allowed on {}",
                             key->record.client_id, request.route_key);
      }
    }
    if (denied.empty() && !key->record.scopes.empty()) {
      const auto& scopes = key->record.scopes;
      bool in_scope =
          std::find(scopes.begin(), scopes.end(), invoke.function) != scopes.end() ||
          (route && std::find(scopes.begin(), scopes.end(), route->key) != scopes.end());
      if (!in_scope) {
        denied = fmt::format("API key {} is scoped to {}, not {}", key->record.client_id,
                             fmt::join(scopes, ", "), request.route_key);
      }
    }
    if (!denied.empty()) {
      request.refusal = "forbidden";
      co_await exchange.respond(errorWith(Code::PermissionDenied, std::move(denied)));
      co_return;
    }
  }

  // A full disk refuses new work before it takes a rate-limit token or a quota unit.
  if (Status room = os::admitNewWork(disk_guard_); !room.isOk()) {
    request.refusal = "insufficient_storage";
    co_await exchange.respond(errorResponseFor(room));
    co_return;
  }

  // 5. Rate limits (the tighter of key and route sets the headers) and quotas.
  std::optional<RateDecision> shown;
  auto consider = [&](const RateDecision& decision) {
    if (!shown || decision.remaining < shown->remaining || !decision.allowed) shown = decision;
  };
  if (key && key->rate.limited())
    consider(limiter_.take("key:" + key->record.client_id, key->rate, now));
  if (route && route->rate.limited() && (!shown || shown->allowed)) {
    consider(limiter_.take("route:" + route->record.id, route->rate, now));
  }
  if (shown) {
    exchange.addResponseHeader("RateLimit-Limit", std::to_string(shown->limit));
    exchange.addResponseHeader("RateLimit-Remaining", std::to_string(shown->remaining));
    exchange.addResponseHeader("RateLimit-Reset", std::to_string(shown->reset_s));
    if (!shown->allowed) {
      request.limited = true;
      request.refusal = "rate_limited";
      http::Response response =
          errorWith(Code::RateLimited, fmt::format("rate limit reached on {}: retry in {} s",
                                                   request.route_key, shown->retry_after_s));
      response.set(http::Field::retry_after, std::to_string(shown->retry_after_s));
      co_await exchange.respond(std::move(response));
      co_return;
    }
  }
  if (key && key->quota.limit > 0) {
    int64_t retry_after = 0;
    if (!takeQuota(key->record.client_id, key->quota, now, retry_after)) {
      request.limited = true;
      request.refusal = "quota_exceeded";
      std::string message = fmt::format("API key {} used its quota of {} requests per {}",
                                        key->record.client_id, key->quota.limit, key->quota.period);
      http::Response response = http::errorResponse(http::beast::http::status::too_many_requests,
                                                    "quota_exceeded", message);
      response.set(http::Field::retry_after, std::to_string(retry_after));
      co_await exchange.respond(std::move(response));
      co_return;
    }
  }

  // 6. Invoke: now, or (X-Gust-Invocation-Type: Event) as a durable event.
  if (async_sink_ && async_sink_->wantsAsync(http_request)) {
    co_await async_sink_->serveAsync(exchange, std::move(invoke));
    co_return;
  }
  co_await invoker_.serveHttp(exchange, std::move(invoke));
}

}  // namespace gust::gateway
