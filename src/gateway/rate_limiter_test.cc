#include "gateway/rate_limiter.h"

#include <gtest/gtest.h>

namespace gust::gateway {
namespace {

constexpr int64_t kSecond = 1000000;

TEST(Rate, Parses) {
  auto rate = parseRate("100/s", 200);
  ASSERT_TRUE(rate.isOk());
  EXPECT_DOUBLE_EQ(rate->per_second, 100);
  EXPECT_EQ(rate->capacity(), 200);
  EXPECT_DOUBLE_EQ(parseRate("60/m")->per_second, 1);
  EXPECT_EQ(parseRate("60/m")->capacity(), 60);
  EXPECT_EQ(parseRate("3/m")->capacity(), 3);
  EXPECT_EQ(formatRate(*parseRate("6000/m")), "100/s");
  EXPECT_EQ(formatRate(*parseRate("5/m")), "5/m");
  EXPECT_FALSE(parseRate("100").isOk());
  EXPECT_FALSE(parseRate("0/s").isOk());
  EXPECT_FALSE(parseRate("10/day").isOk());
  EXPECT_FALSE(parseRate("x/s").isOk());
}

TEST(TokenBucket, BurstThenRefillAtTheRate) {
  TokenBucket bucket(RateSpec{10, 5}, 0);
  for (int i = 0; i < 5; ++i) {
    auto decision = bucket.take(0);
    EXPECT_TRUE(decision.allowed);
    EXPECT_EQ(decision.remaining, 4 - i);
    EXPECT_EQ(decision.limit, 5);
  }
  auto refused = bucket.take(0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.remaining, 0);
  EXPECT_EQ(refused.retry_after_s, 1);
  EXPECT_EQ(refused.reset_s, 1);  // 5 tokens at 10/s
  // 100 ms later exactly one token is back.
  EXPECT_TRUE(bucket.take(kSecond / 10).allowed);
  EXPECT_FALSE(bucket.take(kSecond / 10).allowed);
  // Never more than the burst, however long it rests.
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(bucket.take(100 * kSecond).allowed);
  EXPECT_FALSE(bucket.take(100 * kSecond).allowed);
}

TEST(TokenBucket, SlowRatesSayHowLongToWait) {
  TokenBucket bucket(*parseRate("2/m"), 0);  // capacity 2, one token per 30 s
  EXPECT_TRUE(bucket.take(0).allowed);
  EXPECT_TRUE(bucket.take(0).allowed);
  auto refused = bucket.take(0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_s, 30);
  EXPECT_EQ(bucket.take(29 * kSecond).retry_after_s, 1);
  EXPECT_TRUE(bucket.take(30 * kSecond).allowed);
}

TEST(RateLimiter, BucketsAreIndependentAndForgettable) {
  RateLimiter limiter;
  RateSpec one{1, 1};
  EXPECT_TRUE(limiter.take("key:a", one, 0).allowed);
  EXPECT_FALSE(limiter.take("key:a", one, 0).allowed);
  EXPECT_TRUE(limiter.take("key:b", one, 0).allowed);
  limiter.forget("key:a");
  EXPECT_TRUE(limiter.take("key:a", one, 0).allowed);
}

TEST(Quota, ParsesAndFindsPeriods) {
  auto quota = parseQuota("10000/day");
  ASSERT_TRUE(quota.isOk());
  EXPECT_EQ(quota->limit, 10000);
  EXPECT_EQ(quota->period, "day");
  EXPECT_EQ(parseQuota("5/month")->period, "month");
  EXPECT_FALSE(parseQuota("5/week").isOk());
  EXPECT_FALSE(parseQuota("-5/day").isOk());
  // 2026-11-28T13:00:00Z
  int64_t now = 1795870800LL * kSecond;
  EXPECT_EQ(quotaPeriodStart("day", now), 1795824000LL * kSecond);
  EXPECT_EQ(quotaPeriodEnd("day", now), 1795910400LL * kSecond);
  EXPECT_EQ(quotaPeriodStart("month", now), 1793491200LL * kSecond);  // 2026-11-01
  EXPECT_EQ(quotaPeriodEnd("month", now), 1796083200LL * kSecond);    // 2026-12-01
}

}  // namespace
}  // namespace gust::gateway
