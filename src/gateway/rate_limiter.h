#pragma once
// Rate limits and quotas. A TokenBucket holds up to `burst` tokens and gains `rate` per second;
// a request takes one. RateLimiter keeps one bucket per name ("key:<id>", "route:<id>") and is
// thread-safe (one mutex: a take is a few arithmetic operations). Buckets live in memory: a
// restart refills them, which only ever lets a client through sooner. Quotas (requests per day
// or month) are different — they are money — and are counted by the gateway in the store.

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/status.h"

namespace gust::gateway {

struct RateSpec {
  double per_second = 0;  // 0: unlimited
  int64_t burst = 0;      // bucket size; parseRate makes it the rate's count when not given
  bool limited() const { return per_second > 0; }
  int64_t capacity() const;
};

// "100/s", "6000/m", "10/h" (with an optional burst; default: the count, so "3/m" allows three
// at once): the forms `--rate` takes.
Result<RateSpec> parseRate(std::string_view text, int64_t burst = 0);
std::string formatRate(const RateSpec& spec);

// What a take reports, for the IETF RateLimit-* headers and Retry-After.
struct RateDecision {
  bool allowed = true;
  int64_t limit = 0;        // the bucket's capacity
  int64_t remaining = 0;    // whole tokens left after this request
  int64_t reset_s = 0;      // seconds until the bucket is full again
  int64_t retry_after_s = 0;  // when refused: seconds until one token is back (>= 1)
};

class TokenBucket final {
 public:
  TokenBucket(RateSpec spec, int64_t now_us);
  RateDecision take(int64_t now_us);
  // The spec changed (a route or key was edited): keep the tokens, clamp to the new size.
  void reconfigure(RateSpec spec);

 private:
  void refill(int64_t now_us);
  RateSpec spec_;
  double tokens_;
  int64_t updated_us_;
};

class RateLimiter final {
 public:
  RateDecision take(const std::string& bucket, const RateSpec& spec, int64_t now_us);
  void forget(std::string_view bucket_prefix);

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, TokenBucket> buckets_;  // GUARDED_BY(mutex_)
};

// Quotas: "10000/day", "500000/month".
struct QuotaSpec {
  int64_t limit = 0;  // 0: none
  std::string period;  // "day" | "month"
};
Result<QuotaSpec> parseQuota(std::string_view text);
// The UTC start of the period containing `now_us`, and the next one's.
int64_t quotaPeriodStart(const std::string& period, int64_t now_us);
int64_t quotaPeriodEnd(const std::string& period, int64_t now_us);

}  // namespace gust::gateway
