#include "gateway/route_table.h"

#include <gtest/gtest.h>

namespace gust::gateway {
namespace {

RouteTable::Entry entry(std::string_view key, std::string host = "") {
  auto parsed = parseRouteKey(key);
  EXPECT_TRUE(parsed.isOk()) << parsed.status().message();
  return {std::move(host), *parsed, ""};
}

TEST(RouteKey, ParsesMethodAndTemplate) {
  auto route = parseRouteKey("get /users/{id}");
  ASSERT_TRUE(route.isOk());
  EXPECT_EQ(route->method, "GET");
  EXPECT_EQ(route->path, "/users/{id}");
  EXPECT_EQ(parseRouteKey("/x")->method, "ANY");
  EXPECT_EQ(parseRouteKey("POST /a/")->path, "/a");
}

TEST(RouteKey, RejectsWhatCannotMatch) {
  EXPECT_FALSE(parseRouteKey("FETCH /x").isOk());
  EXPECT_FALSE(parseRouteKey("GET users").isOk());
  EXPECT_FALSE(parseRouteKey("GET /a/{}").isOk());
  EXPECT_FALSE(parseRouteKey("GET /a/x{id}").isOk());
  EXPECT_FALSE(parseRouteKey("GET /{proxy+}/more").isOk());
  EXPECT_FALSE(parseRouteKey("GET /{id}/{id}").isOk());
  EXPECT_FALSE(parseRouteKey("GET /a?b=1").isOk());
}

TEST(RouteKey, ShapeIgnoresParameterNames) {
  EXPECT_EQ(routeShape("/users/{id}"), routeShape("/users/{uid}"));
  EXPECT_NE(routeShape("/users/{id}"), routeShape("/users/{proxy+}"));
  EXPECT_EQ(routeShape("/"), "/");
}

TEST(RouteTable, LiteralBeatsParameterBeatsGreedy) {
  RouteTable table({entry("GET /users/me"), entry("GET /users/{id}"), entry("GET /users/{rest+}")});
  EXPECT_EQ(table.match("", "GET", "/users/me").route, 0);
  auto by_id = table.match("", "GET", "/users/42");
  EXPECT_EQ(by_id.route, 1);
  ASSERT_EQ(by_id.parameters.size(), 1u);
  EXPECT_EQ(by_id.parameters[0], (std::pair<std::string, std::string>{"id", "42"}));
  auto deep = table.match("", "GET", "/users/42/posts/7");
  EXPECT_EQ(deep.route, 2);
  EXPECT_EQ(deep.parameters[0].second, "42/posts/7");
}

TEST(RouteTable, BacktracksWhenTheLiteralBranchDeadEnds) {
  RouteTable table({entry("GET /a/b/c"), entry("GET /a/{x}/d")});
  auto match = table.match("", "GET", "/a/b/d");
  EXPECT_EQ(match.route, 1);
  EXPECT_EQ(match.parameters[0].second, "b");
}

TEST(RouteTable, MethodChoosesAmongTheSamePathAndAnyIsAFallback) {
  RouteTable table({entry("GET /items"), entry("POST /items"), entry("ANY /items/{id}"),
                    entry("DELETE /items/{id}")});
  EXPECT_EQ(table.match("", "POST", "/items").route, 1);
  EXPECT_EQ(table.match("", "DELETE", "/items/3").route, 3);
  EXPECT_EQ(table.match("", "PATCH", "/items/3").route, 2);
}

TEST(RouteTable, KnownPathWithAnotherMethodListsAllowedMethods) {
  RouteTable table({entry("GET /items"), entry("POST /items")});
  auto match = table.match("", "PUT", "/items");
  EXPECT_EQ(match.route, -1);
  EXPECT_EQ(match.allowed_methods, (std::vector<std::string>{"GET", "POST"}));
  auto missing = table.match("", "GET", "/nothing");
  EXPECT_EQ(missing.route, -1);
  EXPECT_TRUE(missing.allowed_methods.empty());
}

TEST(RouteTable, MostSpecificPathWithTheMethodWins) {
  // POST /users/me has no literal POST route: the parameter route that takes POST serves it.
  RouteTable table({entry("GET /users/me"), entry("POST /users/{id}")});
  EXPECT_EQ(table.match("", "POST", "/users/me").route, 1);
}

TEST(RouteTable, GreedyNeedsAtLeastOneSegment) {
  RouteTable table({entry("ANY /files/{proxy+}")});
  EXPECT_EQ(table.match("", "GET", "/files").route, -1);
  EXPECT_EQ(table.match("", "GET", "/files/a").route, 0);
}

TEST(RouteTable, ParametersArePercentDecodedAndTrailingSlashIgnored) {
  RouteTable table({entry("GET /users/{name}")});
  auto match = table.match("", "GET", "/users/Ada%20Lovelace/");
  ASSERT_EQ(match.route, 0);
  EXPECT_EQ(match.parameters[0].second, "Ada Lovelace");
  EXPECT_EQ(table.match("", "GET", "/users//").route, -1);
}

TEST(RouteTable, HostRoutesComeFirstThenHostless) {
  RouteTable table({entry("GET /", "api.example.com"), entry("GET /"), entry("GET /only", "API.example.com")});
  EXPECT_EQ(table.match("api.example.com:8080", "GET", "/").route, 0);
  EXPECT_EQ(table.match("other.example.com", "GET", "/").route, 1);
  EXPECT_EQ(table.match("api.example.com", "GET", "/only").route, 2);
  EXPECT_EQ(table.match("other.example.com", "GET", "/only").route, -1);
}

TEST(RouteKey, RefusesDotSegmentsPlainOrPercentEncoded) {
  for (std::string_view key :
       {"GET /a/./b", "GET /a/../b", "GET /..", "GET /a/%2e%2E/b", "GET /a/.%2e", "GET /%2E"}) {
    auto parsed = parseRouteKey(key);
    EXPECT_FALSE(parsed.isOk()) << key;
    if (!parsed.isOk()) {
      EXPECT_NE(parsed.status().message().find("dot segments"), std::string::npos);
    }
  }
  EXPECT_TRUE(parseRouteKey("GET /a/.well-known/b").isOk());
  EXPECT_TRUE(parseRouteKey("GET /a/.../b").isOk());
}

TEST(RouteTable, AnOwnedHostServesOnlyItsOwnersRoutes) {
  auto owned = [](std::string_view key, std::string tenant, std::string host = "") {
    RouteTable::Entry e = entry(key, std::move(host));
    e.tenant = std::move(tenant);
    return e;
  };
  RouteTable table({owned("GET /login", "evil"), owned("GET /users/{id}", "acme"),
                    owned("GET /", "acme", "api.acme.example")},
                   {{"api.acme.example", "acme"}});
  auto on_acme = table.match("API.acme.example:443", "GET", "/login");
  EXPECT_EQ(on_acme.route, -1);  // evil's host-less route does not answer on acme's host
  EXPECT_EQ(on_acme.host_owner, "acme");
  EXPECT_EQ(table.match("api.acme.example", "GET", "/users/7").route, 1);  // acme's host-less
  EXPECT_EQ(table.match("api.acme.example", "GET", "/").route, 2);
  auto elsewhere = table.match("127.0.0.1:8080", "GET", "/login");
  EXPECT_EQ(elsewhere.route, 0);
  EXPECT_EQ(elsewhere.host_owner, "");
  // Another method of a hidden route is no 405 either: the path does not exist on that host.
  EXPECT_TRUE(table.match("api.acme.example", "POST", "/login").allowed_methods.empty());
}

TEST(RouteTable, RootAndManyRoutes) {
  std::vector<RouteTable::Entry> entries;
  for (int i = 0; i < 2000; ++i) entries.push_back(entry("GET /svc" + std::to_string(i) + "/{id}"));
  RouteTable table(entries);
  EXPECT_EQ(table.size(), 2000u);
  auto match = table.match("", "GET", "/svc1234/x");
  EXPECT_EQ(match.route, 1234);
  EXPECT_EQ(match.parameters[0].second, "x");
}

}  // namespace
}  // namespace gust::gateway
