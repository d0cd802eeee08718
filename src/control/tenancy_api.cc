// The control API's tenancy endpoints: tenants and tokens (admin only), a tenant's secrets, and
// the audit log. Secret values go one way — in through PUT, sealed at once — and are never
// rendered, logged or audited.

#include <algorithm>
#include <vector>

#include <boost/asio/post.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "auth/tokens.h"
#include "common/time.h"
#include "control/api_util.h"
#include "control/control_api.h"
#include "control/query_params.h"
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

const Status kAdminOnly(Code::PermissionDenied, "only the admin token manages tenants and tokens");

json tokenJson(const store::TokenRecord& t) {
  return {{"id", t.id},
          {"tenant", t.tenant},
          {"name", t.name},
          {"created_at", rfc3339(t.created_at_us)},
          {"revoked_at", t.revoked_at_us ? json(rfc3339(t.revoked_at_us)) : json(nullptr)}};
}

json secretJson(const store::SecretRecord& s) {
  return {{"name", s.name},
          {"created_at", rfc3339(s.created_at_us)},
          {"updated_at", rfc3339(s.updated_at_us)}};
}

// A tenant's own retention; null: the server's default (--retain-days, --retain-mb).
json tenantJson(const store::TenantRecord& t) {
  auto value = [](const std::optional<int64_t>& v) { return v ? json(*v) : json(nullptr); };
  return {{"name", t.name},
          {"created_at", rfc3339(t.created_at_us)},
          {"retention", {{"days", value(t.retention.days)}, {"mb", value(t.retention.mb)}}}};
}

constexpr int64_t kMaxRetainDays = 36500;
constexpr int64_t kMaxRetainMb = int64_t{1} << 30;

// PATCH semantics: a field sent replaces the tenant's value (null: back to the default), a field
// left out keeps it. 0 is "no limit", as for the server's flags.
Result<store::Retention> patchRetention(const json& body, store::Retention retention) {
  const char* usage =
      "send a JSON body {\"retention\": {\"days\": 7, \"mb\": 512}} (integers; null: the "
      "server's default; 0: no limit)";
  if (!body.is_object() || !body.contains("retention") || !body["retention"].is_object()) {
    return invalidArgument(usage);
  }
  for (const auto& [field, value] : body["retention"].items()) {
    std::optional<int64_t>* target = field == "days" ? &retention.days
                                     : field == "mb" ? &retention.mb
                                                     : nullptr;
    if (!target)
      return invalidArgument(fmt::format("unknown retention field '{}': {}", field, usage));
    if (value.is_null()) {
      target->reset();
      continue;
    }
    int64_t max = field == "days" ? kMaxRetainDays : kMaxRetainMb;
    if (!value.is_number_integer() || value.get<int64_t>() < 0 || value.get<int64_t>() > max) {
      return invalidArgument(
          fmt::format("retention.{} must be an integer from 0 to {}", field, max));
    }
    *target = value.get<int64_t>();
  }
  return retention;
}

}  // namespace

awaitable<void> ControlApi::tenants(http::Exchange& exchange, const Caller& caller) {
  auto fail = [&](const Status& status) {
    return exchange.respond(gateway::errorResponseFor(status));
  };
  if (!caller.admin) co_return co_await fail(kAdminOnly);
  http::Request& request = exchange.request();
  Target target = parseTarget(request.target());
  const auto& seg = target.segments;
  auto method = request.method();
  auto blocking = deps_.blocking.get_executor();
  auto& store = deps_.store;

  if (seg.size() == 1 && method == http::Verb::get) {
    auto list = co_await loop::offload(blocking, [&] { return store.listTenants(); });
    if (!list) co_return co_await fail(list.status());
    json items = json::array();
    for (const auto& t : *list) items.push_back(tenantJson(t));
    json body = {{"tenants", items}};
    co_return co_await respondJson(exchange, bhttp::status::ok, body);
  }
  if (seg.size() == 1 && method == http::Verb::post) {
    json body = protocol::parseJsonOrDiscarded(request.body());
    if (!body.is_object() || !body.contains("name") || !body["name"].is_string()) {
      co_return co_await fail(invalidArgument("send a JSON body {\"name\": \"acme\"}"));
    }
    std::string name = body["name"].get<std::string>();
    Status created = auth::validateTenantName(name);
    if (created.isOk()) {
      auto create = [&] { return store.createTenant(name); };
      created = co_await loop::offload(blocking, create);
    }
    store::AuditRecord audit_entry =
        auditEntry(caller, "tenant.create", name, created, "", created.isOk() ? name : "");
    co_await audit(audit_entry);
    if (!created.isOk()) co_return co_await fail(created);
    json out = {{"name", name}};
    co_return co_await respondJson(exchange, bhttp::status::created, out);
  }
  if (seg.size() == 2 && method == http::Verb::get) {
    auto tenant = co_await loop::offload(blocking, [&] { return store.getTenant(seg[1]); });
    if (!tenant) co_return co_await fail(tenant.status());
    co_return co_await respondJson(exchange, bhttp::status::ok, tenantJson(*tenant));
  }
  if (seg.size() == 2 && method == http::Verb::patch) {
    const std::string& name = seg[1];
    json body = json::parse(request.body(), nullptr, false);
    auto update = [&]() -> Result<store::TenantRecord> {
      auto tenant = store.getTenant(name);
      if (!tenant) return tenant.status();
      auto retention = patchRetention(body, tenant->retention);
      if (!retention) return retention.status();
      GUST_RETURN_IF_ERROR(store.setTenantRetention(name, *retention));
      tenant->retention = *retention;
      return tenant;
    };
    auto updated = co_await loop::offload(blocking, update);
    std::string detail = updated ? tenantJson(*updated)["retention"].dump() : "";
    store::AuditRecord audit_entry =
        auditEntry(caller, "tenant.retention", name, updated.status(), detail, name);
    co_await audit(audit_entry);
    if (!updated) co_return co_await fail(updated.status());
    co_return co_await respondJson(exchange, bhttp::status::ok, tenantJson(*updated));
  }
  if (seg.size() == 2 && method == http::Verb::delete_) {
    const std::string& name = seg[1];
    auto remove = [&] { return store.deleteTenant(name); };
    Status removed = co_await loop::offload(blocking, remove);
    store::AuditRecord audit_entry =
        auditEntry(caller, "tenant.rm", name, removed, "", removed.isOk() ? name : "");
    co_await audit(audit_entry);
    if (!removed.isOk()) co_return co_await fail(removed);
    json out = {{"deleted", name}};
    co_return co_await respondJson(exchange, bhttp::status::ok, out);
  }
  co_await fail(notFound("no such control API resource"));
}

awaitable<void> ControlApi::tokens(http::Exchange& exchange, const Caller& caller) {
  auto fail = [&](const Status& status) {
    return exchange.respond(gateway::errorResponseFor(status));
  };
  if (!caller.admin) co_return co_await fail(kAdminOnly);
  http::Request& request = exchange.request();
  Target target = parseTarget(request.target());
  const auto& seg = target.segments;
  auto method = request.method();
  auto blocking = deps_.blocking.get_executor();
  auto& store = deps_.store;

  if (seg.size() == 1 && method == http::Verb::get) {
    std::optional<std::string> tenant;
    if (auto it = target.query.find("tenant"); it != target.query.end() && !it->second.empty()) {
      tenant = it->second;
    }
    auto list = co_await loop::offload(blocking, [&] { return store.listTokens(tenant); });
    if (!list) co_return co_await fail(list.status());
    json items = json::array();
    for (const auto& t : *list) items.push_back(tokenJson(t));
    json body = {{"tokens", items}};
    co_return co_await respondJson(exchange, bhttp::status::ok, body);
  }
  if (seg.size() == 1 && method == http::Verb::post) {
    json body = protocol::parseJsonOrDiscarded(request.body());
    if (!body.is_object() || !body.contains("tenant") || !body["tenant"].is_string() ||
        (body.contains("name") && !body["name"].is_string())) {
      co_return co_await fail(
          invalidArgument("send a JSON body {\"tenant\": \"acme\", \"name\": \"ci\"}"));
    }
    store::TokenRecord record;
    record.tenant = body["tenant"].get<std::string>();
    record.name = body.value("name", "");
    record.created_at_us = nowMicros();
    auth::NewToken token = auth::generateToken();
    record.id = token.id;
    record.hash = token.hash;
    Status created = auth::validateTenantName(record.tenant);
    if (created.isOk()) {
      auto create = [&]() -> Status {
        auto tenant = store.getTenant(record.tenant);
        if (!tenant) return tenant.status();
        return store.createToken(record);
      };
      created = co_await loop::offload(blocking, create);
    }
    std::string detail = fmt::format("for tenant {}{}", record.tenant,
                                     record.name.empty() ? "" : ", name " + record.name);
    store::AuditRecord audit_entry = auditEntry(caller, "token.create", token.id, created, detail,
                                                created.isOk() ? record.tenant : "");
    co_await audit(audit_entry);
    if (!created.isOk()) co_return co_await fail(created);
    json out = tokenJson(record);
    out["token"] = token.token;  // the only time it is shown
    co_return co_await respondJson(exchange, bhttp::status::created, out);
  }
  if (seg.size() == 2 && method == http::Verb::delete_) {
    const std::string& id = seg[1];
    std::string token_tenant;
    auto revoke = [&]() -> Status {
      if (auto token = store.getToken(id)) token_tenant = token->tenant;
      return store.revokeToken(id);
    };
    Status revoked = co_await loop::offload(blocking, revoke);
    store::AuditRecord audit_entry =
        auditEntry(caller, "token.revoke", id, revoked, "", revoked.isOk() ? token_tenant : "");
    co_await audit(audit_entry);
    if (!revoked.isOk()) co_return co_await fail(revoked);
    json out = {{"revoked", id}};
    co_return co_await respondJson(exchange, bhttp::status::ok, out);
  }
  co_await fail(notFound("no such control API resource"));
}

awaitable<void> ControlApi::secrets(http::Exchange& exchange, const Caller& caller) {
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

  if (seg.size() == 1 && method == http::Verb::get) {
    auto list = co_await loop::offload(blocking, [&] { return store.listSecrets(tenant); });
    if (!list) co_return co_await fail(list.status());
    json items = json::array();
    for (const auto& secret : *list) items.push_back(secretJson(secret));
    json body = {{"secrets", items}};
    co_return co_await respondJson(exchange, bhttp::status::ok, body);
  }
  if (seg.size() != 2) co_return co_await fail(notFound("no such control API resource"));
  const std::string& name = seg[1];
  if (Status valid = secrets::validateSecretName(name); !valid.isOk()) {
    co_return co_await fail(valid);
  }
  if (method == http::Verb::get) {
    auto secret = co_await loop::offload(blocking, [&] { return store.getSecret(tenant, name); });
    if (!secret) co_return co_await fail(secret.status());
    json out = secretJson(*secret);
    co_return co_await respondJson(exchange, bhttp::status::ok, out);
  }
  // Functions of this tenant that name the secret: their cached versions and warm instances
  // hold the old value, so the next invocation starts afresh.
  auto forget = [this, &tenant, &name] {
    deps_.catalog.invalidateTenant(tenant);
    auto functions = deps_.store.listFunctions(tenant);
    if (!functions) return;
    for (const auto& f : *functions) {
      auto live = deps_.store.getVersion(tenant, f.name, f.live_version);
      if (!live) continue;
      auto config = bundle::functionConfigFromJson(live->config_json);
      if (!config) continue;
      if (std::find(config->secrets.begin(), config->secrets.end(), name) ==
          config->secrets.end()) {
        continue;
      }
      asio::post(deps_.scheduler.executor(),
                 [&scheduler = deps_.scheduler, tenant, function = f.name] {
                   scheduler.dropFunction(tenant, function);
                 });
    }
  };
  if (method == http::Verb::put) {
    json body = protocol::parseJsonOrDiscarded(request.body());
    // Wipe the request's copy of the value as soon as it is parsed.
    std::fill(request.body().begin(), request.body().end(), '\0');
    if (!body.is_object() || !body.contains("value") || !body["value"].is_string()) {
      co_return co_await fail(invalidArgument("send a JSON body {\"value\": \"...\"}"));
    }
    std::string value = body["value"].get<std::string>();
    body = nullptr;
    Status set = Status::ok();
    if (value.size() > secrets::kMaxSecretBytes) {
      set = Status(Code::TooLarge, fmt::format("a secret's value is at most {} bytes (got {})",
                                               secrets::kMaxSecretBytes, value.size()));
    } else if (value.find('\0') != std::string::npos) {
      set = invalidArgument(
          "a secret's value reaches functions as an environment variable, "
          "so it cannot contain a NUL byte");
    }
    bool existed = false;
    if (set.isOk()) {
      store::SecretRecord record{tenant, name, deps_.secret_box.seal(value), 0, 0};
      std::fill(value.begin(), value.end(), '\0');
      auto put = [&]() -> Status {
        existed = store.getSecret(tenant, name).isOk();
        GUST_RETURN_IF_ERROR(store.putSecret(record));
        forget();
        return Status::ok();
      };
      set = co_await loop::offload(blocking, put);
    }
    store::AuditRecord audit_entry = auditEntry(
        caller, "secret.set", name, set, set.isOk() ? (existed ? "updated" : "created") : "");
    co_await audit(audit_entry);
    if (!set.isOk()) co_return co_await fail(set);
    json out = {{"name", name}, {"created", !existed}};
    co_return co_await respondJson(exchange, bhttp::status::ok, out);
  }
  if (method == http::Verb::delete_) {
    auto remove = [&]() -> Status {
      GUST_RETURN_IF_ERROR(store.deleteSecret(tenant, name));
      forget();
      return Status::ok();
    };
    Status removed = co_await loop::offload(blocking, remove);
    store::AuditRecord audit_entry = auditEntry(caller, "secret.rm", name, removed);
    co_await audit(audit_entry);
    if (!removed.isOk()) co_return co_await fail(removed);
    json out = {{"deleted", name}};
    co_return co_await respondJson(exchange, bhttp::status::ok, out);
  }
  co_await fail(notFound("no such control API resource"));
}

awaitable<void> ControlApi::auditLog(http::Exchange& exchange, const Caller& caller) {
  auto fail = [&](const Status& status) {
    return exchange.respond(gateway::errorResponseFor(status));
  };
  Target target = parseTarget(exchange.request().target());
  store::AuditQuery query;
  if (!caller.all_tenants) query.tenant = caller.tenant;
  if (auto it = target.query.find("since"); it != target.query.end() && !it->second.empty()) {
    auto since = timeBoundParam("since", it->second, nowMicros());
    if (!since) co_return co_await fail(since.status());
    query.since_us = *since;
  }
  if (auto it = target.query.find("limit"); it != target.query.end()) {
    auto limit = integerParam("limit", it->second, 1, 10000);
    if (!limit) co_return co_await fail(limit.status());
    query.limit = static_cast<int>(*limit);
  }
  auto& store = deps_.store;
  auto list =
      co_await loop::offload(deps_.blocking.get_executor(), [&] { return store.listAudit(query); });
  if (!list) co_return co_await fail(list.status());
  json items = json::array();
  for (const auto& r : *list) {
    items.push_back({{"at", rfc3339(r.at_us)},
                     {"actor", r.actor},
                     {"tenant", r.tenant},
                     {"source_ip", r.source_ip},
                     {"action", r.action},
                     {"target", r.target},
                     {"outcome", r.outcome},
                     {"detail", r.detail}});
  }
  json body = {{"entries", items}};
  co_await respondJson(exchange, bhttp::status::ok, body);
}

}  // namespace gust::control
