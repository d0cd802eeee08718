#pragma once
// FailureLimiter: a token bucket per source address that only failed authentications drain.
// An address may fail `burst` times at once and then `per_minute` times a minute; past that its
// failures are answered 429 with a Retry-After. Successful authentications never touch it.
// Owned by the ControlApi; thread-safe (one mutex; every call is a map lookup).

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace gust::auth {

class FailureLimiter final {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    double burst = 20;
    double per_minute = 10;
    std::size_t max_addresses = 10000;  // beyond this, refilled buckets are forgotten
  };

  FailureLimiter() : FailureLimiter(Options{}) {}
  explicit FailureLimiter(Options options) : options_(options) {}

  // Records one failed authentication from `address`. Returns 0 if it is within the limit,
  // else the seconds until the address may fail again (the Retry-After).
  int64_t recordFailure(const std::string& address, Clock::time_point now);

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point updated;
  };
  void refill(Bucket& bucket, Clock::time_point now) const;

  Options options_;
  std::mutex mutex_;
  std::map<std::string, Bucket> buckets_;  // GUARDED_BY(mutex_)
};

}  // namespace gust::auth
