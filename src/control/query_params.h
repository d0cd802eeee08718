#pragma once
// The control API's query parameters that are numbers or times (since, until, limit, after):
// parsed whole, range-checked, and refused with a 400 that names the parameter and what it
// accepts. Arithmetic on them cannot overflow: every accepted value is bounded first. Pure
// functions; call from any thread.

#include <cstdint>
#include <optional>
#include <string_view>

#include "common/status.h"

namespace gust::control {

// The longest duration accepted: 36500 days (100 years), in seconds.
inline constexpr int64_t kMaxDurationSeconds = 36500LL * 86400;

// "90s", "30m", "24h", "7d": a whole number of seconds from 0 to kMaxDurationSeconds; nullopt
// for anything else (a sign, a fraction, another unit, more digits than fit).
std::optional<int64_t> parseDurationSeconds(std::string_view text);

// A duration back from `now_us` ("24h" = 24 hours ago; never before the epoch), or a UTC time
// "YYYY-MM-DD[THH:MM[:SS]]Z" (the Z optional) from 1970-01-01 on. Microseconds since the epoch.
std::optional<int64_t> parseTimeBound(std::string_view text, int64_t now_us);

// A decimal integer with nothing around it; nullopt on overflow.
std::optional<int64_t> parseInt(std::string_view text);

// parseTimeBound / parseInt for the query parameter `name`: an InvalidArgument that names the
// parameter, what it accepts and (shortened) what it got.
Result<int64_t> timeBoundParam(std::string_view name, std::string_view text, int64_t now_us);
Result<int64_t> integerParam(std::string_view name, std::string_view text, int64_t min,
                             int64_t max);

}  // namespace gust::control
