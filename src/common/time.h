#pragma once
// Wall-clock helpers for records that users read (RFC 3339 timestamps).

#include <cstdint>
#include <string>

namespace gust {

// Microseconds since the Unix epoch, from the realtime clock.
int64_t nowMicros();
// "2026-11-28T15:45:42.123456Z"
std::string formatRfc3339Micros(int64_t micros_since_epoch);

}  // namespace gust
