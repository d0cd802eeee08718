#include "common/time.h"

#include <chrono>
#include <ctime>

#include <fmt/format.h>

namespace gust {

int64_t nowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string formatRfc3339Micros(int64_t micros_since_epoch) {
  std::time_t seconds = micros_since_epoch / 1000000;
  int64_t micros = micros_since_epoch % 1000000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", utc.tm_year + 1900,
                     utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, micros);
}

}  // namespace gust
