#include "cli/host_cli.h"

#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/output.h"

namespace gust::cli {

using nlohmann::json;

struct HostCli {
  CLI::App* add = nullptr;
  CLI::App* ls = nullptr;
  CLI::App* rm = nullptr;
  std::string host, tenant;
};

std::shared_ptr<HostCli> addHostCommands(CLI::App& app) {
  auto cli = std::make_shared<HostCli>();
  auto* host = app.add_subcommand(
      "host", "Hosts (custom domains) claimed for tenants: a tenant binds routes only to its own");
  host->require_subcommand(1);
  cli->add = host->add_subcommand("add", "Claim a host for a tenant (admin token only)");
  cli->add->add_option("host", cli->host, "A DNS name, e.g. api.acme.example")->required();
  cli->add->add_option("--tenant", cli->tenant, "The tenant that will own it")->required();
  cli->ls = host->add_subcommand("ls", "List hosts (the admin: every tenant's; a tenant: its own)");
  cli->rm = host->add_subcommand("rm", "Release a host; refused while routes are bound to it");
  cli->rm->add_option("host", cli->host, "The host")->required();
  return cli;
}

namespace {

int listHosts(const Connection& connection, bool as_json) {
  auto body = getJson(connection, "/api/v1/hosts");
  if (!body) return fail(body.status());
  if (as_json) return std::printf("%s\n", (*body)["hosts"].dump(2).c_str()), 0;
  std::vector<std::vector<std::string>> rows = {{"HOST", "TENANT", "CLAIMED"}};
  for (const auto& h : (*body)["hosts"]) {
    rows.push_back(
        {h.value("host", ""), h.value("tenant", ""), shortTime(h.value("created_at", ""))});
  }
  if (rows.size() == 1) {
    std::printf(
        "No hosts claimed. The admin claims one with: gust host add api.example.com --tenant "
        "NAME\n");
    return 0;
  }
  printTable(rows);
  return 0;
}

}  // namespace

std::optional<int> runHostCommand(HostCli& cli, const Connection& connection, bool as_json) {
  if (cli.add->parsed()) {
    json body = {{"host", cli.host}, {"tenant", cli.tenant}};
    auto claimed = sendJson(connection, "POST", "/api/v1/hosts", body);
    if (!claimed) return fail(claimed.status());
    if (as_json) return std::printf("%s\n", claimed->dump(2).c_str()), 0;
    std::string host = (*claimed)["host"], tenant = (*claimed)["tenant"];
    std::printf("Host %s belongs to tenant %s: only its routes answer there.\n", host.c_str(),
                tenant.c_str());
    std::printf("  Bind one: gust --tenant %s route add 'GET /' FUNCTION --host %s\n",
                tenant.c_str(), host.c_str());
    return 0;
  }
  if (cli.ls->parsed()) return listHosts(connection, as_json);
  if (cli.rm->parsed()) {
    auto removed = sendJson(connection, "DELETE", "/api/v1/hosts/" + urlEncode(cli.host));
    if (!removed) return fail(removed.status());
    if (as_json) return std::printf("%s\n", removed->dump(2).c_str()), 0;
    std::printf("Released host %s\n", (*removed)["deleted"].get<std::string>().c_str());
    return 0;
  }
  return std::nullopt;
}

}  // namespace gust::cli
