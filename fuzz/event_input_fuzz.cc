// What tenants and their functions hand the events part: cron schedules and time zones (from
// the control API), a Kafka trigger's settings, and a handler's batchItemFailures result (from
// code that may be hostile). The first byte picks which; the rest is the input.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "events/cron/schedule.h"
#include "events/kafka/kafka_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
    case 1: {
      // "spec" or "spec\ntz"
      auto newline = input.find('\n');
      std::string_view spec = input.substr(0, newline);
      std::string_view tz = newline == std::string_view::npos ? "UTC" : input.substr(newline + 1);
      auto schedule = gust::events::cron::Schedule::parse(spec, tz);
      if (schedule.isOk()) {
        int64_t now = 1764340000LL * 1000000;
        auto next = schedule->nextAfter(now);
        (void)schedule->latestDue(now - 86400LL * 1000000, next ? *next : now);
      }
      break;
    }
    case 2:
      (void)gust::events::kafka::batchItemFailures(input);
      break;
    default: {
      auto json = nlohmann::json::parse(input, nullptr, false);
      auto config = gust::events::kafka::kafkaConfigFromJson(json);
      if (config.isOk()) (void)gust::events::kafka::kafkaConfigFromJson(gust::events::kafka::toJson(*config));
      break;
    }
  }
  return 0;
}
