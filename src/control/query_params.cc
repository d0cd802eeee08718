#include "control/query_params.h"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <string>

#include <fmt/format.h>

namespace gust::control {
namespace {

constexpr int64_t kMicrosPerSecond = 1000000;

int64_t unitSeconds(char unit) {
  switch (unit) {
    case 's':
      return 1;
    case 'm':
      return 60;
    case 'h':
      return 3600;
    case 'd':
      return 86400;
    default:
      return 0;
  }
}

// "YYYY-MM-DD[THH:MM[:SS]][Z]" in UTC, in seconds since the epoch; nullopt before it.
std::optional<int64_t> parseUtcTime(std::string_view text) {
  // strptime skips leading spaces and reads a year of up to 4 digits; the first byte must be one.
  if (text.empty() || text.front() < '0' || text.front() > '9') return std::nullopt;
  if (text.find('\0') != std::string_view::npos) return std::nullopt;  // strptime would stop there
  std::string copy(text);  // strptime wants a NUL-terminated string
  std::tm tm{};
  const char* end = strptime(copy.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!end) end = strptime(copy.c_str(), "%Y-%m-%dT%H:%M", &tm);
  if (!end) end = strptime(copy.c_str(), "%Y-%m-%d", &tm);
  if (!end || (*end && std::string_view(end) != "Z")) return std::nullopt;
  int64_t seconds = static_cast<int64_t>(timegm(&tm));
  if (seconds < 0) return std::nullopt;
  return seconds;
}

// What the caller sent, short enough to quote in a message.
std::string quoted(std::string_view text) {
  constexpr std::size_t kQuoteMax = 40;
  if (text.size() <= kQuoteMax) return fmt::format("'{}'", text);
  return fmt::format("'{}...'", text.substr(0, kQuoteMax));
}

}  // namespace

std::optional<int64_t> parseDurationSeconds(std::string_view text) {
  if (text.size() < 2) return std::nullopt;
  int64_t scale = unitSeconds(text.back());
  std::string_view digits = text.substr(0, text.size() - 1);
  if (scale == 0 || digits.front() < '0' || digits.front() > '9') return std::nullopt;
  auto count = parseInt(digits);
  if (!count || *count > kMaxDurationSeconds / scale) return std::nullopt;
  return *count * scale;
}

std::optional<int64_t> parseTimeBound(std::string_view text, int64_t now_us) {
  if (auto seconds = parseDurationSeconds(text)) {
    return std::max<int64_t>(0, now_us - *seconds * kMicrosPerSecond);
  }
  if (auto seconds = parseUtcTime(text)) return *seconds * kMicrosPerSecond;
  return std::nullopt;
}

std::optional<int64_t> parseInt(std::string_view text) {
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

Result<int64_t> timeBoundParam(std::string_view name, std::string_view text, int64_t now_us) {
  if (auto bound = parseTimeBound(text, now_us)) return *bound;
  return invalidArgument(fmt::format(
      "{} must be a duration back from now, 0s to {}d (like 90s, 30m, 24h, 7d), or a UTC time "
      "from 1970-01-01 (like 2026-11-28T15:00:00Z); got {}",
      name, kMaxDurationSeconds / 86400, quoted(text)));
}

Result<int64_t> integerParam(std::string_view name, std::string_view text, int64_t min,
                             int64_t max) {
  auto value = parseInt(text);
  if (value && *value >= min && *value <= max) return *value;
  return invalidArgument(
      fmt::format("{} must be an integer from {} to {}; got {}", name, min, max, quoted(text)));
}

}  // namespace gust::control
