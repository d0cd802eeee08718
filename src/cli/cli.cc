#include "cli/cli.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <iterator>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "bundle/bundle.h"
#include "bundle/manifest.h"
#include "cli/connection.h"
#include "cli/events_cli.h"
#include "cli/gateway_cli.h"
#include "cli/host_cli.h"
#include "cli/output.h"
#include "protocol/json_input.h"
#include "server/server.h"

namespace gust::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

void printActivation(const json& a) {
  std::string detail = a.value("cold", false)
                           ? fmt::format("cold, init {} ms", a.value("init_ms", 0))
                           : std::string("warm");
  detail += fmt::format(", billed {} ms, cpu {:.1f} ms, peak {:.0f} MB", a.value("billed_ms", 0),
                        a.value("cpu_user_ms", 0.0) + a.value("cpu_sys_ms", 0.0),
                        a.value("peak_memory_mb", 0.0));
  std::printf(
      "── %s  %s  v%lld  %s  %.1f ms  (%s)%s\n", shortTime(a.value("received_at", "")).c_str(),
      a.value("id", "").c_str(), static_cast<long long>(a.value("version", 0)),
      a.value("status", "").c_str(), a.value("duration_ms", 0.0), detail.c_str(),
      a.value("error", "").empty() ? "" : fmt::format("\n   {}", a.value("error", "")).c_str());
  std::string logs = a.value("logs", "");
  std::size_t start = 0;
  while (start < logs.size()) {
    auto end = logs.find('\n', start);
    if (end == std::string::npos) end = logs.size();
    std::string line = logs.substr(start, end - start);
    // "<time> <stream> <text>": show the time short and keep the stream.
    auto first = line.find(' ');
    if (first != std::string::npos && first >= 19) {
      line = line.substr(11, 8) + line.substr(first);
    }
    std::printf("   %s\n", line.c_str());
    start = end + 1;
  }
  std::fflush(stdout);
}

// A refused deploy: "error: ..." on stderr, or with --json the error object on stdout, for
// scripts to read (`code` is the API's: init_failed, invalid_argument, conflict, ...).
int failDeploy(const json& error, bool as_json) {
  if (as_json) {
    std::printf("%s\n", json{{"error", error}}.dump(2).c_str());
    return 1;
  }
  std::fprintf(stderr, "error: %s\n", error.value("message", "the deploy failed").c_str());
  return 1;
}

int failDeploy(const Status& status, bool as_json) {
  return failDeploy(json{{"code", status.codeName()}, {"message", status.message()}}, as_json);
}

int deploy(const std::string& dir, const std::string& name_option, bool force, bool as_json) {
  auto began = std::chrono::steady_clock::now();
  auto refuse = [as_json](const Status& status) { return failDeploy(status, as_json); };
  std::error_code ec;
  fs::path path = fs::absolute(dir, ec).lexically_normal();
  if (path.has_filename() == false) path = path.parent_path();
  if (!fs::is_directory(path))
    return refuse(invalidArgument(fmt::format("{} is not a directory", dir)));
  // Read the config here too, so a broken gust.toml fails before anything is uploaded.
  auto config = bundle::loadFunctionConfig(
      path.string(), name_option.empty() ? path.filename().string() : name_option);
  if (!config) return refuse(config.status());
  std::string name = name_option.empty() ? config->name : name_option;
  if (Status valid = bundle::validateFunctionName(name); !valid.isOk()) return refuse(valid);
  auto connection = findConnection();
  if (!connection) return refuse(connection.status());
  auto archive = bundle::packDirectory(path.string());
  if (!archive) return refuse(archive.status());
  if (!as_json) {
    std::printf("Deploying %s from %s (%.1f KiB packed)\n", name.c_str(), dir.c_str(),
                static_cast<double>(archive->size()) / 1024);
    std::fflush(stdout);
  }
  http::ClientRequest request;
  request.method = "POST";
  request.target =
      fmt::format("/api/v1/functions/{}/versions{}", urlEncode(name), force ? "?force=true" : "");
  request.headers["Content-Type"] = "application/gzip";
  request.headers["Accept"] = "application/x-ndjson, application/json";
  request.body = std::move(*archive);
  std::string pending;
  json result;
  json streamed_error;  // the server's {code, message} once the answer streamed
  request.on_body = [&](std::string_view chunk) {
    pending.append(chunk);
    std::size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      auto line = protocol::parseJsonOrDiscarded(pending.substr(0, nl));
      pending.erase(0, nl + 1);
      if (!line.is_object()) continue;
      std::string event = line.value("event", "");
      if (event == "progress" && !as_json) {
        std::printf("  │ %s\n", line.value("message", "").c_str());
        std::fflush(stdout);
      } else if (event == "done") {
        result = line["result"];
      } else if (event == "error") {
        streamed_error = line["error"].is_object() ? line["error"] : json::object();
      }
    }
  };
  auto response = callApiForAnyStatus(*connection, request);
  if (!response) return refuse(response.status());
  if (!streamed_error.is_null()) return failDeploy(streamed_error, as_json);
  if (response->status < 200 || response->status >= 300) {
    // Refused before anything streamed: the server's own {code, message} (401 gets the hint on
    // where the token came from).
    auto body = protocol::parseJsonOrDiscarded(response->body);
    if (response->status != 401 && body.is_object() && body["error"].is_object()) {
      return failDeploy(body["error"], as_json);
    }
    return refuse(errorOfAnswer(*connection, *response));
  }
  if (result.is_null()) result = protocol::parseJsonOrDiscarded(response->body);
  if (!result.is_object())
    return refuse(internalError("the server's answer to the deploy was not understood"));
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  if (as_json) {
    result["seconds"] = seconds;
    std::printf("%s\n", result.dump(2).c_str());
    return 0;
  }
  if (result.value("unchanged", false)) {
    std::printf("%s is unchanged: version %lld stays live (%.1f s)\n", name.c_str(),
                static_cast<long long>(result.value("version", 0)), seconds);
  } else {
    std::printf("Deployed %s version %lld in %.1f s\n", name.c_str(),
                static_cast<long long>(result.value("version", 0)), seconds);
  }
  std::printf("  URL: %s\n", result.value("url", "").c_str());
  for (const auto& route : result.value("routes", json::array())) {
    std::printf("  route: %s\n", route.get<std::string>().c_str());
  }
  return 0;
}

Result<http::ClientResponse> apiCall(const Connection& connection, const std::string& method,
                                     const std::string& target, const json& body = nullptr) {
  http::ClientRequest request;
  request.method = method;
  request.target = target;
  if (!body.is_null()) {
    request.headers["Content-Type"] = "application/json";
    request.body = body.dump();
  }
  return callApi(connection, request);
}

int printJsonOr(const Result<http::ClientResponse>& response, bool as_json,
                const std::function<void(const json&)>& human) {
  if (!response) return fail(response.status());
  auto body = protocol::parseJsonOrDiscarded(response->body);
  if (as_json) return std::printf("%s\n", body.dump(2).c_str()), 0;
  human(body);
  return 0;
}

// `gust tenant set NAME --retain-days N --retain-mb N`: "default" gives the setting back to the
// server's flags.
int tenantSet(const Connection& connection, const std::string& name, const std::string& days,
              const std::string& mb, bool as_json) {
  json retention = json::object();
  for (const auto& [field, value] : {std::pair{"days", days}, std::pair{"mb", mb}}) {
    if (value.empty()) continue;
    if (value == "default") {
      retention[field] = nullptr;
      continue;
    }
    char* end = nullptr;
    long long number = std::strtoll(value.c_str(), &end, 10);
    if (end == value.c_str() || *end != '\0') {
      return fail(invalidArgument(
          fmt::format("--retain-{} takes a number or 'default', not '{}'", field, value)));
    }
    retention[field] = number;
  }
  if (retention.empty()) return fail(invalidArgument("give --retain-days and/or --retain-mb"));
  json body = {{"retention", retention}};
  auto response = apiCall(connection, "PATCH", "/api/v1/tenants/" + urlEncode(name), body);
  return printJsonOr(response, as_json, [&](const json& t) {
    auto shown = [](const json& v, const char* unit) {
      return v.is_null() ? std::string("server default") : fmt::format("{} {}", v.dump(), unit);
    };
    std::printf("Tenant %s keeps activation records %s, within %s\n", name.c_str(),
                shown(t["retention"]["days"], "days").c_str(),
                shown(t["retention"]["mb"], "MiB").c_str());
  });
}

int tenantCommand(const Connection& connection, bool create, bool remove, bool list,
                  const std::string& name, bool as_json) {
  if (create) {
    json body = {{"name", name}};
    return printJsonOr(apiCall(connection, "POST", "/api/v1/tenants", body), as_json,
                       [&](const json&) {
                         std::printf(
                             "Created tenant %s\n  make it a token: gust token create --tenant %s\n"
                             "  its functions answer at /t/%s/fn/<name>\n",
                             name.c_str(), name.c_str(), name.c_str());
                       });
  }
  if (remove) {
    return printJsonOr(apiCall(connection, "DELETE", "/api/v1/tenants/" + urlEncode(name)), as_json,
                       [&](const json&) { std::printf("Removed tenant %s\n", name.c_str()); });
  }
  if (!list) return 0;
  auto response = apiCall(connection, "GET", "/api/v1/tenants");
  if (!response) return fail(response.status());
  auto body = protocol::parseJsonOrDiscarded(response->body);
  if (as_json) return std::printf("%s\n", body["tenants"].dump(2).c_str()), 0;
  std::vector<std::vector<std::string>> rows = {{"NAME", "CREATED", "RETAIN DAYS", "RETAIN MB"}};
  auto retained = [](const json& t, const char* field) {
    const json& v = t.contains("retention") ? t["retention"][field] : json();
    return v.is_number_integer() ? v.dump() : std::string("default");
  };
  for (const auto& t : body["tenants"]) {
    rows.push_back({t.value("name", ""), shortTime(t.value("created_at", "")), retained(t, "days"),
                    retained(t, "mb")});
  }
  printTable(rows);
  return 0;
}

int tokenCreate(const Connection& connection, const std::string& tenant, const std::string& name,
                bool as_json) {
  json request = {{"tenant", tenant}, {"name", name}};
  auto response = apiCall(connection, "POST", "/api/v1/tokens", request);
  if (!response) return fail(response.status());
  auto body = protocol::parseJsonOrDiscarded(response->body);
  if (as_json) {
    json out = {{"token", body.value("token", "")},
                {"id", body.value("id", "")},
                {"tenant", body.value("tenant", "")},
                {"name", body.value("name", "")}};
    return std::printf("%s\n", out.dump(2).c_str()), 0;
  }
  std::printf("%s\n", body.value("token", "").c_str());
  std::fprintf(stderr,
               "token %s for tenant %s: shown once, store it now (revoke: gust token revoke %s)\n",
               body.value("id", "").c_str(), tenant.c_str(), body.value("id", "").c_str());
  return 0;
}

int tokenList(const Connection& connection, const std::string& tenant, bool as_json) {
  std::string target = "/api/v1/tokens";
  if (!tenant.empty()) target += "?tenant=" + urlEncode(tenant);
  auto response = apiCall(connection, "GET", target);
  if (!response) return fail(response.status());
  auto body = protocol::parseJsonOrDiscarded(response->body);
  if (as_json) return std::printf("%s\n", body["tokens"].dump(2).c_str()), 0;
  std::vector<std::vector<std::string>> rows = {{"ID", "TENANT", "NAME", "CREATED", "REVOKED"}};
  for (const auto& t : body["tokens"]) {
    rows.push_back(
        {t.value("id", ""), t.value("tenant", ""), t.value("name", ""),
         shortTime(t.value("created_at", "")),
         t["revoked_at"].is_string() ? shortTime(t["revoked_at"].get<std::string>()) : "-"});
  }
  printTable(rows);
  return 0;
}

int tokenRevoke(const Connection& connection, const std::string& id, bool as_json) {
  return printJsonOr(apiCall(connection, "DELETE", "/api/v1/tokens/" + urlEncode(id)), as_json,
                     [&](const json&) { std::printf("Revoked token %s\n", id.c_str()); });
}

int secretSet(const Connection& connection, const std::string& name, bool as_json) {
  if (::isatty(STDIN_FILENO)) {
    std::fprintf(stderr, "Type the value of %s, then Ctrl-D (or pipe it in):\n", name.c_str());
  }
  std::string value((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  // `echo VALUE | gust secret set` should not store the newline echo adds.
  if (value.ends_with("\r\n")) {
    value.resize(value.size() - 2);
  } else if (value.ends_with("\n")) {
    value.pop_back();
  }
  if (value.empty()) {
    return fail(invalidArgument(fmt::format(
        "no value on stdin: pipe it, e.g. `printf %s \"$VALUE\" | gust secret set {}`", name)));
  }
  json body = {{"value", std::move(value)}};
  auto response = apiCall(connection, "PUT", "/api/v1/secrets/" + urlEncode(name), body);
  std::fill(body["value"].get_ref<std::string&>().begin(),
            body["value"].get_ref<std::string&>().end(), '\0');
  return printJsonOr(response, as_json, [&](const json& reply) {
    std::printf("%s secret %s\n", reply.value("created", false) ? "Created" : "Updated",
                name.c_str());
  });
}

int secretList(const Connection& connection, bool as_json) {
  auto response = apiCall(connection, "GET", "/api/v1/secrets");
  if (!response) return fail(response.status());
  auto body = protocol::parseJsonOrDiscarded(response->body);
  if (as_json) return std::printf("%s\n", body["secrets"].dump(2).c_str()), 0;
  std::vector<std::vector<std::string>> rows = {{"NAME", "UPDATED"}};
  for (const auto& s : body["secrets"]) {
    rows.push_back({s.value("name", ""), shortTime(s.value("updated_at", ""))});
  }
  if (rows.size() == 1) {
    std::printf("No secrets yet. Set one: printf %%s \"$VALUE\" | gust secret set NAME\n");
    return 0;
  }
  printTable(rows);
  return 0;
}

int secretRemove(const Connection& connection, const std::string& name, bool as_json) {
  return printJsonOr(apiCall(connection, "DELETE", "/api/v1/secrets/" + urlEncode(name)), as_json,
                     [&](const json&) { std::printf("Removed secret %s\n", name.c_str()); });
}

int auditList(const Connection& connection, const std::string& since, int limit, bool as_json) {
  std::string target = fmt::format("/api/v1/audit?limit={}", limit);
  if (!since.empty()) target += "&since=" + urlEncode(since);
  auto response = apiCall(connection, "GET", target);
  if (!response) return fail(response.status());
  auto body = protocol::parseJsonOrDiscarded(response->body);
  if (as_json) return std::printf("%s\n", body["entries"].dump(2).c_str()), 0;
  std::vector<std::vector<std::string>> rows = {
      {"WHEN", "WHO", "TENANT", "FROM", "ACTION", "TARGET", "OUTCOME", "DETAIL"}};
  for (const auto& e : body["entries"]) {
    rows.push_back({shortTime(e.value("at", "")), e.value("actor", ""), e.value("tenant", ""),
                    e.value("source_ip", ""), e.value("action", ""), e.value("target", ""),
                    e.value("outcome", ""), e.value("detail", "")});
  }
  printTable(rows);
  return 0;
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{"gust: a self-hosted serverless functions platform"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every subcommand");
  bool as_json = false;
  app.add_flag("--json", as_json, "Machine-readable output");
  std::string acting_tenant;
  app.add_option("--tenant", acting_tenant,
                 "Admin only: act on this tenant's resources (also GUST_TENANT; default: default)");
  app.fallthrough();

  server::ServeOptions serve_options;
  int64_t idle_ttl_s = 300;
  auto* serve = app.add_subcommand("serve", "Run the server");
  serve->add_option("--listen", serve_options.listen, "HOST:PORT to listen on")
      ->capture_default_str();
  serve->add_option("--data", serve_options.data_dir, "Data directory")->capture_default_str();
  serve->add_option("--threads", serve_options.io_threads, "I/O threads (0: one per core)");
  serve->add_option("--idle-ttl", idle_ttl_s, "Seconds an idle instance is kept warm")
      ->capture_default_str();
  serve->add_option("--max-body", serve_options.max_body_bytes, "Largest invoke body in bytes")
      ->capture_default_str();
  serve
      ->add_option("--max-response", serve_options.max_response_bytes,
                   "Largest function response in bytes (larger ones are a 502); at most 64 MiB")
      ->check(CLI::Range(uint32_t{1}, uint32_t{64} << 20))
      ->capture_default_str();
  serve->add_option("--runtimes", serve_options.runtimes_dir, "Folder of the runtime adapters");
  serve->add_option("--config", serve_options.config_path,
                    "Server config (TOML) with a [prices] table");
  bool no_process_metering = false;
  bool no_prestart = false;
  serve->add_flag(
      "--no-prestart", no_prestart,
      "Do not keep pre-started instances (Python, Node, the relay) per tenant for cold starts");
  serve
      ->add_option("--sandbox", serve_options.sandbox,
                   "How functions are isolated: linux (namespaces, cgroups, seccomp; the "
                   "default, needs root) or none (plain processes: trusted code only)")
      ->check(CLI::IsMember({"linux", "none"}));
  serve->add_flag("--no-process-metering", no_process_metering,
                  "Skip per-activation CPU and peak-memory readings (to measure their cost)");
  serve->add_option("--log-format", serve_options.log_format, "Server log on stderr: json | text")
      ->check(CLI::IsMember({"json", "text"}))
      ->capture_default_str();
  serve->add_option("--log-level", serve_options.log_level, "debug | info | warn | error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}))
      ->capture_default_str();
  serve
      ->add_option("--retain-days", serve_options.retain_days,
                   "Delete a tenant's activation records older than this (0: no age limit; a "
                   "tenant's own setting wins)")
      ->capture_default_str();
  serve
      ->add_option("--retain-mb,--retain-log-mb", serve_options.retain_mb,
                   "Keep at most this much of each tenant's activation records and logs, its "
                   "oldest going first (0: no size limit; a tenant's own setting wins)")
      ->capture_default_str();
  serve
      ->add_option("--retain-usage-days", serve_options.retain_usage_days,
                   "Delete hourly usage roll-ups older than this (0: no limit)")
      ->capture_default_str();
  serve
      ->add_option("--retain-access-days", serve_options.retain_access_days,
                   "Delete gateway access-log records older than this (0: no limit)")
      ->capture_default_str();
  serve
      ->add_option("--retain-access-rows", serve_options.retain_access_rows,
                   "Keep at most this many gateway access-log records, the oldest going first "
                   "(about 180 bytes each; 0: no limit)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  serve
      ->add_option("--retain-async-days", serve_options.retain_async_days,
                   "Delete asynchronous invocations (dead letters included) that ended longer "
                   "ago than this (0: no limit)")
      ->check(CLI::Range(int64_t{0}, int64_t{36500}))
      ->capture_default_str();
  serve
      ->add_option("--retain-audit-days", serve_options.retain_audit_days,
                   "Delete audit entries older than this (0: no limit)")
      ->check(CLI::Range(int64_t{0}, int64_t{36500}))
      ->capture_default_str();
  serve
      ->add_option("--retention-interval-s", serve_options.retention_interval_s,
                   "How often retention and compaction run")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  serve
      ->add_option("--min-free-mb", serve_options.min_free_mb,
                   "Refuse new invocations and deploys (507) while the data dir's disk has less "
                   "free space than this; serve again past it plus a quarter (0: never refuse)")
      ->capture_default_str();
  serve
      ->add_option("--build-network", serve_options.build_network,
                   "What dependency builds (pip, npm, Maven) reach: egress (public addresses "
                   "only, never this host or private ranges) or none (a bundle vendors its "
                   "dependencies)")
      ->check(CLI::IsMember({"egress", "none"}))
      ->capture_default_str();
  serve
      ->add_option("--build-timeout", serve_options.build_timeout_s,
                   "Seconds one build step (pip, npm, Maven) may take")
      ->capture_default_str();
  serve
      ->add_option("--build-memory-mb", serve_options.build_memory_mb,
                   "Memory a build may use, its /tmp included")
      ->capture_default_str();
  serve
      ->add_option("--max-version-mb", serve_options.max_version_mb,
                   "Disk one version may take once built (code and dependencies)")
      ->capture_default_str();
  serve
      ->add_option("--tenant-disk-mb", serve_options.tenant_disk_mb,
                   "Disk one tenant may hold: every version's code and dependencies, its build "
                   "cache and its bundles")
      ->capture_default_str();
  double header_timeout_s = 10;
  serve
      ->add_option("--header-timeout", header_timeout_s,
                   "Seconds a client has to send a whole request head (slow clients are cut off)")
      ->capture_default_str();
  serve
      ->add_option("--max-connections", serve_options.max_connections,
                   "Open connections at most; more are closed at accept")
      ->capture_default_str();
  auto gateway_cli = addGatewayCommands(app);
  auto host_cli = addHostCommands(app);

  std::string deploy_dir, deploy_name;
  auto* deploy_cmd = app.add_subcommand("deploy", "Deploy a directory as a new version");
  deploy_cmd->add_option("dir", deploy_dir, "The function's directory")->required();
  deploy_cmd->add_option("--name", deploy_name,
                         "Function name (default: gust.toml name or the directory name)");
  bool deploy_force = false;
  deploy_cmd->add_flag("--force", deploy_force,
                       "Deploy even if the code does not load (skips the check that starts it in a "
                       "sandbox first)");

  auto* ls = app.add_subcommand("ls", "List functions");

  std::string function;
  auto* versions = app.add_subcommand("versions", "List a function's versions");
  versions->add_option("name", function)->required();

  int64_t version = 0;
  auto* rollback = app.add_subcommand("rollback", "Point alias live at an earlier version");
  rollback->add_option("name", function)->required();
  rollback->add_option("version", version)->required();

  auto* rm = app.add_subcommand("rm", "Remove a function and all its versions");
  rm->add_option("name", function)->required();

  std::string data, qualifier, entry;
  auto* invoke = app.add_subcommand("invoke", "Invoke a function with a JSON event");
  invoke->add_option("name", function)->required();
  invoke->add_option("--data,-d", data, "The event (JSON; default {})");
  invoke->add_option("--version", qualifier, "A version or alias (default: live)");
  invoke->add_option("--entry", entry, "For projects: which file, e.g. api/hello");
  bool invoke_async = false;
  invoke->add_flag("--async", invoke_async,
                   "Queue it (202 once durable), retried on failure; see `gust invocation ID`");

  bool follow = false;
  int limit = 20;
  auto* logs = app.add_subcommand("logs", "Show a function's recent activations and their logs");
  logs->add_option("name", function)->required();
  logs->add_flag("-f,--follow", follow, "Keep printing new activations as they happen");
  logs->add_option("-n,--limit", limit, "How many recent activations to show")
      ->capture_default_str();
  std::string logs_since, logs_activation;
  logs->add_option("--since", logs_since, "Only activations since a duration back (1h) or a time");
  logs->add_option("--activation", logs_activation, "Only this activation");

  auto* activations = app.add_subcommand("activations", "List recent activations");
  activations->add_option("--fn", function, "Only this function");
  activations->add_option("-n,--limit", limit)->capture_default_str();

  std::string activation_id;
  auto* activation = app.add_subcommand("activation", "Show one activation with its logs");
  activation->add_option("id", activation_id)->required();

  std::string login_url, login_token;
  auto* login = app.add_subcommand("login", "Remember a server and its admin token");
  login->add_option("url", login_url)->required();
  login->add_option("token", login_token)->required();

  auto* routes =
      app.add_subcommand("routes", "List routes, project and gateway (see also `gust route ls`)");

  std::string usage_by = "function", usage_since = "24h", usage_until, usage_format = "table";
  auto* usage = app.add_subcommand("usage", "Invocations, billed time, GB-s, CPU and cost");
  usage->add_option("--by", usage_by, "tenant | function | version | key | route | hour")
      ->check(CLI::IsMember({"tenant", "function", "version", "key", "route", "hour"}))
      ->capture_default_str();
  usage
      ->add_option("--since", usage_since,
                   "A duration back (24h, 7d) or a time (2026-11-28T00:00Z)")
      ->capture_default_str();
  usage->add_option("--until", usage_until, "Same forms; default: now");
  usage->add_option("--format", usage_format, "table | json | csv")
      ->check(CLI::IsMember({"table", "json", "csv"}))
      ->capture_default_str();

  auto* tenant_cmd = app.add_subcommand("tenant", "Manage tenants (admin token only)");
  tenant_cmd->require_subcommand(1);
  std::string tenant_name;
  auto* tenant_create = tenant_cmd->add_subcommand("create", "Create a tenant");
  tenant_create->add_option("name", tenant_name, "[a-z0-9-]{1,40}")->required();
  auto* tenant_ls = tenant_cmd->add_subcommand("ls", "List tenants");
  auto* tenant_rm = tenant_cmd->add_subcommand("rm", "Remove a tenant (it must have no functions)");
  tenant_rm->add_option("name", tenant_name)->required();
  std::string tenant_retain_days, tenant_retain_mb;
  auto* tenant_set = tenant_cmd->add_subcommand(
      "set", "Set a tenant's own retention of activation records (default: the server's)");
  tenant_set->add_option("name", tenant_name)->required();
  tenant_set->add_option("--retain-days", tenant_retain_days,
                         "Delete its records older than this many days (0: no age limit; "
                         "'default': the server's --retain-days)");
  tenant_set->add_option(
      "--retain-mb", tenant_retain_mb,
      "Keep its records and logs within this many MiB, oldest going first (0: no "
      "size limit; 'default': the server's --retain-mb)");

  auto* token_cmd = app.add_subcommand("token", "Manage tenant tokens (admin token only)");
  token_cmd->require_subcommand(1);
  std::string token_tenant, token_name, token_id;
  auto* token_create =
      token_cmd->add_subcommand("create", "Make a token for a tenant (shown once)");
  token_create->add_option("--tenant", token_tenant, "The tenant the token acts on")->required();
  token_create->add_option("--name", token_name, "A label, e.g. ci");
  auto* token_ls = token_cmd->add_subcommand("ls", "List tokens (never their values)");
  token_ls->add_option("--tenant", token_tenant, "Only this tenant's tokens");
  auto* token_revoke = token_cmd->add_subcommand("revoke", "Revoke a token by id");
  token_revoke->add_option("id", token_id)->required();

  auto* secret_cmd = app.add_subcommand("secret", "Manage secrets (values are read from stdin)");
  secret_cmd->require_subcommand(1);
  std::string secret_name, secret_value_arg;
  auto* secret_set = secret_cmd->add_subcommand("set", "Set a secret; pipe its value on stdin");
  secret_set->add_option("name", secret_name)->required();
  secret_set->add_option("value", secret_value_arg, "(refused: pipe the value on stdin)");
  auto* secret_ls =
      secret_cmd->add_subcommand("ls", "List secrets (names and times, never values)");
  auto* secret_rm = secret_cmd->add_subcommand("rm", "Remove a secret");
  secret_rm->add_option("name", secret_name)->required();

  std::string audit_since;
  int audit_limit = 100;
  auto* audit = app.add_subcommand("audit", "Control-plane changes: who, what, when, from where");
  audit->add_option("--since", audit_since, "A duration back (1h, 7d) or a time");
  audit->add_option("-n,--limit", audit_limit, "At most this many entries")->capture_default_str();

  EventCommands event_commands;
  addEventCommands(app, event_commands);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }

  if (serve->parsed()) {
    serve_options.idle_ttl = std::chrono::seconds(idle_ttl_s);
    serve_options.header_timeout =
        std::chrono::milliseconds(static_cast<int64_t>(header_timeout_s * 1000));
    serve_options.meter_process = !no_process_metering;
    serve_options.prestart = !no_prestart;
    return server::serve(serve_options);
  }
  if (!acting_tenant.empty()) ::setenv("GUST_TENANT", acting_tenant.c_str(), 1);
  if (deploy_cmd->parsed()) return deploy(deploy_dir, deploy_name, deploy_force, as_json);
  if (secret_set->parsed() && !secret_value_arg.empty()) {
    return fail(invalidArgument(fmt::format(
        "a secret's value is never taken from the command line (shell history, the process "
        "list): pipe it on stdin, e.g. `printf %s \"$VALUE\" | gust secret set {}`",
        secret_name)));
  }
  if (login->parsed()) {
    // Checked before it is saved: a login that cannot list functions must not replace a
    // config that worked.
    Connection connection{login_url, login_token, "the command line", ""};
    auto check = getJson(connection, "/api/v1/functions");
    if (!check) {
      return fail(Status(check.status().code(),
                         fmt::format("cannot log in to {}: {}; nothing saved to {}", login_url,
                                     check.status().message(), configPath())));
    }
    if (Status saved = saveLogin(login_url, login_token); !saved.isOk()) return fail(saved);
    std::printf("Logged in to %s (saved in %s)\n", login_url.c_str(), configPath().c_str());
    return 0;
  }

  auto connection = findConnection();
  if (!connection) return fail(connection.status());

  if (ls->parsed()) {
    auto body = getJson(*connection, "/api/v1/functions");
    if (!body) return fail(body.status());
    if (as_json) return std::printf("%s\n", (*body)["functions"].dump(2).c_str()), 0;
    std::vector<std::vector<std::string>> rows = {{"NAME", "LIVE", "VERSIONS", "UPDATED", "URL"}};
    for (const auto& f : (*body)["functions"]) {
      rows.push_back({f.value("name", ""), "v" + std::to_string(f.value("live_version", 0)),
                      std::to_string(f.value("versions", 0)), shortTime(f.value("updated_at", "")),
                      f.value("url", "")});
    }
    if (rows.size() == 1) {
      std::printf("No functions yet. Deploy one: gust deploy examples/hello-python\n");
      return 0;
    }
    printTable(rows);
    return 0;
  }
  if (versions->parsed()) {
    auto body =
        getJson(*connection, fmt::format("/api/v1/functions/{}/versions", urlEncode(function)));
    if (!body) return fail(body.status());
    if (as_json) return std::printf("%s\n", (*body)["versions"].dump(2).c_str()), 0;
    std::vector<std::vector<std::string>> rows = {
        {"VERSION", "", "CREATED", "RUNTIME", "SHA256", "BYTES"}};
    for (const auto& v : (*body)["versions"]) {
      rows.push_back({"v" + std::to_string(v.value("version", 0)),
                      v.value("live", false) ? "live" : "", shortTime(v.value("created_at", "")),
                      v.contains("config") ? v["config"].value("runtime", "") : "",
                      v.value("bundle_sha256", "").substr(0, 12),
                      std::to_string(v.value("bundle_bytes", 0))});
    }
    printTable(rows);
    return 0;
  }
  if (rollback->parsed()) {
    http::ClientRequest request;
    request.method = "PUT";
    request.target = fmt::format("/api/v1/functions/{}/aliases/live", urlEncode(function));
    request.headers["Content-Type"] = "application/json";
    request.body = json{{"version", version}}.dump();
    auto response = callApi(*connection, request);
    if (!response) return fail(response.status());
    if (as_json) return std::printf("%s\n", response->body.c_str()), 0;
    std::printf("%s: live now points at version %lld\n", function.c_str(),
                static_cast<long long>(version));
    return 0;
  }
  if (rm->parsed()) {
    http::ClientRequest request;
    request.method = "DELETE";
    request.target = fmt::format("/api/v1/functions/{}", urlEncode(function));
    auto response = callApi(*connection, request);
    if (!response) return fail(response.status());
    if (as_json) return std::printf("%s\n", response->body.c_str()), 0;
    std::printf("Removed %s\n", function.c_str());
    return 0;
  }
  if (invoke->parsed() && invoke_async) {
    return invokeAsync(*connection, function, qualifier, entry, data, as_json);
  }
  if (auto ran = runEventCommand(event_commands, *connection, as_json)) return *ran;
  if (invoke->parsed()) {
    http::ClientRequest request;
    request.method = "POST";
    request.target = fmt::format("/api/v1/functions/{}/invoke?qualifier={}&entry={}",
                                 urlEncode(function), urlEncode(qualifier), urlEncode(entry));
    request.headers["Content-Type"] = "application/json";
    request.body = data.empty() ? "{}" : data;
    if (protocol::parseJsonOrDiscarded(request.body).is_discarded()) {
      return fail(invalidArgument("--data must be JSON, e.g. --data '{\"name\": \"ada\"}'"));
    }
    request.headers["Authorization"] = "Bearer " + connection->token;
    addTenantHeader(*connection, request);
    auto response = http::sendRequest(connection->url, request);
    if (!response) return fail(response.status());
    std::string id = response->headers.count("x-gust-activation-id")
                         ? response->headers["x-gust-activation-id"]
                         : "";
    auto body = protocol::parseJsonOrDiscarded(response->body);
    bool ok = response->status >= 200 && response->status < 300;
    if (as_json) {
      json out = {{"activation_id", id}, {"status", response->status}};
      out[ok ? "result" : "error"] = body.is_discarded() ? json(response->body) : body;
      std::printf("%s\n", out.dump(2).c_str());
      return ok ? 0 : 1;
    }
    if (!ok) {
      std::string message = body.is_object() && body.contains("error")
                                ? body["error"].value("message", response->body)
                                : response->body;
      std::fprintf(stderr, "error: %s (%d)\n  activation %s: see `gust logs %s`\n", message.c_str(),
                   response->status, id.c_str(), function.c_str());
      return 1;
    }
    std::printf("%s\n", body.is_discarded() ? response->body.c_str() : body.dump(2).c_str());
    return 0;
  }
  if (logs->parsed()) {
    if (!logs_activation.empty()) {
      auto body = getJson(*connection, "/api/v1/activations/" + urlEncode(logs_activation));
      if (!body) return fail(body.status());
      if (as_json) return std::printf("%s\n", body->dump().c_str()), 0;
      printActivation(*body);
      return 0;
    }
    // One Server-Sent Events stream: the recent activations, then (with -f) each new one.
    http::ClientRequest request;
    request.target = fmt::format("/api/v1/functions/{}/logs?limit={}{}{}", urlEncode(function),
                                 limit, follow ? "&follow=1" : "",
                                 logs_since.empty() ? "" : "&since=" + urlEncode(logs_since));
    request.headers["Accept"] = "text/event-stream";
    request.timeout_s = follow ? 365 * 24 * 3600 : 60;
    std::string pending;
    int shown = 0;
    request.on_body = [&](std::string_view chunk) {
      pending.append(chunk);
      std::size_t end;
      while ((end = pending.find("\n\n")) != std::string::npos) {
        std::string event = pending.substr(0, end);
        pending.erase(0, end + 2);
        auto data_at = event.find("data: ");
        if (data_at == std::string::npos) continue;  // a keep-alive comment
        auto record = protocol::parseJsonOrDiscarded(
            event.substr(data_at + 6, event.find('\n', data_at) - data_at - 6));
        if (!record.is_object()) continue;
        ++shown;
        if (as_json) {
          std::printf("%s\n", record.dump().c_str());
          std::fflush(stdout);
        } else {
          printActivation(record);
        }
      }
    };
    if (follow && !as_json)
      std::fprintf(stderr, "following %s (Ctrl-C to stop)\n", function.c_str());
    auto response = callApi(*connection, request);
    if (!response) return fail(response.status());
    if (shown == 0 && !follow && !as_json)
      std::printf("No activations of %s yet.\n", function.c_str());
    return 0;
  }
  if (activations->parsed()) {
    std::string target = fmt::format("/api/v1/activations?limit={}", limit);
    if (!function.empty()) target += "&function=" + urlEncode(function);
    auto body = getJson(*connection, target);
    if (!body) return fail(body.status());
    if (as_json) return std::printf("%s\n", (*body)["activations"].dump(2).c_str()), 0;
    std::vector<std::vector<std::string>> rows = {
        {"ID", "FUNCTION", "VERSION", "STATUS", "HTTP", "START", "DURATION", "RECEIVED"}};
    for (const auto& a : (*body)["activations"]) {
      rows.push_back({a.value("id", ""), a.value("function", ""),
                      "v" + std::to_string(a.value("version", 0)), a.value("status", ""),
                      std::to_string(a.value("http_status", 0)),
                      a.value("cold", false) ? "cold" : "warm",
                      fmt::format("{:.1f} ms", a.value("duration_ms", 0.0)),
                      shortTime(a.value("received_at", ""))});
    }
    printTable(rows);
    return 0;
  }
  if (activation->parsed()) {
    auto body = getJson(*connection, "/api/v1/activations/" + urlEncode(activation_id));
    if (!body) return fail(body.status());
    if (as_json) return std::printf("%s\n", body->dump(2).c_str()), 0;
    printActivation(*body);
    return 0;
  }
  if (usage->parsed()) {
    std::string target =
        fmt::format("/api/v1/usage?by={}&since={}", usage_by, urlEncode(usage_since));
    if (!usage_until.empty()) target += "&until=" + urlEncode(usage_until);
    auto body = getJson(*connection, target);
    if (!body) return fail(body.status());
    if (as_json || usage_format == "json") return std::printf("%s\n", body->dump(2).c_str()), 0;
    std::string group_header = usage_by == "version" ? "FUNCTION@VERSION" : usage_by;
    for (auto& c : group_header) c = static_cast<char>(std::toupper(c));
    // The gateway's traffic (requests, status classes, rate-limited, latency) where it is kept;
    // billing where it is kept (not per route).
    bool traffic = usage_by == "key" || usage_by == "route" || usage_by == "function";
    bool billing = usage_by != "route";
    std::vector<std::string> header = {group_header};
    if (traffic)
      header.insert(header.end(),
                    {"REQUESTS", "2XX", "4XX", "5XX", "LIMITED", "P50_MS", "P95_MS", "P99_MS"});
    if (billing)
      header.insert(header.end(), {"INVOCATIONS", "ERRORS", "BILLED_MS", "GB_S", "CPU_USER_MS",
                                   "CPU_SYS_MS", "COST"});
    std::vector<std::vector<std::string>> rows = {header};
    auto add = [&](const json& r) {
      std::string group = r.value("group", "");
      if (group.empty()) group = "-";
      std::vector<std::string> row = {group};
      if (traffic) {
        json t = r.contains("traffic") ? r["traffic"] : json::object();
        json latency = t.contains("latency_ms") ? t["latency_ms"] : json::object();
        bool seen = t.contains("requests");
        auto count = [&](const char* field) {
          return seen ? std::to_string(t.value(field, 0)) : "-";
        };
        auto ms = [&](const char* field) {
          return seen ? fmt::format("{:.1f}", latency.value(field, 0.0)) : "-";
        };
        row.insert(row.end(),
                   {count("requests"), count("status_2xx"), count("status_4xx"),
                    count("status_5xx"), count("rate_limited"), ms("p50"), ms("p95"), ms("p99")});
      }
      if (billing) {
        row.insert(
            row.end(),
            {std::to_string(r.value("invocations", 0)), std::to_string(r.value("errors", 0)),
             std::to_string(r.value("billed_ms", 0)), fmt::format("{:.6f}", r.value("gb_s", 0.0)),
             fmt::format("{:.1f}", r.value("cpu_user_ms", 0.0)),
             fmt::format("{:.1f}", r.value("cpu_sys_ms", 0.0)),
             fmt::format("{:.8f}", r.value("cost", 0.0))});
      }
      rows.push_back(std::move(row));
    };
    for (const auto& r : (*body)["rows"]) add(r);
    if (billing) add((*body)["total"]);
    if (usage_format == "csv") {
      for (auto& row : rows) {
        std::string line;
        for (std::size_t i = 0; i < row.size(); ++i) {
          std::string cell = row[i];
          if (cell.find_first_of(",\"\n") != std::string::npos) {
            std::string quoted = "\"";
            for (char c : cell) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
            cell = quoted + "\"";
          }
          line += (i ? "," : "") + cell;
        }
        std::printf("%s\n", line.c_str());
      }
      return 0;
    }
    printTable(rows);
    if (!billing) return 0;
    std::printf(
        "\ncost after the free tier: %.8f (prices per GB-s %g, per 1M requests %g, per CPU-s %g)\n",
        (*body)["total"].value("cost_after_free_tier", 0.0),
        (*body)["prices"].value("per_gb_s", 0.0),
        (*body)["prices"].value("per_million_requests", 0.0),
        (*body)["prices"].value("per_cpu_s", 0.0));
    return 0;
  }
  if (auto handled = runGatewayCommand(*gateway_cli, *connection, as_json)) return *handled;
  if (auto handled = runHostCommand(*host_cli, *connection, as_json)) return *handled;
  if (tenant_set->parsed()) {
    return tenantSet(*connection, tenant_name, tenant_retain_days, tenant_retain_mb, as_json);
  }
  if (tenant_cmd->parsed())
    return tenantCommand(*connection, tenant_create->parsed(), tenant_rm->parsed(),
                         tenant_ls->parsed(), tenant_name, as_json);
  if (token_cmd->parsed()) {
    if (token_create->parsed()) return tokenCreate(*connection, token_tenant, token_name, as_json);
    if (token_ls->parsed()) return tokenList(*connection, token_tenant, as_json);
    if (token_revoke->parsed()) return tokenRevoke(*connection, token_id, as_json);
  }
  if (secret_cmd->parsed()) {
    if (secret_set->parsed()) return secretSet(*connection, secret_name, as_json);
    if (secret_ls->parsed()) return secretList(*connection, as_json);
    if (secret_rm->parsed()) return secretRemove(*connection, secret_name, as_json);
  }
  if (audit->parsed()) return auditList(*connection, audit_since, audit_limit, as_json);
  if (routes->parsed()) {
    auto body = getJson(*connection, "/api/v1/routes");
    if (!body) return fail(body.status());
    if (as_json) return std::printf("%s\n", (*body)["routes"].dump(2).c_str()), 0;
    std::vector<std::vector<std::string>> rows = {{"ROUTE", "FUNCTION", "ENTRY"}};
    for (const auto& r : (*body)["routes"]) {
      rows.push_back({r.value("route", ""), r.value("function", ""), r.value("entry", "")});
    }
    printTable(rows);
    return 0;
  }
  return 0;
}

}  // namespace gust::cli
