// DESIGN: cron fields parse into bitsets; nextAfter() walks forward over UTC minutes, reading
// each one's local wall time through ICU's zone data (Debian's libicu: no hand-kept tz rules).
// When the month, day or hour does not match, it jumps to the next local boundary (its UTC
// instant found under the offsets on both sides, taking the earlier, so a DST shift can never
// make it skip a matching minute); minutes are stepped one by one. A local time that a DST gap removes never fires
// that day; one that a DST overlap repeats fires at both instants, as Vixie cron's does.

#include "events/cron/schedule.h"

#include <unicode/timezone.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <bitset>
#include <cctype>
#include <charconv>
#include <vector>

#include <fmt/format.h>

namespace gust::events::cron {

struct Schedule::Fields {
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days;    // 1..31
  std::bitset<13> months;  // 1..12
  std::bitset<7> weekdays; // 0 = Sunday
  bool any_day = false;     // the day-of-month field was '*'
  bool any_weekday = false; // the day-of-week field was '*'
};

namespace {

constexpr int64_t kMinuteUs = 60LL * 1000000;
constexpr int64_t kHorizonSeconds = 5LL * 366 * 86400;

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<int> number(std::string_view text, const std::vector<std::string_view>& names,
                          int name_base) {
  int value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc() && ptr == text.data() + text.size()) return value;
  std::string name = lower(text);
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (name == names[i]) return static_cast<int>(i) + name_base;
  }
  return std::nullopt;
}

// One field: comma-separated items of "*", "N", "N-M", each optionally "/STEP".
template <std::size_t N>
Status parseField(std::string_view text, std::string_view what, int min, int max,
                  const std::vector<std::string_view>& names, int name_base, std::bitset<N>& out,
                  bool& any) {
  any = text == "*";
  auto bad = [&](std::string_view detail) {
    return invalidArgument(fmt::format("cron {} field '{}': {} (allowed: {}-{}, '*', lists "
                                       "'a,b', ranges 'a-b', steps '*/n')",
                                       what, text, detail, min, max));
  };
  std::size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view item = text.substr(start, comma - start);
    start = comma + 1;
    if (item.empty()) return bad("empty item");
    int step = 1;
    if (auto slash = item.find('/'); slash != std::string_view::npos) {
      auto s = number(item.substr(slash + 1), {}, 0);
      if (!s || *s < 1) return bad("a step must be a positive number");
      step = *s;
      item = item.substr(0, slash);
    }
    int lo = min, hi = max;
    if (item != "*") {
      auto dash = item.find('-');
      auto a = number(item.substr(0, dash), names, name_base);
      if (!a) return bad(fmt::format("'{}' is not a number", item.substr(0, dash)));
      lo = hi = *a;
      if (dash != std::string_view::npos) {
        auto b = number(item.substr(dash + 1), names, name_base);
        if (!b) return bad(fmt::format("'{}' is not a number", item.substr(dash + 1)));
        hi = *b;
      } else if (step > 1) {
        hi = max;  // "5/15" = "5-max/15"
      }
    }
    if (lo < min || hi > max || lo > hi) return bad(fmt::format("{}-{} is out of range", lo, hi));
    for (int v = lo; v <= hi; v += step) out.set(static_cast<std::size_t>(v == 7 && N == 7 ? 0 : v));
    if (comma == text.size()) break;
  }
  return Status::ok();
}

Result<int64_t> parseEvery(std::string_view text) {
  // "30s", "5m", "1h30m": one or more NUMBER UNIT pairs.
  int64_t total = 0;
  std::size_t i = 0;
  if (text.empty()) return invalidArgument("@every needs a duration, e.g. @every 30s");
  while (i < text.size()) {
    std::size_t digits = i;
    while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
    if (digits == i || digits == text.size() || digits - i > 9) {
      return invalidArgument(fmt::format(
          "@every '{}': use a number and a unit s, m or h, e.g. 30s, 5m, 1h30m", text));
    }
    int64_t n = std::stoll(std::string(text.substr(i, digits - i)));
    char unit = text[digits];
    int64_t scale = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : 0;
    if (!scale) {
      return invalidArgument(fmt::format("@every '{}': unknown unit '{}' (s, m or h)", text, unit));
    }
    total += n * scale;
    i = digits + 1;
  }
  if (total < 1 || total > 366LL * 86400) {
    return invalidArgument(fmt::format("@every '{}': the period must be from 1s to 366 days", text));
  }
  return total;
}

// Days since 1970-01-01 -> civil date (Howard Hinnant's algorithm).
void civilFromDays(int64_t z, int& year, int& month, int& day) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  year = static_cast<int>(yoe + era * 400 + (month <= 2));
}

int daysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

int64_t floorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

}  // namespace

Result<Schedule> Schedule::parse(std::string_view spec_view, std::string_view tz) {
  Schedule schedule;
  std::string spec(spec_view);
  while (!spec.empty() && std::isspace(static_cast<unsigned char>(spec.back()))) spec.pop_back();
  while (!spec.empty() && std::isspace(static_cast<unsigned char>(spec.front()))) spec.erase(0, 1);
  schedule.spec_ = spec;
  schedule.tz_name_ = tz.empty() ? "UTC" : std::string(tz);
  if (spec.starts_with("@every")) {
    std::string rest = spec.substr(6);
    while (!rest.empty() && rest.front() == ' ') rest.erase(0, 1);
    auto period = parseEvery(rest);
    if (!period) return period.status();
    schedule.every_s_ = *period;
    return schedule;
  }
  static const std::pair<std::string_view, std::string_view> kMacros[] = {
      {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
      {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
      {"@hourly", "0 * * * *"}};
  std::string expanded = spec;
  if (spec.starts_with("@")) {
    expanded.clear();
    for (const auto& [name, fields] : kMacros) {
      if (spec == name) expanded = fields;
    }
    if (expanded.empty()) {
      return invalidArgument(fmt::format(
          "unknown schedule '{}': use five cron fields ('*/5 * * * *'), @hourly, @daily, "
          "@weekly, @monthly, @yearly or '@every 30s'",
          spec));
    }
  }
  std::vector<std::string_view> parts;
  std::string_view rest = expanded;
  while (!rest.empty()) {
    auto space = rest.find_first_of(" \t");
    if (space != 0) parts.push_back(rest.substr(0, space));
    if (space == std::string_view::npos) break;
    rest = rest.substr(space + 1);
  }
  if (parts.size() != 5) {
    return invalidArgument(fmt::format(
        "a cron schedule has 5 fields (minute hour day-of-month month day-of-week), '{}' has {}",
        spec, parts.size()));
  }
  auto fields = std::make_shared<Fields>();
  bool any = false;
  GUST_RETURN_IF_ERROR(parseField(parts[0], "minute", 0, 59, {}, 0, fields->minutes, any));
  GUST_RETURN_IF_ERROR(parseField(parts[1], "hour", 0, 23, {}, 0, fields->hours, any));
  GUST_RETURN_IF_ERROR(parseField(parts[2], "day-of-month", 1, 31, {}, 0, fields->days, fields->any_day));
  GUST_RETURN_IF_ERROR(parseField(parts[3], "month", 1, 12,
                                  {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep",
                                   "oct", "nov", "dec"},
                                  1, fields->months, any));
  GUST_RETURN_IF_ERROR(parseField(parts[4], "day-of-week", 0, 7,
                                  {"sun", "mon", "tue", "wed", "thu", "fri", "sat"}, 0,
                                  fields->weekdays, fields->any_weekday));
  schedule.fields_ = std::move(fields);
  if (schedule.tz_name_ != "UTC") {
    icu::UnicodeString id = icu::UnicodeString::fromUTF8(schedule.tz_name_);
    std::shared_ptr<icu::TimeZone> zone(icu::TimeZone::createTimeZone(id));
    icu::UnicodeString got;
    if (zone) zone->getID(got);
    if (!zone || got == icu::UnicodeString("Etc/Unknown")) {
      return invalidArgument(fmt::format(
          "unknown time zone '{}': use an IANA name like UTC, Europe/Berlin, America/New_York",
          schedule.tz_name_));
    }
    schedule.zone_ = std::static_pointer_cast<const void>(std::shared_ptr<const icu::TimeZone>(zone));
  }
  if (!schedule.nextAfter(0)) {
    return invalidArgument(fmt::format("the schedule '{}' never fires (e.g. 31 February)", spec));
  }
  return schedule;
}

int64_t Schedule::offsetSeconds(int64_t utc_s) const {
  if (!zone_) return 0;
  auto zone = static_cast<const icu::TimeZone*>(zone_.get());
  int32_t raw = 0, dst = 0;
  UErrorCode error = U_ZERO_ERROR;
  zone->getOffset(static_cast<UDate>(utc_s) * 1000.0, false, raw, dst, error);
  if (U_FAILURE(error)) return 0;
  return (static_cast<int64_t>(raw) + dst) / 1000;
}

std::optional<int64_t> Schedule::nextAfter(int64_t after_us) const {
  if (every_s_ > 0) {
    int64_t period_us = every_s_ * 1000000;
    return (floorDiv(after_us, period_us) + 1) * period_us;
  }
  const Fields& f = *fields_;
  int64_t t = floorDiv(after_us, kMinuteUs) * 60 + 60;  // seconds, on a minute
  const int64_t horizon = t + kHorizonSeconds;
  while (t < horizon) {
    int64_t local = t + offsetSeconds(t);
    int64_t days = floorDiv(local, 86400);
    int64_t minute_of_day = (local - days * 86400) / 60;
    int year = 0, month = 0, day = 0;
    civilFromDays(days, year, month, day);
    int weekday = static_cast<int>((days % 7 + 11) % 7);  // 1970-01-01 was a Thursday
    // Jumps to the first instant at or after the local time `local_target` (seconds): the UTC
    // guess under the current offset, corrected once under the offset there, the earlier of
    // the two, so a DST change between here and there can not make it overshoot.
    auto jumpTo = [&](int64_t local_target) {
      int64_t a = local_target - offsetSeconds(t);
      int64_t b = local_target - offsetSeconds(a);
      int64_t next = std::min(a, b);
      next -= next % 60;
      t = next > t ? next : t + 60;
    };
    if (!f.months.test(static_cast<std::size_t>(month))) {
      jumpTo((days + daysInMonth(year, month) - day + 1) * 86400);
      continue;
    }
    bool day_match = f.days.test(static_cast<std::size_t>(day));
    bool weekday_match = f.weekdays.test(static_cast<std::size_t>(weekday));
    // Vixie cron: when both day fields are restricted, either may match.
    bool day_ok = f.any_day && f.any_weekday ? true
                  : f.any_day               ? weekday_match
                  : f.any_weekday           ? day_match
                                            : day_match || weekday_match;
    if (!day_ok) {
      jumpTo((days + 1) * 86400);
      continue;
    }
    if (!f.hours.test(static_cast<std::size_t>(minute_of_day / 60))) {
      jumpTo(days * 86400 + (minute_of_day / 60 + 1) * 3600);
      continue;
    }
    if (!f.minutes.test(static_cast<std::size_t>(minute_of_day % 60))) {
      t += 60;
      continue;
    }
    return t * 1000000;
  }
  return std::nullopt;
}

std::optional<int64_t> Schedule::latestDue(int64_t after_us, int64_t now_us) const {
  if (every_s_ > 0) {
    int64_t period_us = every_s_ * 1000000;
    int64_t latest = floorDiv(now_us, period_us) * period_us;
    if (latest <= after_us) return std::nullopt;
    return latest;
  }
  // Walk from the later of `after_us` and a week back: a slot older than that is reached
  // only when no slot fell in the last week, and then the walk from `after_us` is short.
  constexpr int64_t kWeekUs = 7LL * 86400 * 1000000;
  for (int64_t from : {std::max(after_us, now_us - kWeekUs), after_us}) {
    std::optional<int64_t> latest;
    for (auto next = nextAfter(from); next && *next <= now_us; next = nextAfter(*next)) latest = next;
    if (latest || from == after_us) return latest;
  }
  return std::nullopt;
}

}  // namespace gust::events::cron
