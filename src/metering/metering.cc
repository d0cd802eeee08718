#include "metering/metering.h"

#include <algorithm>

#include <fmt/format.h>
#include <toml++/toml.h>

namespace gust::metering {

int64_t billedMs(int64_t dispatched_at_us, int64_t finished_at_us) {
  int64_t us = finished_at_us - dispatched_at_us;
  if (us <= 0) return 0;
  return (us + 999) / 1000;
}

double gbSeconds(int64_t mb_ms) { return static_cast<double>(mb_ms) / 1024.0 / 1000.0; }

Result<PriceTable> parsePriceTable(std::string_view toml_text) {
  PriceTable prices;
  toml::table root;
  try {
    root = toml::parse(toml_text, std::string_view("server config"));
  } catch (const toml::parse_error& error) {
    return invalidArgument(fmt::format("server config:{}: {}", error.source().begin.line,
                                       error.description()));
  }
  for (auto&& [key, node] : root) {
    if (key != "prices") {
      return invalidArgument(fmt::format("server config:{}: unknown setting '{}' (known: [prices])",
                                         key.source().begin.line, key.str()));
    }
  }
  const toml::table* table = root["prices"].as_table();
  if (!table) return prices;
  for (auto&& [key, node] : *table) {
    double* field = key == "per_gb_s"               ? &prices.per_gb_s
                    : key == "per_million_requests" ? &prices.per_million_requests
                    : key == "per_cpu_s"            ? &prices.per_cpu_s
                    : key == "free_gb_s"            ? &prices.free_gb_s
                    : key == "free_requests"        ? &prices.free_requests
                                                    : nullptr;
    if (!field) {
      return invalidArgument(fmt::format(
          "server config:{}: unknown price '{}' (known: per_gb_s, per_million_requests, "
          "per_cpu_s, free_gb_s, free_requests)",
          key.source().begin.line, key.str()));
    }
    auto value = node.value<double>();
    if (!value || *value < 0) {
      return invalidArgument(fmt::format("server config:{}: prices.{} must be a number >= 0",
                                         node.source().begin.line, key.str()));
    }
    *field = *value;
  }
  return prices;
}

Cost costOf(const store::UsageRow& usage, const PriceTable& prices, bool apply_free_tier) {
  double gb_s = gbSeconds(usage.mb_ms);
  double requests = static_cast<double>(usage.invocations);
  if (apply_free_tier) {
    gb_s = std::max(0.0, gb_s - prices.free_gb_s);
    requests = std::max(0.0, requests - prices.free_requests);
  }
  Cost cost;
  cost.compute = gb_s * prices.per_gb_s;
  cost.requests = requests / 1e6 * prices.per_million_requests;
  cost.cpu = static_cast<double>(usage.cpu_user_us + usage.cpu_sys_us) / 1e6 * prices.per_cpu_s;
  return cost;
}

}  // namespace gust::metering
