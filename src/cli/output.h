#pragma once
// What the CLI's commands share: error output, tables, times, URL encoding and GETs of JSON.
// Internal to src/cli.

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/connection.h"
#include "common/status.h"

namespace gust::cli {

// Prints "error: <message>" on stderr; returns the exit code 1.
int fail(const Status& status);
std::string urlEncode(std::string_view text);
Result<nlohmann::json> getJson(const Connection& connection, const std::string& target);
// A control API call with an optional JSON body (null: none), answered with JSON.
Result<nlohmann::json> sendJson(const Connection& connection, const std::string& method,
                                const std::string& target, const nlohmann::json& body = nullptr);
// Shortens RFC 3339 "2026-11-28T15:45:42.123456Z" to "2026-11-28 15:45:42".
std::string shortTime(const std::string& rfc3339);
// Left-aligned columns two spaces apart; the first row is the header.
void printTable(const std::vector<std::vector<std::string>>& rows);

}  // namespace gust::cli
