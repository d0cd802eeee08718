#include "auth/failure_limiter.h"

#include <algorithm>
#include <cmath>

namespace gust::auth {

void FailureLimiter::refill(Bucket& bucket, Clock::time_point now) const {
  double minutes = std::chrono::duration<double>(now - bucket.updated).count() / 60.0;
  if (minutes > 0) {
    bucket.tokens = std::min(options_.burst, bucket.tokens + minutes * options_.per_minute);
    bucket.updated = now;
  }
}

int64_t FailureLimiter::recordFailure(const std::string& address, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (buckets_.size() >= options_.max_addresses && !buckets_.count(address)) {
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      refill(it->second, now);
      it = it->second.tokens >= options_.burst ? buckets_.erase(it) : std::next(it);
    }
  }
  auto [it, added] = buckets_.try_emplace(address, Bucket{options_.burst, now});
  Bucket& bucket = it->second;
  refill(bucket, now);
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return 0;
  }
  double wait_s = (1 - bucket.tokens) * 60.0 / options_.per_minute;
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(wait_s)));
}

}  // namespace gust::auth
