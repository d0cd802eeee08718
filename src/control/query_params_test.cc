#include "control/query_params.h"

#include <string>

#include <gtest/gtest.h>

namespace gust::control {
namespace {

constexpr int64_t kNowUs = 1795000000LL * 1000000;  // 2026-11-18
constexpr int64_t kSecondUs = 1000000;

TEST(QueryParams, ReadsDurationsInEachUnit) {
  EXPECT_EQ(parseDurationSeconds("90s"), 90);
  EXPECT_EQ(parseDurationSeconds("30m"), 1800);
  EXPECT_EQ(parseDurationSeconds("24h"), 86400);
  EXPECT_EQ(parseDurationSeconds("7d"), 7 * 86400);
  EXPECT_EQ(parseDurationSeconds("0h"), 0);
  EXPECT_EQ(parseDurationSeconds("36500d"), kMaxDurationSeconds);
}

TEST(QueryParams, RefusesDurationsThatOverflowOrAreNegative) {
  for (const char* text :
       {"99999999999h", "36501d", "876001h", "99999999999999999999h", "9223372036854775807s", "-1h",
        "+1h", "1.5h", "h", "1", "1y", "1 h", " 1h", "1h ", ""}) {
    EXPECT_FALSE(parseDurationSeconds(text)) << "'" << text << "'";
    EXPECT_FALSE(parseTimeBound(text, kNowUs)) << "'" << text << "'";
  }
}

TEST(QueryParams, ADurationCountsBackFromNowButNotBeforeTheEpoch) {
  EXPECT_EQ(parseTimeBound("1h", kNowUs), kNowUs - 3600 * kSecondUs);
  EXPECT_EQ(parseTimeBound("36500d", kNowUs), 0);
}

TEST(QueryParams, ReadsUtcTimes) {
  EXPECT_EQ(parseTimeBound("1970-01-01", kNowUs), 0);
  EXPECT_EQ(parseTimeBound("2026-11-28T15:00:00Z", kNowUs), 1795878000LL * kSecondUs);
  EXPECT_EQ(parseTimeBound("2026-11-28T15:00Z", kNowUs), 1795878000LL * kSecondUs);
  EXPECT_EQ(parseTimeBound("9999-12-31T23:59:59Z", kNowUs), 253402300799LL * kSecondUs);
}

TEST(QueryParams, RefusesMalformedTimes) {
  for (const char* text : {"1969-12-31T23:59:59Z", " 2026-11-28", "2026-11-28T15:00:00+01:00",
                           "2026-11-28T15:00:00.5Z", "2026-13-01", "10000-01-01", "yesterday"}) {
    EXPECT_FALSE(parseTimeBound(text, kNowUs)) << text;
  }
  EXPECT_FALSE(parseTimeBound(std::string("2026-11-28\0junk", 15), kNowUs));
}

TEST(QueryParams, ARefusedTimeNamesTheParameterAndTheRange) {
  auto refused = timeBoundParam("since", "99999999999h", kNowUs);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.status().code(), Code::InvalidArgument);
  const std::string& message = refused.status().message();
  EXPECT_EQ(message.rfind("since must be", 0), 0u) << message;
  EXPECT_NE(message.find("36500d"), std::string::npos) << message;
  EXPECT_NE(message.find("'99999999999h'"), std::string::npos) << message;
}

TEST(QueryParams, AQuotedValueIsShortened) {
  auto refused = timeBoundParam("until", std::string(10000, '9') + "h", kNowUs);
  ASSERT_FALSE(refused);
  EXPECT_LT(refused.status().message().size(), 300u);
}

TEST(QueryParams, IntegersAreReadWholeAndInRange) {
  EXPECT_EQ(integerParam("limit", "1", 1, 1000).value(), 1);
  EXPECT_EQ(integerParam("limit", "1000", 1, 1000).value(), 1000);
  for (const char* text : {"0", "1001", "-1", "1e3", "10 ", "", "99999999999999999999", "0x10"}) {
    auto refused = integerParam("limit", text, 1, 1000);
    ASSERT_FALSE(refused) << text;
    EXPECT_NE(refused.status().message().find("limit must be an integer from 1 to 1000"),
              std::string::npos)
        << refused.status().message();
  }
}

}  // namespace
}  // namespace gust::control
