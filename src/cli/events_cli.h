#pragma once
// The event subcommands of `gust`: `dlq ls|replay|purge NAME`, `trigger cron|kafka|ls|rm|pause|resume`
// and `invocation ID` (an asynchronous invocation and its attempts), over the control API.

#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/connection.h"

namespace gust::cli {

struct EventCommands {
  CLI::App* dlq = nullptr;
  CLI::App* dlq_ls = nullptr;
  CLI::App* dlq_replay = nullptr;
  CLI::App* dlq_purge = nullptr;
  CLI::App* trigger = nullptr;
  CLI::App* trigger_cron = nullptr;
  CLI::App* trigger_kafka = nullptr;
  CLI::App* trigger_ls = nullptr;
  CLI::App* trigger_rm = nullptr;
  CLI::App* trigger_pause = nullptr;
  CLI::App* trigger_resume = nullptr;
  CLI::App* invocation = nullptr;
  std::string function;
  std::vector<std::string> ids;
  std::string schedule;
  std::string tz = "UTC";
  std::string payload;
  bool catch_up = false;
  std::string id;
  int limit = 100;
  // trigger kafka
  std::string topic;
  std::string brokers;
  std::string group;
  int64_t batch = 100;
  std::string window = "500ms";
  std::string start = "latest";
  std::string dlq_topic;
  int64_t max_retries = 2;
  std::vector<std::string> properties;  // KEY=VALUE
};

// Declares the subcommands on `app`; `commands` must outlive the parse.
void addEventCommands(CLI::App& app, EventCommands& commands);

// Runs the parsed event subcommand; nullopt when none of them was given.
std::optional<int> runEventCommand(const EventCommands& commands, const Connection& connection,
                                   bool as_json);

// `gust invoke NAME --async`: 202 and the activation id once the invocation is durable.
int invokeAsync(const Connection& connection, const std::string& function,
                const std::string& qualifier, const std::string& entry, const std::string& data,
                bool as_json);

}  // namespace gust::cli
