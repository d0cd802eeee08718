#pragma once
// The API gateway's CLI commands: `gust route add|ls|rm`, `gust key create|ls|revoke`,
// `gust share|unshare|shares` and `gust access-log`. Internal to src/cli.

#include <memory>
#include <optional>

#include "cli/connection.h"

namespace CLI {
class App;
}

namespace gust::cli {

struct GatewayCli;

// Registers the commands on `app`; the result holds their parsed options.
std::shared_ptr<GatewayCli> addGatewayCommands(CLI::App& app);
// Runs the command that was parsed, if it is one of these; nullopt otherwise.
std::optional<int> runGatewayCommand(GatewayCli& cli, const Connection& connection, bool as_json);

}  // namespace gust::cli
