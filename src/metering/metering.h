#pragma once
// The meter's arithmetic: billed duration, GB-seconds and cost. The meter runs while the
// function runs — from dispatch to an instance until its reply — never while it queues.

#include <cstdint>
#include <string>

#include "common/status.h"
#include "store/store.h"

namespace gust::metering {

// ceil((finished - dispatched) / 1 ms); an activation that ran at all bills at least 1 ms.
int64_t billedMs(int64_t dispatched_at_us, int64_t finished_at_us);

// memory_mb x billed_ms in GB-seconds (1 GB = 1024 MB, as Lambda counts).
double gbSeconds(int64_t mb_ms);

// Prices per unit, in the currency of the operator's choosing. Defaults are Lambda's x86
// on-demand list prices and free tier.
struct PriceTable {
  double per_gb_s = 0.0000166667;
  double per_million_requests = 0.20;
  double per_cpu_s = 0.0;
  double free_gb_s = 400000;
  double free_requests = 1000000;
};

// Reads the [prices] table of the server config (keys as in PriceTable); unknown keys and
// negative prices are errors naming the line.
Result<PriceTable> parsePriceTable(std::string_view toml_text);

struct Cost {
  double compute = 0;   // GB-s
  double requests = 0;
  double cpu = 0;
  double total() const { return compute + requests + cpu; }
};

// The cost of `usage`; with `apply_free_tier` the free GB-s and requests are deducted first.
Cost costOf(const store::UsageRow& usage, const PriceTable& prices, bool apply_free_tier);

}  // namespace gust::metering
