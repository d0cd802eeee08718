#include "gateway/function_path.h"

#include <gtest/gtest.h>

namespace gust::gateway {
namespace {

TEST(FunctionPath, ParsesBareNameForDefaultTenant) {
  auto address = parseFunctionPath("/fn/hello");
  ASSERT_TRUE(address.has_value());
  EXPECT_EQ(address->tenant, "default");
  EXPECT_EQ(address->name, "hello");
  EXPECT_EQ(address->qualifier, "");
  EXPECT_EQ(address->rest, "");
}

TEST(FunctionPath, ParsesNameWithTrailingSlashAsEmptyRest) {
  auto address = parseFunctionPath("/fn/hello/");
  ASSERT_TRUE(address.has_value());
  EXPECT_EQ(address->tenant, "default");
  EXPECT_EQ(address->name, "hello");
  EXPECT_EQ(address->qualifier, "");
  EXPECT_EQ(address->rest, "");
}

TEST(FunctionPath, KeepsRestOfPathWithoutLeadingSlash) {
  auto address = parseFunctionPath("/fn/hello/api/x/y");
  ASSERT_TRUE(address.has_value());
  EXPECT_EQ(address->name, "hello");
  EXPECT_EQ(address->qualifier, "");
  EXPECT_EQ(address->rest, "api/x/y");
}

TEST(FunctionPath, ParsesVersionQualifier) {
  auto address = parseFunctionPath("/fn/hello@3");
  ASSERT_TRUE(address.has_value());
  EXPECT_EQ(address->tenant, "default");
  EXPECT_EQ(address->name, "hello");
  EXPECT_EQ(address->qualifier, "3");
  EXPECT_EQ(address->rest, "");
}

TEST(FunctionPath, ParsesAliasQualifierFollowedByRest) {
  auto address = parseFunctionPath("/fn/hello@live/rest");
  ASSERT_TRUE(address.has_value());
  EXPECT_EQ(address->name, "hello");
  EXPECT_EQ(address->qualifier, "live");
  EXPECT_EQ(address->rest, "rest");
}

TEST(FunctionPath, ParsesTenantPrefix) {
  auto address = parseFunctionPath("/t/acme/fn/x");
  ASSERT_TRUE(address.has_value());
  EXPECT_EQ(address->tenant, "acme");
  EXPECT_EQ(address->name, "x");
  EXPECT_EQ(address->qualifier, "");
  EXPECT_EQ(address->rest, "");
}

TEST(FunctionPath, ParsesTenantPrefixWithQualifierAndRest) {
  auto address = parseFunctionPath("/t/acme/fn/x@2/a/b");
  ASSERT_TRUE(address.has_value());
  EXPECT_EQ(address->tenant, "acme");
  EXPECT_EQ(address->name, "x");
  EXPECT_EQ(address->qualifier, "2");
  EXPECT_EQ(address->rest, "a/b");
}

TEST(FunctionPath, AtSignInRestIsNotAQualifier) {
  auto address = parseFunctionPath("/fn/hello/users/a@b.c");
  ASSERT_TRUE(address.has_value());
  EXPECT_EQ(address->name, "hello");
  EXPECT_EQ(address->qualifier, "");
  EXPECT_EQ(address->rest, "users/a@b.c");
}

TEST(FunctionPath, RejectsMissingName) {
  EXPECT_FALSE(parseFunctionPath("/fn/").has_value());
  EXPECT_FALSE(parseFunctionPath("/fn//rest").has_value());
  EXPECT_FALSE(parseFunctionPath("/fn").has_value());
}

TEST(FunctionPath, RejectsQualifierWithoutName) {
  EXPECT_FALSE(parseFunctionPath("/fn/@3").has_value());
  EXPECT_FALSE(parseFunctionPath("/fn/@3/rest").has_value());
}

TEST(FunctionPath, RejectsEmptyQualifier) {
  EXPECT_FALSE(parseFunctionPath("/fn/x@").has_value());
  EXPECT_FALSE(parseFunctionPath("/fn/x@/rest").has_value());
}

TEST(FunctionPath, RejectsPathsOutsideTheInvokePrefixes) {
  EXPECT_FALSE(parseFunctionPath("/other").has_value());
  EXPECT_FALSE(parseFunctionPath("/").has_value());
  EXPECT_FALSE(parseFunctionPath("").has_value());
  EXPECT_FALSE(parseFunctionPath("fn/hello").has_value());
  EXPECT_FALSE(parseFunctionPath("/fnx/hello").has_value());
  EXPECT_FALSE(parseFunctionPath("/api/fn/hello").has_value());
}

TEST(FunctionPath, RejectsEmptyTenant) {
  EXPECT_FALSE(parseFunctionPath("/t//fn/x").has_value());
}

TEST(FunctionPath, RejectsTenantWithoutFunction) {
  EXPECT_FALSE(parseFunctionPath("/t/acme").has_value());
  EXPECT_FALSE(parseFunctionPath("/t/acme/").has_value());
  EXPECT_FALSE(parseFunctionPath("/t/acme/fn/").has_value());
  EXPECT_FALSE(parseFunctionPath("/t/acme/other/x").has_value());
  EXPECT_FALSE(parseFunctionPath("/t/").has_value());
}

}  // namespace
}  // namespace gust::gateway
