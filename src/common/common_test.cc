#include <gtest/gtest.h>

#include "common/ids.h"
#include "common/status.h"
#include "common/time.h"

namespace gust {
namespace {

TEST(Ids, ActivationIdsAreHexAndDistinct) {
  std::string a = newActivationId();
  std::string b = newActivationId();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(Time, FormatsRfc3339WithMicroseconds) {
  EXPECT_EQ(formatRfc3339Micros(1764344742123456), "2025-11-28T15:45:42.123456Z");
}

TEST(ResultType, CarriesValueOrStatus) {
  Result<int> good = 7;
  Result<int> bad = notFound("no such function 'x'");
  EXPECT_TRUE(good.isOk());
  EXPECT_EQ(*good, 7);
  EXPECT_FALSE(bad.isOk());
  EXPECT_EQ(bad.status().code(), Code::NotFound);
  EXPECT_STREQ(bad.status().codeName(), "not_found");
}

}  // namespace
}  // namespace gust
