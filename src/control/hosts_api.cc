// The control API's hosts: the host names the admin claims for tenants, to which their gateway
// routes may then be bound (gateway/route_ownership.h). Claiming and releasing are the admin's;
// a tenant lists its own. Every change reloads the gateway's snapshot before it is answered, so
// a claimed host serves only its owner's routes from the next request on.

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/time.h"
#include "control/api_util.h"
#include "control/control_api.h"
#include "gateway/host_name.h"
#include "gateway/http_status.h"
#include "loop/offload.h"
#include "protocol/json_input.h"

namespace gust::control {
namespace {

using boost::asio::awaitable;
using nlohmann::json;
namespace bhttp = http::beast::http;

const Status kAdminOnly(Code::PermissionDenied,
                        "only the admin token claims and releases hosts: ask the admin to run "
                        "`gust host add HOST --tenant YOURS`");

json hostJson(const store::HostRecord& h) {
  return {{"host", h.host}, {"tenant", h.tenant}, {"created_at", rfc3339(h.created_at_us)}};
}

// The host a claim names, normalized, unless it is not one a tenant may own.
Result<std::string> claimableHost(std::string_view text,
                                  const std::vector<std::string>& server_names) {
  auto host = gateway::normalizeHostName(text);
  if (!host) return host.status();
  if (gateway::isServerHostName(*host, server_names)) {
    return invalidArgument(fmt::format(
        "host {} names this server itself: it serves the host-less routes of every tenant, "
        "so no tenant can own it",
        *host));
  }
  return host;
}

}  // namespace

awaitable<void> ControlApi::hosts(http::Exchange& exchange, const Caller& caller) {
  auto fail = [&](const Status& status) {
    return exchange.respond(gateway::errorResponseFor(status));
  };
  http::Request& request = exchange.request();
  Target target = parseTarget(request.target());
  const auto& seg = target.segments;
  auto method = request.method();
  auto blocking = deps_.blocking.get_executor();
  auto& store = deps_.store;

  if (seg.size() == 1 && method == http::Verb::get) {
    std::optional<std::string> only;
    if (!caller.all_tenants) only = caller.tenant;
    auto list = co_await loop::offload(blocking, [&] { return store.listHosts(only); });
    if (!list) co_return co_await fail(list.status());
    json items = json::array();
    for (const auto& h : *list) items.push_back(hostJson(h));
    json body = {{"hosts", items}};
    co_return co_await respondJson(exchange, bhttp::status::ok, body);
  }
  bool claiming = (seg.size() == 1 && method == http::Verb::post) ||
                  (seg.size() == 2 && method == http::Verb::put);
  if (claiming) {
    // Named, not a temporary: GCC 12 destroys temporaries of a co_await expression twice.
    std::string host_in_path = seg.size() == 2 ? seg[1] : "";
    co_return co_await claimHost(exchange, caller, host_in_path);
  }
  if (seg.size() == 2 && method == http::Verb::delete_) {
    if (!caller.admin) co_return co_await fail(kAdminOnly);
    std::string host = seg[1];
    std::string owner;
    auto release = [&]() -> Status {
      auto normalized = gateway::normalizeHostName(host);
      if (!normalized) return normalized.status();
      host = *normalized;
      auto held = store.listHosts(std::nullopt);
      if (!held) return held.status();
      for (const auto& h : *held) {
        if (h.host == host) owner = h.tenant;
      }
      GUST_RETURN_IF_ERROR(store.releaseHost(host));
      return deps_.gateway.reload();
    };
    Status released = co_await loop::offload(blocking, release);
    store::AuditRecord audit_entry =
        auditEntry(caller, "host.rm", host, released, "", released.isOk() ? owner : "");
    co_await audit(audit_entry);
    if (!released.isOk()) co_return co_await fail(released);
    json out = {{"deleted", host}, {"tenant", owner}};
    co_return co_await respondJson(exchange, bhttp::status::ok, out);
  }
  co_await fail(notFound("no such control API resource"));
}

awaitable<void> ControlApi::claimHost(http::Exchange& exchange, const Caller& caller,
                                      const std::string& host_in_path) {
  auto fail = [&](const Status& status) {
    return exchange.respond(gateway::errorResponseFor(status));
  };
  if (!caller.admin) co_return co_await fail(kAdminOnly);
  json body = protocol::parseJsonOrDiscarded(exchange.request().body());
  bool named = host_in_path.empty()
                   ? body.is_object() && body.contains("host") && body["host"].is_string()
                   : true;
  if (!named || !body.is_object() || !body.contains("tenant") || !body["tenant"].is_string()) {
    co_return co_await fail(
        invalidArgument("send a JSON body {\"host\": \"api.acme.example\", \"tenant\": \"acme\"}"));
  }
  store::HostRecord record;
  record.tenant = body["tenant"].get<std::string>();
  record.created_at_us = nowMicros();
  std::string text = host_in_path.empty() ? body["host"].get<std::string>() : host_in_path;
  auto claim = [&]() -> Status {
    auto host = claimableHost(text, deps_.server_names);
    if (!host) return host.status();
    record.host = *host;
    auto tenant = deps_.store.getTenant(record.tenant);
    if (!tenant) return tenant.status();
    GUST_RETURN_IF_ERROR(deps_.store.claimHost(record));
    return deps_.gateway.reload();
  };
  Status claimed = co_await loop::offload(deps_.blocking.get_executor(), claim);
  store::AuditRecord audit_entry =
      auditEntry(caller, "host.add", record.host.empty() ? text : record.host, claimed, "",
                 claimed.isOk() ? record.tenant : "");
  co_await audit(audit_entry);
  if (!claimed.isOk()) co_return co_await fail(claimed);
  json out = hostJson(record);
  co_return co_await respondJson(exchange, bhttp::status::created, out);
}

}  // namespace gust::control
