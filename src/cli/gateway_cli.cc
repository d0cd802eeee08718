#include "cli/gateway_cli.h"

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/output.h"

namespace gust::cli {

using nlohmann::json;

struct GatewayCli {
  CLI::App* route_add = nullptr;
  CLI::App* route_ls = nullptr;
  CLI::App* route_rm = nullptr;
  std::string route_key, route_function, route_host, route_auth, route_rate, route_max_body;
  int64_t route_burst = 0;
  std::vector<std::string> cors_origins, cors_methods, cors_headers, cors_expose;
  bool cors_credentials = false;
  int64_t cors_max_age = 600;

  CLI::App* key_create = nullptr;
  CLI::App* key_ls = nullptr;
  CLI::App* key_revoke = nullptr;
  std::string key_name, key_expires, key_rate, key_quota, key_id;
  int64_t key_burst = 0;
  std::vector<std::string> key_scopes;

  CLI::App* share = nullptr;
  CLI::App* unshare = nullptr;
  CLI::App* shares = nullptr;
  std::string share_function, share_with;

  CLI::App* access_log = nullptr;
  std::string log_route, log_key, log_function, log_status, log_since = "1h";
  int log_limit = 50;
  bool log_follow = false;
};

std::shared_ptr<GatewayCli> addGatewayCommands(CLI::App& app) {
  auto cli = std::make_shared<GatewayCli>();
  auto* route = app.add_subcommand("route", "API gateway routes: method + path onto a function");
  route->require_subcommand(1);
  cli->route_add = route->add_subcommand("add", "Add (or replace) a route");
  auto* add = cli->route_add;
  add->add_option("route", cli->route_key, "METHOD /path/{param} (METHOD: GET POST PUT PATCH DELETE ANY; "
                                           "a greedy tail is {proxy+})")->required();
  add->add_option("function", cli->route_function, "The function it invokes")->required();
  add->add_option("--host", cli->route_host,
                  "Serve only requests for this Host: one the admin claimed for this tenant "
                  "(`gust host add`)");
  add->add_option("--auth", cli->route_auth, "public (default) | key | keys:ID,ID");
  add->add_option("--rate", cli->route_rate, "Token-bucket rate for the whole route, e.g. 100/s");
  add->add_option("--burst", cli->route_burst, "Bucket size (default: the rate's count)");
  add->add_option("--cors-origin", cli->cors_origins, "Allowed origin (repeat, or *)");
  add->add_option("--cors-methods", cli->cors_methods, "Allowed methods (default: the route's)")->delimiter(',');
  add->add_option("--cors-headers", cli->cors_headers, "Allowed request headers")->delimiter(',');
  add->add_option("--cors-expose", cli->cors_expose, "Response headers scripts may read")->delimiter(',');
  add->add_flag("--cors-credentials", cli->cors_credentials, "Allow cookies and credentials");
  add->add_option("--cors-max-age", cli->cors_max_age, "Seconds a preflight may be cached")->capture_default_str();
  add->add_option("--max-body", cli->route_max_body, "Largest request body, e.g. 1m or 512k");
  cli->route_ls = route->add_subcommand("ls", "List gateway and project routes");
  cli->route_rm = route->add_subcommand("rm", "Remove a route");
  cli->route_rm->add_option("route", cli->route_key, "'METHOD /path' as added, or its id (rt_...)")->required();
  cli->route_rm->add_option("--host", cli->route_host, "The route's host, if it has one");

  auto* key = app.add_subcommand("key", "API keys (client id + secret) for the gateway");
  key->require_subcommand(1);
  cli->key_create = key->add_subcommand("create", "Make a key; its secret is shown once");
  auto* create = cli->key_create;
  create->add_option("name", cli->key_name, "What the key is for")->required();
  create->add_option("--scope", cli->key_scopes, "Only these functions or routes ('GET /x'); repeat");
  create->add_option("--expires", cli->key_expires, "A lifetime like 30d or 12h, or a time");
  create->add_option("--rate", cli->key_rate, "Token-bucket rate for this key, e.g. 100/s");
  create->add_option("--burst", cli->key_burst, "Bucket size (default: the rate's count)");
  create->add_option("--quota", cli->key_quota, "Requests per day or month, e.g. 10000/day");
  cli->key_ls = key->add_subcommand("ls", "List keys (never their secrets)");
  cli->key_revoke = key->add_subcommand("revoke", "Revoke a key; it is refused from the next request on");
  cli->key_revoke->add_option("client_id", cli->key_id, "The key's client id (ck_...)")->required();

  cli->share = app.add_subcommand("share", "Let another tenant's keys call a function");
  cli->share->add_option("function", cli->share_function)->required();
  cli->share->add_option("--with", cli->share_with, "The tenant")->required();
  cli->unshare = app.add_subcommand("unshare", "Stop sharing a function with a tenant");
  cli->unshare->add_option("function", cli->share_function)->required();
  cli->unshare->add_option("--with", cli->share_with, "The tenant")->required();
  cli->shares = app.add_subcommand("shares", "List the functions this tenant shares");

  cli->access_log = app.add_subcommand("access-log", "The gateway's response log: every request");
  auto* log = cli->access_log;
  log->add_option("--route", cli->log_route, "Only this route ('GET /users/{id}' or /fn/<name>)");
  log->add_option("--key", cli->log_key, "Only this client id");
  log->add_option("--function", cli->log_function, "Only this function");
  log->add_option("--status", cli->log_status, "Only this status (404) or class (5xx)");
  log->add_option("--since", cli->log_since, "How far back, e.g. 1h, 30m, 2d")->capture_default_str();
  log->add_option("--limit", cli->log_limit, "At most this many records")->capture_default_str();
  log->add_flag("-f,--follow", cli->log_follow, "Keep printing new records");
  return cli;
}

namespace {

std::string orDash(const json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) return value.get<std::string>().empty() ? "-" : value.get<std::string>();
  return value.dump();
}

void printAccess(const json& r) {
  std::printf("%s  %-6s %-40s %3d  %8.2f ms  %-19s %s\n", shortTime(r.value("time", "")).c_str(),
              r.value("method", "").c_str(), r.value("path", "").c_str(), r.value("status", 0),
              r.value("latency_ms", 0.0), orDash(r["key_id"]).c_str(), orDash(r["activation_id"]).c_str());
  std::fflush(stdout);
}

int routeCommand(GatewayCli& cli, const Connection& connection, bool as_json) {
  if (cli.route_add->parsed()) {
    json body = {{"route", cli.route_key}, {"function", cli.route_function}};
    if (!cli.route_host.empty()) body["host"] = cli.route_host;
    if (!cli.route_auth.empty()) body["auth"] = cli.route_auth;
    if (!cli.route_rate.empty()) body["rate"] = cli.route_rate;
    if (cli.route_burst) body["burst"] = cli.route_burst;
    if (!cli.route_max_body.empty()) body["max_body"] = cli.route_max_body;
    if (!cli.cors_origins.empty()) {
      body["cors"] = {{"origins", cli.cors_origins}, {"methods", cli.cors_methods},
                      {"headers", cli.cors_headers}, {"expose", cli.cors_expose},
                      {"credentials", cli.cors_credentials}, {"max_age", cli.cors_max_age}};
    } else if (!cli.cors_methods.empty() || !cli.cors_headers.empty() || cli.cors_credentials) {
      return fail(invalidArgument("CORS settings need at least one --cors-origin"));
    }
    auto route = sendJson(connection, "POST", "/api/v1/routes", body);
    if (!route) return fail(route.status());
    if (as_json) return std::printf("%s\n", route->dump(2).c_str()), 0;
    std::string url = connection.url + (*route)["path"].get<std::string>();
    std::printf("%s -> %s (%s, id %s)\n  %s\n", (*route)["route"].get<std::string>().c_str(),
                cli.route_function.c_str(), (*route)["auth"].get<std::string>().c_str(),
                (*route)["id"].get<std::string>().c_str(), url.c_str());
    return 0;
  }
  if (cli.route_ls->parsed()) {
    auto body = getJson(connection, "/api/v1/routes");
    if (!body) return fail(body.status());
    if (as_json) return std::printf("%s\n", (*body)["routes"].dump(2).c_str()), 0;
    std::vector<std::vector<std::string>> rows = {{"ROUTE", "HOST", "FUNCTION", "AUTH", "RATE", "CORS", "ID"}};
    for (const auto& r : (*body)["routes"]) {
      std::string cors = "-";
      if (r.contains("cors") && r["cors"].is_object()) {
        cors.clear();
        for (const auto& origin : r["cors"]["origins"]) cors += (cors.empty() ? "" : ",") + origin.get<std::string>();
      }
      std::string rate = orDash(r.value("rate", json(nullptr)));
      if (rate != "-" && r.value("burst", 0) > 0) rate += fmt::format(" burst {}", r.value("burst", 0));
      rows.push_back({r.value("route", ""), orDash(r.value("host", json(nullptr))), r.value("function", ""),
                      r.value("kind", "") == "project" ? "(project)" : orDash(r.value("auth", json(nullptr))), rate,
                      cors, orDash(r.value("id", json(nullptr)))});
    }
    if (rows.size() == 1) {
      std::printf("No routes yet. Add one: gust route add 'GET /hello' hello\n");
      return 0;
    }
    printTable(rows);
    return 0;
  }
  std::string target = cli.route_key.starts_with("rt_")
                           ? "/api/v1/routes/" + urlEncode(cli.route_key)
                           : "/api/v1/routes?route=" + urlEncode(cli.route_key) + "&host=" + urlEncode(cli.route_host);
  auto removed = sendJson(connection, "DELETE", target, nullptr);
  if (!removed) return fail(removed.status());
  if (as_json) return std::printf("%s\n", removed->dump(2).c_str()), 0;
  std::printf("Removed route %s\n", cli.route_key.c_str());
  return 0;
}

int keyCommand(GatewayCli& cli, const Connection& connection, bool as_json) {
  if (cli.key_create->parsed()) {
    json body = {{"name", cli.key_name}, {"scopes", cli.key_scopes}};
    if (!cli.key_expires.empty()) body["expires"] = cli.key_expires;
    if (!cli.key_rate.empty()) body["rate"] = cli.key_rate;
    if (cli.key_burst) body["burst"] = cli.key_burst;
    if (!cli.key_quota.empty()) body["quota"] = cli.key_quota;
    auto key = sendJson(connection, "POST", "/api/v1/keys", body);
    if (!key) return fail(key.status());
    if (as_json) return std::printf("%s\n", key->dump(2).c_str()), 0;
    std::string id = (*key)["client_id"], secret = (*key)["secret"];
    std::printf("Key %s created. Its secret is shown only now: keep it safe.\n\n", cli.key_name.c_str());
    std::printf("  client id  %s\n  secret     %s\n\n", id.c_str(), secret.c_str());
    std::printf("Send it as:\n  Authorization: Bearer %s.%s\n", id.c_str(), secret.c_str());
    std::printf("  (or HTTP Basic with user %s, or X-Api-Key: %s.<secret>)\n", id.c_str(), id.c_str());
    return 0;
  }
  if (cli.key_ls->parsed()) {
    auto body = getJson(connection, "/api/v1/keys");
    if (!body) return fail(body.status());
    if (as_json) return std::printf("%s\n", (*body)["keys"].dump(2).c_str()), 0;
    std::vector<std::vector<std::string>> rows = {{"CLIENT ID", "NAME", "STATE", "SCOPES", "RATE", "QUOTA", "EXPIRES", "CREATED"}};
    for (const auto& k : (*body)["keys"]) {
      std::string scopes;
      for (const auto& scope : k["scopes"]) scopes += (scopes.empty() ? "" : ",") + scope.get<std::string>();
      rows.push_back({k.value("client_id", ""), k.value("name", ""), k.value("state", ""),
                      scopes.empty() ? "all" : scopes, orDash(k["rate"]), orDash(k["quota"]),
                      k["expires_at"].is_null() ? "never" : shortTime(k["expires_at"]),
                      shortTime(k.value("created_at", ""))});
    }
    if (rows.size() == 1) {
      std::printf("No keys yet. Make one: gust key create mobile --rate 100/s\n");
      return 0;
    }
    printTable(rows);
    return 0;
  }
  auto revoked = sendJson(connection, "DELETE", "/api/v1/keys/" + urlEncode(cli.key_id), nullptr);
  if (!revoked) return fail(revoked.status());
  if (as_json) return std::printf("%s\n", revoked->dump(2).c_str()), 0;
  std::printf("Revoked %s: it is refused from now on\n", cli.key_id.c_str());
  return 0;
}

int accessLogCommand(GatewayCli& cli, const Connection& connection, bool as_json) {
  std::string filters;
  if (!cli.log_route.empty()) filters += "&route=" + urlEncode(cli.log_route);
  if (!cli.log_key.empty()) filters += "&key=" + urlEncode(cli.log_key);
  if (!cli.log_function.empty()) filters += "&function=" + urlEncode(cli.log_function);
  if (!cli.log_status.empty()) filters += "&status=" + urlEncode(cli.log_status);
  auto body = getJson(connection, fmt::format("/api/v1/access-log?limit={}&since={}{}", cli.log_limit,
                                              urlEncode(cli.log_since), filters));
  if (!body) return fail(body.status());
  auto records = (*body)["records"];
  // Newest first from the server; printed oldest first, like a log.
  for (auto it = records.rbegin(); it != records.rend(); ++it) {
    if (as_json) std::printf("%s\n", it->dump().c_str());
    else printAccess(*it);
  }
  if (records.empty() && !cli.log_follow && !as_json) std::printf("No requests in the last %s.\n", cli.log_since.c_str());
  if (!cli.log_follow) return 0;
  int64_t last = (*body).value("last_seq", int64_t{0});
  if (!as_json) std::fprintf(stderr, "following the access log (Ctrl-C to stop)\n");
  for (;;) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    auto next = getJson(connection, fmt::format("/api/v1/access-log?limit=1000&after={}{}", last, filters));
    if (!next) return fail(next.status());
    for (const auto& r : (*next)["records"]) {
      if (as_json) {
        std::printf("%s\n", r.dump().c_str());
        std::fflush(stdout);
      } else {
        printAccess(r);
      }
    }
    last = (*next).value("last_seq", last);
  }
}

}  // namespace

std::optional<int> runGatewayCommand(GatewayCli& cli, const Connection& connection, bool as_json) {
  if (cli.route_add->parsed() || cli.route_ls->parsed() || cli.route_rm->parsed()) {
    return routeCommand(cli, connection, as_json);
  }
  if (cli.key_create->parsed() || cli.key_ls->parsed() || cli.key_revoke->parsed()) {
    return keyCommand(cli, connection, as_json);
  }
  if (cli.share->parsed() || cli.unshare->parsed()) {
    bool sharing = cli.share->parsed();
    json body = {{"function", cli.share_function}, {"with", cli.share_with}};
    auto done = sendJson(connection, sharing ? "POST" : "DELETE", "/api/v1/shares", body);
    if (!done) return fail(done.status());
    if (as_json) return std::printf("%s\n", done->dump(2).c_str()), 0;
    std::printf(sharing ? "%s is shared with %s: its keys may call it where the access mode takes keys\n"
                        : "%s is no longer shared with %s\n",
                cli.share_function.c_str(), cli.share_with.c_str());
    return 0;
  }
  if (cli.shares->parsed()) {
    auto body = getJson(connection, "/api/v1/shares");
    if (!body) return fail(body.status());
    if (as_json) return std::printf("%s\n", (*body)["shares"].dump(2).c_str()), 0;
    std::vector<std::vector<std::string>> rows = {{"FUNCTION", "SHARED WITH", "SINCE"}};
    for (const auto& s : (*body)["shares"]) {
      rows.push_back({s.value("function", ""), s.value("with", ""), shortTime(s.value("created_at", ""))});
    }
    printTable(rows);
    return 0;
  }
  if (cli.access_log->parsed()) return accessLogCommand(cli, connection, as_json);
  return std::nullopt;
}

}  // namespace gust::cli
