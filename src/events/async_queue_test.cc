#include "events/async_queue.h"

#include <gtest/gtest.h>

namespace gust::events {
namespace {

constexpr int64_t kSecond = 1000000;

store::AsyncInvocationRecord queued(int64_t max_retries = 2, int64_t max_age_s = 3600) {
  store::AsyncInvocationRecord r;
  r.id = "a1";
  r.payload = "{}";
  r.max_retries = max_retries;
  r.max_event_age_s = max_age_s;
  r.received_at_us = 1000 * kSecond;
  r.state = "running";
  return r;
}

AttemptOutcome failed(std::string error = "boom") { return {false, false, "error", std::move(error)}; }

TEST(RetryDelay, DoublesFromTheBaseUpToTheCap) {
  AsyncOptions options;
  options.retry_base = std::chrono::milliseconds(1000);
  options.retry_cap = std::chrono::milliseconds(5000);
  EXPECT_EQ(retryDelay(1, options).count(), 1000);
  EXPECT_EQ(retryDelay(2, options).count(), 2000);
  EXPECT_EQ(retryDelay(3, options).count(), 4000);
  EXPECT_EQ(retryDelay(4, options).count(), 5000);
  EXPECT_EQ(retryDelay(60, options).count(), 5000);
}

TEST(AfterAttempt, SuccessFinishesAndDropsThePayload) {
  auto r = afterAttempt(queued(), {true, false, "success", ""}, 1001 * kSecond, {});
  EXPECT_EQ(r.state, "succeeded");
  EXPECT_EQ(r.attempts, 1);
  EXPECT_TRUE(r.payload.empty());
  EXPECT_EQ(r.finished_at_us, 1001 * kSecond);
}

TEST(AfterAttempt, FailureIsRetriedWithBackoffThenDeadLettered) {
  AsyncOptions options;
  auto r = afterAttempt(queued(2), failed(), 1001 * kSecond, options);
  EXPECT_EQ(r.state, "queued");
  EXPECT_EQ(r.attempts, 1);
  EXPECT_EQ(r.next_attempt_at_us, 1002 * kSecond);  // base 1 s
  r = afterAttempt(r, failed(), 1003 * kSecond, options);
  EXPECT_EQ(r.state, "queued");
  EXPECT_EQ(r.next_attempt_at_us, 1005 * kSecond);  // then 2 s
  r = afterAttempt(r, failed("third"), 1006 * kSecond, options);
  EXPECT_EQ(r.state, "dead");
  EXPECT_EQ(r.attempts, 3);  // the first try and max_retries = 2 retries
  EXPECT_EQ(r.dead_reason, "retries_exhausted");
  EXPECT_EQ(r.last_error, "third");
  EXPECT_EQ(r.payload, "{}");  // kept for a replay
}

TEST(AfterAttempt, NoRetriesMeansOneAttempt) {
  auto r = afterAttempt(queued(0), failed(), 1001 * kSecond, {});
  EXPECT_EQ(r.state, "dead");
  EXPECT_EQ(r.attempts, 1);
}

TEST(AfterAttempt, ARetryPastMaxEventAgeGoesToTheDeadLettersNow) {
  auto r = afterAttempt(queued(5, 2), failed(), 1001 * kSecond + 500000, {});
  EXPECT_EQ(r.state, "dead");  // the retry would start at 1002.5 s, past 1000 + 2 s
  EXPECT_EQ(r.dead_reason, "max_event_age");
}

TEST(AfterAttempt, ThrottledIsNotAnAttemptAndWaits) {
  AsyncOptions options;
  auto r = afterAttempt(queued(), {false, true, "throttled", "no capacity"}, 1001 * kSecond, options);
  EXPECT_EQ(r.state, "queued");
  EXPECT_EQ(r.attempts, 0);
  EXPECT_EQ(r.next_attempt_at_us, 1002 * kSecond);
}

}  // namespace
}  // namespace gust::events
