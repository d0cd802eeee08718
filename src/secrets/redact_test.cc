#include "secrets/redact.h"

#include <gtest/gtest.h>

namespace gust::secrets {
namespace {

TEST(RedactTest, ReplacesEveryOccurrenceWithTheName) {
  EXPECT_EQ(redact("pw=s3cret and again s3cret.", {{"DB", "s3cret"}}),
            "pw=[REDACTED:DB] and again [REDACTED:DB].");
}

TEST(RedactTest, LongerSecretsFirstAndEmptyValuesIgnored) {
  std::vector<NamedValue> secrets = {{"SHORT", "abc"}, {"LONG", "abcdef"}, {"EMPTY", ""}};
  EXPECT_EQ(redact("abcdef abc", secrets), "[REDACTED:LONG] [REDACTED:SHORT]");
}

TEST(RedactTest, AReplacementIsNotRedactedAgain) {
  EXPECT_EQ(redact("x", {{"X", "x"}, {"R", "REDACTED"}}), "[REDACTED:X]");
}

TEST(RedactTest, ShortSecretsDoNotEatReplacementsOfLongerOnes) {
  EXPECT_EQ(redact("xyz E", {{"LONG", "xyz"}, {"E", "E"}}), "[REDACTED:LONG] [REDACTED:E]");
}

TEST(RedactTest, MultiLineValuesAreRedactedLineByLine) {
  std::string logs = "2026-01-01T00:00:00Z stdout line-one\n2026-01-01T00:00:00Z stdout line-two\n";
  EXPECT_EQ(redact(logs, {{"PEM", "line-one\nline-two"}}),
            "2026-01-01T00:00:00Z stdout [REDACTED:PEM]\n2026-01-01T00:00:00Z stdout [REDACTED:PEM]\n");
}

TEST(RedactTest, TextWithoutSecretsIsUnchanged) {
  EXPECT_EQ(redact("nothing here", {{"A", "zzz"}}), "nothing here");
  EXPECT_EQ(redact("", {{"A", "zzz"}}), "");
}

}  // namespace
}  // namespace gust::secrets
