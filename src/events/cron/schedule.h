#pragma once
// Schedule: when a cron trigger fires. Two forms: five cron fields ("*/5 * * * *", with names
// for months and weekdays, lists, ranges and steps, and @hourly/@daily/@weekly/@monthly/
// @yearly), evaluated in an IANA time zone; and "@every 30s" (s, m, h, combined as in "1m30s"),
// whose slots are whole multiples of the period since the Unix epoch, so they do not depend on
// when the trigger or the server started. Slots are instants (UTC microseconds). Immutable once
// parsed; const methods may be called from any thread.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace gust::events::cron {

class Schedule final {
 public:
  // `tz` is an IANA zone name ("UTC", "Europe/Berlin"); ignored by @every.
  static Result<Schedule> parse(std::string_view spec, std::string_view tz = "UTC");

  // The first slot strictly after `after_us`; nullopt when none comes within five years.
  std::optional<int64_t> nextAfter(int64_t after_us) const;
  // The latest slot in (after_us, now_us], or nullopt when none is due.
  std::optional<int64_t> latestDue(int64_t after_us, int64_t now_us) const;

  const std::string& spec() const { return spec_; }
  const std::string& timeZone() const { return tz_name_; }
  int64_t periodSeconds() const { return every_s_; }  // 0 for cron fields

  struct Fields;  // the parsed cron fields (bitsets)

 private:
  Schedule() = default;
  int64_t offsetSeconds(int64_t utc_s) const;

  std::string spec_;
  std::string tz_name_;
  int64_t every_s_ = 0;
  std::shared_ptr<const Fields> fields_;
  std::shared_ptr<const void> zone_;  // an icu::TimeZone, when not UTC
};

}  // namespace gust::events::cron
