#include "auth/failure_limiter.h"

#include <gtest/gtest.h>

namespace gust::auth {
namespace {

using std::chrono::seconds;

TEST(FailureLimiterTest, AllowsTheBurstThenAsksToRetryLater) {
  FailureLimiter limiter({.burst = 3, .per_minute = 10});
  auto now = FailureLimiter::Clock::now();
  EXPECT_EQ(limiter.recordFailure("1.2.3.4", now), 0);
  EXPECT_EQ(limiter.recordFailure("1.2.3.4", now), 0);
  EXPECT_EQ(limiter.recordFailure("1.2.3.4", now), 0);
  EXPECT_EQ(limiter.recordFailure("1.2.3.4", now), 6);  // one failure per 6 s refills
}

TEST(FailureLimiterTest, RefillsAtTheRate) {
  FailureLimiter limiter({.burst = 1, .per_minute = 10});
  auto now = FailureLimiter::Clock::now();
  EXPECT_EQ(limiter.recordFailure("a", now), 0);
  EXPECT_GT(limiter.recordFailure("a", now + seconds(3)), 0);
  EXPECT_EQ(limiter.recordFailure("a", now + seconds(9)), 0);
}

TEST(FailureLimiterTest, AddressesHaveTheirOwnBuckets) {
  FailureLimiter limiter({.burst = 1, .per_minute = 1});
  auto now = FailureLimiter::Clock::now();
  EXPECT_EQ(limiter.recordFailure("a", now), 0);
  EXPECT_GT(limiter.recordFailure("a", now), 0);
  EXPECT_EQ(limiter.recordFailure("b", now), 0);
}

TEST(FailureLimiterTest, ForgetsRefilledAddressesWhenFull) {
  FailureLimiter limiter({.burst = 1, .per_minute = 60, .max_addresses = 2});
  auto now = FailureLimiter::Clock::now();
  EXPECT_EQ(limiter.recordFailure("a", now), 0);
  EXPECT_EQ(limiter.recordFailure("b", now), 0);
  // Both refill after a second; a third address evicts them rather than growing without bound.
  EXPECT_EQ(limiter.recordFailure("c", now + seconds(2)), 0);
  EXPECT_GT(limiter.recordFailure("c", now + seconds(2)), 0);
}

}  // namespace
}  // namespace gust::auth
