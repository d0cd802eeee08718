#pragma once
// The server's own log: one structured event per line on stderr, JSON by default (for log
// shippers) or plain text, with levels. Function output never goes here; it belongs to
// activations.

#include <string_view>

#include <nlohmann/json.hpp>

namespace gust::observe {

enum class LogLevel { Debug, Info, Warn, Error };
enum class LogFormat { Json, Text };

// Call once at start; before that, events go out as JSON at info level.
void initLog(LogFormat format, LogLevel level);

// {"ts": "...", "level": "info", "event": "deploy", ...fields}
void logEvent(LogLevel level, std::string_view event, const nlohmann::json& fields = nlohmann::json::object());

// "debug" | "info" | "warn" | "error" -> level; false when unknown.
bool parseLogLevel(std::string_view text, LogLevel& level);

}  // namespace gust::observe
