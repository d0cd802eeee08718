#include "gateway/route_overlap.h"

#include <gtest/gtest.h>

namespace gust::gateway {
namespace {

RouteTemplate route(std::string_view key) {
  auto parsed = parseRouteKey(key);
  EXPECT_TRUE(parsed.isOk()) << parsed.status().message();
  return *parsed;
}

bool overlap(std::string_view a, std::string_view b) {
  bool forward = routesOverlap(route(a), route(b));
  EXPECT_EQ(forward, routesOverlap(route(b), route(a))) << a << " / " << b << " is not symmetric";
  return forward;
}

TEST(RoutesOverlap, LiteralInsideAParameterOverlaps) {
  EXPECT_TRUE(overlap("GET /users/{id}", "GET /users/admin"));
  EXPECT_TRUE(overlap("GET /users/{id}/posts", "GET /users/me/{post}"));
}

TEST(RoutesOverlap, DifferentLiteralsDoNot) {
  EXPECT_FALSE(overlap("GET /users/admin", "GET /users/me"));
  EXPECT_FALSE(overlap("GET /users/{id}", "GET /orders/{id}"));
  EXPECT_FALSE(overlap("GET /a/{x}/b", "GET /a/{y}/c"));
}

TEST(RoutesOverlap, GreedyTailOverlapsEveryLongerPath) {
  EXPECT_TRUE(overlap("GET /files/{proxy+}", "GET /files/a/b/c"));
  EXPECT_TRUE(overlap("GET /files/{proxy+}", "GET /files/{id}"));
  EXPECT_TRUE(overlap("GET /{proxy+}", "GET /anything/{id}/deep"));
  EXPECT_TRUE(overlap("GET /a/{rest+}", "GET /a/{more+}"));
  EXPECT_TRUE(overlap("GET /{x}/{rest+}", "GET /a/{y}"));
}

TEST(RoutesOverlap, GreedyTailNeedsAtLeastOneSegment) {
  EXPECT_FALSE(overlap("GET /files/{proxy+}", "GET /files"));
  EXPECT_FALSE(overlap("GET /{proxy+}", "GET /"));
}

TEST(RoutesOverlap, DifferentLengthsWithoutGreedyDoNot) {
  EXPECT_FALSE(overlap("GET /users/{id}", "GET /users"));
  EXPECT_FALSE(overlap("GET /users/{id}", "GET /users/{id}/posts"));
}

TEST(RoutesOverlap, TrailingSlashIsIgnored) { EXPECT_TRUE(overlap("GET /users/", "GET /users")); }

TEST(RoutesOverlap, MethodsMustMeet) {
  EXPECT_FALSE(overlap("GET /users/{id}", "POST /users/admin"));
  EXPECT_TRUE(overlap("ANY /users/{id}", "POST /users/admin"));
  EXPECT_TRUE(overlap("GET /x", "/x"));        // no method = ANY
  EXPECT_FALSE(overlap("GET /x", "HEAD /x"));  // the table matches HEAD only to HEAD or ANY
}

TEST(ProjectRouteTemplates, CoverThePathAndEverythingUnderIt) {
  auto templates = projectRouteTemplates("/api/users");
  ASSERT_EQ(templates.size(), 2u);
  auto covers = [&](std::string_view key) {
    for (const auto& t : templates) {
      if (routesOverlap(t, route(key))) return true;
    }
    return false;
  };
  EXPECT_TRUE(covers("GET /api/users"));
  EXPECT_TRUE(covers("POST /api/users/{id}"));
  EXPECT_TRUE(covers("GET /api/{proxy+}"));
  EXPECT_TRUE(covers("GET /{x}/users"));
  EXPECT_FALSE(covers("GET /api/orders"));
  EXPECT_FALSE(covers("GET /api"));
  EXPECT_EQ(projectRouteTemplates("/")[1].path, "/{proxy+}");
}

}  // namespace
}  // namespace gust::gateway
