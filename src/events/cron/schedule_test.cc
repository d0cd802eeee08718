#include "events/cron/schedule.h"

#include <ctime>

#include <gtest/gtest.h>

namespace gust::events::cron {
namespace {

// "2026-11-28T10:07:00Z" -> microseconds.
int64_t at(const char* text) {
  std::tm tm{};
  strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
  return static_cast<int64_t>(timegm(&tm)) * 1000000;
}

Schedule parse(const char* spec, const char* tz = "UTC") {
  auto schedule = Schedule::parse(spec, tz);
  EXPECT_TRUE(schedule.isOk()) << spec << ": " << schedule.status().message();
  return *schedule;
}

TEST(Schedule, EveryFiveMinutesFiresOnTheNextMultipleOfFive) {
  auto s = parse("*/5 * * * *");
  EXPECT_EQ(*s.nextAfter(at("2026-11-28T10:07:13")), at("2026-11-28T10:10:00"));
  EXPECT_EQ(*s.nextAfter(at("2026-11-28T10:10:00")), at("2026-11-28T10:15:00"));
  EXPECT_EQ(*s.nextAfter(at("2026-11-28T23:58:00")), at("2026-11-29T00:00:00"));
}

TEST(Schedule, HoursListsRangesAndNames) {
  auto s = parse("30 9-17/4 * * MON-FRI");  // 09:30, 13:30, 17:30 on weekdays
  // 2026-11-28 is a Saturday: the next is Monday 09:30.
  EXPECT_EQ(*s.nextAfter(at("2026-11-28T10:00:00")), at("2026-11-30T09:30:00"));
  EXPECT_EQ(*s.nextAfter(at("2026-11-30T09:30:00")), at("2026-11-30T13:30:00"));
  EXPECT_EQ(*s.nextAfter(at("2026-11-30T17:30:00")), at("2026-12-01T09:30:00"));
}

TEST(Schedule, DayOfMonthOrDayOfWeekWhenBothAreRestricted) {
  auto s = parse("0 0 1 * sun");  // the 1st, and every Sunday
  EXPECT_EQ(*s.nextAfter(at("2026-11-28T12:00:00")), at("2026-11-29T00:00:00"));  // a Sunday
  EXPECT_EQ(*s.nextAfter(at("2026-11-29T00:00:00")), at("2026-12-01T00:00:00"));  // the 1st
}

TEST(Schedule, SundayIsZeroOrSeven) {
  EXPECT_EQ(*parse("0 12 * * 7").nextAfter(at("2026-11-28T00:00:00")), at("2026-11-29T12:00:00"));
}

TEST(Schedule, LeapDayFiresOnlyInLeapYears) {
  EXPECT_EQ(*parse("0 0 29 feb *").nextAfter(at("2026-11-28T00:00:00")), at("2028-02-29T00:00:00"));
}

TEST(Schedule, MacrosExpand) {
  EXPECT_EQ(*parse("@hourly").nextAfter(at("2026-11-28T10:07:00")), at("2026-11-28T11:00:00"));
  EXPECT_EQ(*parse("@daily").nextAfter(at("2026-11-28T10:07:00")), at("2026-11-29T00:00:00"));
  EXPECT_EQ(*parse("@monthly").nextAfter(at("2026-11-28T10:07:00")), at("2026-12-01T00:00:00"));
  EXPECT_EQ(*parse("@weekly").nextAfter(at("2026-11-28T10:07:00")), at("2026-11-29T00:00:00"));
}

TEST(Schedule, TimeZoneShiftsTheWallClock) {
  // 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer.
  auto s = parse("0 9 * * *", "Europe/Berlin");
  EXPECT_EQ(*s.nextAfter(at("2026-11-28T10:00:00")), at("2026-11-29T08:00:00"));
  EXPECT_EQ(*s.nextAfter(at("2026-07-01T10:00:00")), at("2026-07-02T07:00:00"));
}

TEST(Schedule, ATimeThatDaylightSavingSkipsDoesNotFireThatDay) {
  // Berlin jumps from 02:00 to 03:00 on 2026-03-29.
  auto s = parse("30 2 * * *", "Europe/Berlin");
  EXPECT_EQ(*s.nextAfter(at("2026-03-28T02:00:00")), at("2026-03-30T00:30:00"));
}

TEST(Schedule, EveryIsAlignedToTheEpoch) {
  auto s = parse("@every 30s");
  EXPECT_EQ(s.periodSeconds(), 30);
  EXPECT_EQ(*s.nextAfter(at("2026-11-28T10:07:13")), at("2026-11-28T10:07:30"));
  EXPECT_EQ(*s.nextAfter(at("2026-11-28T10:07:30")), at("2026-11-28T10:08:00"));
  EXPECT_EQ(parse("@every 1h30m").periodSeconds(), 5400);
  EXPECT_EQ(*parse("@every 1s").nextAfter(at("2026-11-28T10:07:13") + 1), at("2026-11-28T10:07:14"));
}

TEST(Schedule, LatestDueIsTheNewestSlotNotYetFired) {
  auto s = parse("*/5 * * * *");
  EXPECT_EQ(s.latestDue(at("2026-11-28T10:00:00"), at("2026-11-28T10:04:59")), std::nullopt);
  EXPECT_EQ(*s.latestDue(at("2026-11-28T10:00:00"), at("2026-11-28T10:05:00")), at("2026-11-28T10:05:00"));
  EXPECT_EQ(*s.latestDue(at("2026-11-20T10:00:00"), at("2026-11-28T10:17:00")), at("2026-11-28T10:15:00"));
  auto every = parse("@every 10s");
  EXPECT_EQ(*every.latestDue(at("2026-11-28T10:00:00"), at("2026-11-28T10:00:35")), at("2026-11-28T10:00:30"));
  EXPECT_EQ(every.latestDue(at("2026-11-28T10:00:30"), at("2026-11-28T10:00:35")), std::nullopt);
}

TEST(Schedule, BadSpecsSayWhatIsWrong) {
  auto message = [](const char* spec, const char* tz = "UTC") {
    auto s = Schedule::parse(spec, tz);
    EXPECT_FALSE(s.isOk()) << spec;
    return s.isOk() ? std::string() : s.status().message();
  };
  EXPECT_NE(message("* * * *").find("5 fields"), std::string::npos);
  EXPECT_NE(message("61 * * * *").find("minute"), std::string::npos);
  EXPECT_NE(message("* 24 * * *").find("hour"), std::string::npos);
  EXPECT_NE(message("*/0 * * * *").find("step"), std::string::npos);
  EXPECT_NE(message("* * * foo *").find("month"), std::string::npos);
  EXPECT_NE(message("0 0 31 2 *").find("never fires"), std::string::npos);
  EXPECT_NE(message("@every 0s").find("period"), std::string::npos);
  EXPECT_NE(message("@every 5x").find("unit"), std::string::npos);
  EXPECT_NE(message("@every").find("duration"), std::string::npos);
  EXPECT_NE(message("@sometimes").find("unknown schedule"), std::string::npos);
  EXPECT_NE(message("0 9 * * *", "Mars/Olympus").find("unknown time zone"), std::string::npos);
}

}  // namespace
}  // namespace gust::events::cron
