#include "gateway/rate_limiter.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>

#include <fmt/format.h>

namespace gust::gateway {

int64_t RateSpec::capacity() const {
  if (burst > 0) return burst;
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(per_second)));
}

Result<RateSpec> parseRate(std::string_view text, int64_t burst) {
  auto bad = [&] {
    return invalidArgument(fmt::format("rate '{}' must look like 100/s, 6000/m or 10/h", text));
  };
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return bad();
  int64_t count = 0;
  auto number = text.substr(0, slash);
  auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), count);
  if (error != std::errc() || end != number.data() + number.size() || count <= 0) return bad();
  std::string_view unit = text.substr(slash + 1);
  double seconds = 0;
  if (unit == "s" || unit == "sec" || unit == "second") seconds = 1;
  else if (unit == "m" || unit == "min" || unit == "minute") seconds = 60;
  else if (unit == "h" || unit == "hour") seconds = 3600;
  else return bad();
  if (burst < 0) return invalidArgument("burst must be positive");
  // Without a burst, the bucket holds one unit's worth: "100/s" lets 100 through at once,
  // "3/m" three.
  return RateSpec{static_cast<double>(count) / seconds, burst > 0 ? burst : count};
}

std::string formatRate(const RateSpec& spec) {
  if (!spec.limited()) return "";
  if (spec.per_second >= 1 && std::floor(spec.per_second) == spec.per_second) {
    return fmt::format("{}/s", static_cast<int64_t>(spec.per_second));
  }
  double per_minute = spec.per_second * 60;
  if (std::abs(per_minute - std::round(per_minute)) < 1e-6) return fmt::format("{}/m", std::llround(per_minute));
  return fmt::format("{}/h", std::llround(spec.per_second * 3600));
}

TokenBucket::TokenBucket(RateSpec spec, int64_t now_us)
    : spec_(spec), tokens_(static_cast<double>(spec.capacity())), updated_us_(now_us) {}

void TokenBucket::refill(int64_t now_us) {
  if (now_us > updated_us_) {
    tokens_ = std::min(static_cast<double>(spec_.capacity()),
                       tokens_ + spec_.per_second * static_cast<double>(now_us - updated_us_) / 1e6);
    updated_us_ = now_us;
  }
}

void TokenBucket::reconfigure(RateSpec spec) {
  spec_ = spec;
  tokens_ = std::min(tokens_, static_cast<double>(spec_.capacity()));
}

RateDecision TokenBucket::take(int64_t now_us) {
  refill(now_us);
  RateDecision decision;
  decision.limit = spec_.capacity();
  if (tokens_ >= 1) {
    tokens_ -= 1;
  } else {
    decision.allowed = false;
    decision.retry_after_s = std::max<int64_t>(1, static_cast<int64_t>(std::ceil((1 - tokens_) / spec_.per_second - 1e-9)));
  }
  decision.remaining = static_cast<int64_t>(std::floor(tokens_));
  double missing = static_cast<double>(decision.limit) - tokens_;
  decision.reset_s = missing <= 0 ? 0 : static_cast<int64_t>(std::ceil(missing / spec_.per_second - 1e-9));
  return decision;
}

RateDecision RateLimiter::take(const std::string& bucket, const RateSpec& spec, int64_t now_us) {
  std::lock_guard lock(mutex_);
  auto it = buckets_.find(bucket);
  if (it == buckets_.end()) it = buckets_.emplace(bucket, TokenBucket(spec, now_us)).first;
  else it->second.reconfigure(spec);
  return it->second.take(now_us);
}

void RateLimiter::forget(std::string_view bucket_prefix) {
  std::lock_guard lock(mutex_);
  std::erase_if(buckets_, [&](const auto& entry) { return std::string_view(entry.first).starts_with(bucket_prefix); });
}

Result<QuotaSpec> parseQuota(std::string_view text) {
  auto bad = [&] { return invalidArgument(fmt::format("quota '{}' must look like 10000/day or 500000/month", text)); };
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return bad();
  int64_t count = 0;
  auto number = text.substr(0, slash);
  auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), count);
  if (error != std::errc() || end != number.data() + number.size() || count <= 0) return bad();
  std::string_view period = text.substr(slash + 1);
  if (period == "d") period = "day";
  if (period == "mo") period = "month";
  if (period != "day" && period != "month") return bad();
  return QuotaSpec{count, std::string(period)};
}

namespace {
int64_t utcMonthStart(int64_t now_us, int add_months) {
  time_t seconds = static_cast<time_t>(now_us / 1000000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  tm.tm_mday = 1;
  tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
  tm.tm_mon += add_months;
  return static_cast<int64_t>(timegm(&tm)) * 1000000;
}
constexpr int64_t kDayUs = 86400LL * 1000000;
}  // namespace

int64_t quotaPeriodStart(const std::string& period, int64_t now_us) {
  if (period == "month") return utcMonthStart(now_us, 0);
  return now_us - now_us % kDayUs;
}

int64_t quotaPeriodEnd(const std::string& period, int64_t now_us) {
  if (period == "month") return utcMonthStart(now_us, 1);
  return now_us - now_us % kDayUs + kDayUs;
}

}  // namespace gust::gateway
