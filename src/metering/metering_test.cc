#include "metering/metering.h"

#include <gtest/gtest.h>

namespace gust::metering {
namespace {

TEST(Metering, BillsCeilingMilliseconds) {
  EXPECT_EQ(billedMs(1000, 1000), 0);
  EXPECT_EQ(billedMs(1000, 1001), 1);
  EXPECT_EQ(billedMs(0, 1000), 1);
  EXPECT_EQ(billedMs(0, 1001), 2);
  EXPECT_EQ(billedMs(0, 300000), 300);
}

TEST(Metering, GbSecondsCountsGigabytesOf1024Megabytes) {
  EXPECT_DOUBLE_EQ(gbSeconds(1024 * 1000), 1.0);
  EXPECT_DOUBLE_EQ(gbSeconds(128 * 300), 0.0375);
}

TEST(Metering, CostsUsageWithAndWithoutFreeTier) {
  store::UsageRow usage;
  usage.invocations = 2000000;
  usage.mb_ms = int64_t{1024} * 1000 * 500000;  // 500,000 GB-s
  usage.cpu_user_us = 3000000;
  PriceTable prices;
  prices.per_cpu_s = 0.01;
  Cost gross = costOf(usage, prices, false);
  EXPECT_NEAR(gross.compute, 500000 * 0.0000166667, 1e-9);
  EXPECT_NEAR(gross.requests, 0.40, 1e-12);
  EXPECT_NEAR(gross.cpu, 0.03, 1e-12);
  Cost net = costOf(usage, prices, true);
  EXPECT_NEAR(net.compute, 100000 * 0.0000166667, 1e-9);
  EXPECT_NEAR(net.requests, 0.20, 1e-12);
}

TEST(Metering, ParsesPriceTableAndRejectsUnknownKeys) {
  auto prices = parsePriceTable("[prices]\nper_gb_s = 0.00002\nfree_requests = 0\n");
  ASSERT_TRUE(prices.isOk());
  EXPECT_DOUBLE_EQ(prices->per_gb_s, 0.00002);
  EXPECT_DOUBLE_EQ(prices->free_requests, 0);
  EXPECT_DOUBLE_EQ(prices->per_million_requests, 0.20);
  auto bad = parsePriceTable("[prices]\n\nper_gbs = 1\n");
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("server config:3"), std::string::npos);
  EXPECT_FALSE(parsePriceTable("[prices]\nper_gb_s = -1\n").isOk());
  auto typo = parsePriceTable("[pricez]\nper_gb_s = 1\n");
  ASSERT_FALSE(typo.isOk());
  EXPECT_NE(typo.status().message().find("server config:1: unknown setting 'pricez'"), std::string::npos)
      << typo.status().message();
}

}  // namespace
}  // namespace gust::metering
