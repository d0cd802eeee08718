#include "os/activation_meter.h"

#include <algorithm>

#include <gtest/gtest.h>

namespace gust::os {
namespace {

// Counters a test sets by hand; `gone` is a process whose counters can no longer be read.
struct Counters {
  ProcessUsage usage;
  bool gone = false;
  int resets = 0;
};

class FakeUsageMeter final : public UsageMeter {
 public:
  explicit FakeUsageMeter(Counters& counters) : counters_(counters) {}
  Result<ProcessUsage> read() override {
    if (counters_.gone) return notFound("gone");
    return counters_.usage;
  }
  Status resetPeak() override {
    ++counters_.resets;
    counters_.usage.peak_rss_bytes = 0;
    return Status::ok();
  }

 private:
  Counters& counters_;
};

// `cpu_ms` of CPU, all of it user time (the ticks say so).
void run(Counters& counters, int64_t cpu_ms, int64_t peak_bytes) {
  counters.usage.cpu_ns += cpu_ms * 1'000'000;
  counters.usage.user_ticks += cpu_ms;
  counters.usage.peak_rss_bytes = std::max(counters.usage.peak_rss_bytes, peak_bytes);
}

TEST(ActivationMeterTest, MetersCpuAndPeakSinceTheActivationBegan) {
  Counters counters;
  run(counters, 40, 30 << 20);  // the instance's start and earlier activations
  ActivationMeter meter(std::make_unique<FakeUsageMeter>(counters));
  auto start = meter.begin();
  EXPECT_EQ(counters.resets, 1);
  run(counters, 300, 90 << 20);
  ActivationUsage used = meter.usageSince(start);
  EXPECT_EQ(used.cpu_user_ns, 300'000'000);
  EXPECT_EQ(used.cpu_sys_ns, 0);
  EXPECT_EQ(used.peak_rss_bytes, 90 << 20);
}

TEST(ActivationMeterTest, ActivationThatEndsAfterTheProcessDiedTakesTheFinalReading) {
  Counters counters;
  ActivationMeter meter(std::make_unique<FakeUsageMeter>(counters));
  auto start = meter.begin();
  run(counters, 250, 128 << 20);  // then killed at its memory limit
  meter.takeFinalReading();
  counters.gone = true;  // the cgroup is removed, the process reaped
  ActivationUsage used = meter.usageSince(start);
  EXPECT_EQ(used.cpu_user_ns, 250'000'000);
  EXPECT_EQ(used.peak_rss_bytes, 128 << 20);
}

TEST(ActivationMeterTest, FinalReadingIsNotMovedByLaterCounters) {
  Counters counters;
  ActivationMeter meter(std::make_unique<FakeUsageMeter>(counters));
  auto start = meter.begin();
  run(counters, 100, 10 << 20);
  meter.takeFinalReading();
  run(counters, 500, 50 << 20);  // whatever the counters say later is not this activation's
  meter.takeFinalReading();
  EXPECT_EQ(meter.usageSince(start).cpu_user_ns, 100'000'000);
  EXPECT_FALSE(meter.begin().has_value()) << "nothing is metered on an instance that ended";
}

TEST(ActivationMeterTest, OverlappingActivationsCountFromTheirOwnStart) {
  Counters counters;
  ActivationMeter meter(std::make_unique<FakeUsageMeter>(counters));
  auto first = meter.begin();
  run(counters, 100, 0);
  auto second = meter.begin();
  run(counters, 50, 0);
  EXPECT_EQ(meter.usageSince(second).cpu_user_ns, 50'000'000);
  EXPECT_EQ(meter.usageSince(first).cpu_user_ns, 150'000'000);
}

TEST(ActivationMeterTest, CountersUnreadableAtTheStartMeterNothing) {
  Counters counters;
  counters.gone = true;
  ActivationMeter meter(std::make_unique<FakeUsageMeter>(counters));
  auto start = meter.begin();
  EXPECT_FALSE(start.has_value());
  counters.gone = false;
  run(counters, 100, 10 << 20);
  ActivationUsage used = meter.usageSince(start);
  EXPECT_EQ(used.cpu_user_ns + used.cpu_sys_ns + used.peak_rss_bytes, 0);
}

TEST(ActivationMeterTest, SplitsTheExactTotalByTheUserAndSystemTicks) {
  Counters counters;
  ActivationMeter meter(std::make_unique<FakeUsageMeter>(counters));
  auto start = meter.begin();
  counters.usage.cpu_ns += 400'000'000;
  counters.usage.user_ticks += 30;
  counters.usage.system_ticks += 10;
  ActivationUsage used = meter.usageSince(start);
  EXPECT_EQ(used.cpu_user_ns, 300'000'000);
  EXPECT_EQ(used.cpu_sys_ns, 100'000'000);
}

}  // namespace
}  // namespace gust::os
