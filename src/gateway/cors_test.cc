#include "gateway/cors.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace gust::gateway {
namespace {

std::string header(const HeaderList& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return "<absent>";
}

CorsPolicy app() {
  CorsPolicy policy;
  policy.origins = {"https://app.example.com"};
  return policy;
}

TEST(Cors, ListedOriginIsEchoedWithVary) {
  auto headers = responseHeaders(app(), "https://app.example.com");
  EXPECT_EQ(header(headers, "Access-Control-Allow-Origin"), "https://app.example.com");
  EXPECT_EQ(header(headers, "Vary"), "Origin");
  EXPECT_EQ(header(headers, "Access-Control-Allow-Credentials"), "<absent>");
}

TEST(Cors, OtherOriginsAndNoOriginGetNothing) {
  EXPECT_TRUE(responseHeaders(app(), "https://evil.example.com").empty());
  EXPECT_TRUE(responseHeaders(app(), "https://app.example.com.evil.com").empty());
  EXPECT_TRUE(responseHeaders(app(), "").empty());
  EXPECT_TRUE(responseHeaders(CorsPolicy{}, "https://app.example.com").empty());
}

TEST(Cors, WildcardIsStarUnlessCredentials) {
  CorsPolicy any;
  any.origins = {"*"};
  EXPECT_EQ(header(responseHeaders(any, "https://x.dev"), "Access-Control-Allow-Origin"), "*");
  any.credentials = true;
  auto headers = responseHeaders(any, "https://x.dev");
  EXPECT_EQ(header(headers, "Access-Control-Allow-Origin"), "https://x.dev");
  EXPECT_EQ(header(headers, "Access-Control-Allow-Credentials"), "true");
}

TEST(Cors, ExposedHeadersAreListed) {
  CorsPolicy policy = app();
  policy.expose = {"X-Gust-Activation-Id", "X-Total"};
  EXPECT_EQ(header(responseHeaders(policy, "https://app.example.com"), "Access-Control-Expose-Headers"),
            "X-Gust-Activation-Id, X-Total");
}

TEST(Cors, PreflightChecksMethodAndHeaders) {
  CorsPolicy policy = app();
  policy.methods = {"GET", "PUT"};
  policy.headers = {"X-Custom"};
  policy.max_age_s = 300;
  auto ok = preflightHeaders(policy, "https://app.example.com", "PUT", "x-custom, content-type", {"PUT"});
  EXPECT_EQ(header(ok, "Access-Control-Allow-Methods"), "GET, PUT");
  EXPECT_EQ(header(ok, "Access-Control-Allow-Headers"), "x-custom, content-type");
  EXPECT_EQ(header(ok, "Access-Control-Max-Age"), "300");
  EXPECT_TRUE(preflightHeaders(policy, "https://app.example.com", "DELETE", "", {"PUT"}).empty());
  EXPECT_TRUE(preflightHeaders(policy, "https://app.example.com", "PUT", "x-other", {"PUT"}).empty());
  EXPECT_TRUE(preflightHeaders(policy, "https://evil.example.com", "PUT", "", {"PUT"}).empty());
}

TEST(Cors, PreflightDefaultsToTheRoutesMethods) {
  CorsPolicy policy = app();
  EXPECT_FALSE(preflightHeaders(policy, "https://app.example.com", "POST", "", {"POST"}).empty());
  EXPECT_TRUE(preflightHeaders(policy, "https://app.example.com", "PUT", "", {"POST"}).empty());
  EXPECT_FALSE(preflightHeaders(policy, "https://app.example.com", "PATCH", "", {"ANY"}).empty());
}

TEST(Cors, IsPreflightNeedsOriginAndRequestedMethod) {
  EXPECT_TRUE(isPreflight("OPTIONS", "https://a.b", "PUT"));
  EXPECT_FALSE(isPreflight("OPTIONS", "", "PUT"));
  EXPECT_FALSE(isPreflight("OPTIONS", "https://a.b", ""));
  EXPECT_FALSE(isPreflight("GET", "https://a.b", "PUT"));
}

TEST(Cors, ValidatesAndRoundTrips) {
  CorsPolicy policy = app();
  policy.headers = {"X-Custom"};
  policy.credentials = true;
  auto back = corsFromJson(corsToJson(policy));
  ASSERT_TRUE(back.isOk());
  EXPECT_EQ(back->origins, policy.origins);
  EXPECT_TRUE(back->credentials);
  CorsPolicy bad;
  bad.origins = {"https://app.example.com/path"};
  EXPECT_FALSE(validateCors(bad).isOk());
  bad.origins = {"app.example.com"};
  EXPECT_FALSE(validateCors(bad).isOk());
  bad.origins = {"*"};
  bad.headers = {"bad header"};
  EXPECT_FALSE(validateCors(bad).isOk());
}

}  // namespace
}  // namespace gust::gateway
