#pragma once
// The hosts' CLI commands: `gust host add HOST --tenant T`, `gust host ls`, `gust host rm HOST`
// (adding and removing take the admin token). Internal to src/cli.

#include <memory>
#include <optional>

#include "cli/connection.h"

namespace CLI {
class App;
}

namespace gust::cli {

struct HostCli;

// Registers the commands on `app`; the result holds their parsed options.
std::shared_ptr<HostCli> addHostCommands(CLI::App& app);
// Runs the command that was parsed, if it is one of these; nullopt otherwise.
std::optional<int> runHostCommand(HostCli& cli, const Connection& connection, bool as_json);

}  // namespace gust::cli
