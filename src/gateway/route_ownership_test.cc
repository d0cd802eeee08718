#include "gateway/route_ownership.h"

#include <gtest/gtest.h>

#include "gateway/route_table.h"

namespace gust::gateway {
namespace {

store::GatewayRouteRecord gatewayRoute(std::string tenant, std::string_view key,
                                       std::string host = "") {
  auto parsed = parseRouteKey(key);
  EXPECT_TRUE(parsed.isOk()) << parsed.status().message();
  store::GatewayRouteRecord route;
  route.tenant = std::move(tenant);
  route.method = parsed->method;
  route.path = parsed->path;
  route.shape = routeShape(parsed->path);
  route.host = std::move(host);
  route.function = "fn-of-" + route.tenant;
  return route;
}

class RouteOwnershipTest : public ::testing::Test {
 protected:
  store::RouteSpace space_;
};

TEST_F(RouteOwnershipTest, HostMustBeClaimedByTheRoutesTenant) {
  space_.hosts.push_back({"api.shop.example", "acme", 0});
  EXPECT_TRUE(checkGatewayRoute(gatewayRoute("acme", "GET /x", "api.shop.example"), space_).isOk());
  Status other = checkGatewayRoute(gatewayRoute("evil", "GET /x", "api.shop.example"), space_);
  EXPECT_EQ(other.code(), Code::PermissionDenied);
  Status unclaimed = checkGatewayRoute(gatewayRoute("evil", "GET /x", "free.example"), space_);
  EXPECT_EQ(unclaimed.code(), Code::PermissionDenied);
  Status own_address = checkGatewayRoute(gatewayRoute("evil", "GET /x", "127.0.0.1"), space_);
  EXPECT_EQ(own_address.code(), Code::PermissionDenied);
  // The refusal reads the same whoever holds the host: it tells nobody who owns what.
  EXPECT_EQ(other.message().find("acme"), std::string::npos) << other.message();
}

TEST_F(RouteOwnershipTest, LiteralOverAnotherTenantsParameterIsAConflict) {
  space_.gateway_routes.push_back(gatewayRoute("acme", "GET /users/{id}"));
  Status shadow = checkGatewayRoute(gatewayRoute("evil", "GET /users/admin"), space_);
  EXPECT_EQ(shadow.code(), Code::Conflict);
  EXPECT_NE(shadow.message().find("GET /users/{id}"), std::string::npos) << shadow.message();
  EXPECT_EQ(shadow.message().find("fn-of-acme"), std::string::npos) << shadow.message();
}

TEST_F(RouteOwnershipTest, GreedyTailOverAnotherTenantsPrefixIsAConflict) {
  space_.gateway_routes.push_back(gatewayRoute("acme", "GET /files/{proxy+}"));
  EXPECT_EQ(checkGatewayRoute(gatewayRoute("evil", "GET /files/secret"), space_).code(),
            Code::Conflict);
  EXPECT_EQ(checkGatewayRoute(gatewayRoute("evil", "ANY /{all+}"), space_).code(), Code::Conflict);
}

TEST_F(RouteOwnershipTest, TheSameTenantsOwnRoutesNeverConflict) {
  space_.gateway_routes.push_back(gatewayRoute("acme", "GET /users/{id}"));
  EXPECT_TRUE(checkGatewayRoute(gatewayRoute("acme", "GET /users/admin"), space_).isOk());
}

TEST_F(RouteOwnershipTest, DisjointRoutesOfTenantsCoexist) {
  space_.gateway_routes.push_back(gatewayRoute("acme", "GET /users/{id}"));
  EXPECT_TRUE(checkGatewayRoute(gatewayRoute("evil", "POST /users/admin"), space_).isOk());
  EXPECT_TRUE(checkGatewayRoute(gatewayRoute("evil", "GET /orders/{id}"), space_).isOk());
}

TEST_F(RouteOwnershipTest, RoutesOnAnOwnedHostCompeteWithNoOtherTenant) {
  // A claimed host serves its owner's routes alone, so another tenant's host-less routes do
  // not reach it and do not stand in its way.
  space_.hosts.push_back({"api.acme.example", "acme", 0});
  space_.gateway_routes.push_back(gatewayRoute("evil", "ANY /{all+}"));
  space_.project_routes.push_back({"/api/users", "evil", "proj", "api/users"});
  EXPECT_TRUE(checkGatewayRoute(gatewayRoute("acme", "GET /users/{id}", "api.acme.example"), space_)
                  .isOk());
  EXPECT_TRUE(
      checkGatewayRoute(gatewayRoute("acme", "GET /api/users", "api.acme.example"), space_).isOk());
}

TEST_F(RouteOwnershipTest, ProjectRoutesAndGatewayRoutesOfTenantsMayNotOverlap) {
  space_.project_routes.push_back({"/api/users", "default", "proj", "api/users"});
  EXPECT_EQ(checkGatewayRoute(gatewayRoute("evil", "GET /api/users/{id}"), space_).code(),
            Code::Conflict);
  EXPECT_TRUE(checkGatewayRoute(gatewayRoute("evil", "GET /api/orders"), space_).isOk());

  space_.gateway_routes.push_back(gatewayRoute("acme", "GET /api/orders/{id}"));
  Status deploy =
      checkProjectRoutes("default", {{"/api/orders", "default", "proj", "api/orders"}}, space_);
  EXPECT_EQ(deploy.code(), Code::Conflict);
  EXPECT_NE(deploy.message().find("api/orders"), std::string::npos) << deploy.message();
  EXPECT_TRUE(
      checkProjectRoutes("acme", {{"/api/orders", "acme", "proj", "api/orders"}}, space_).isOk());
}

TEST_F(RouteOwnershipTest, AProjectPrefixOverAnotherTenantsProjectRouteIsAConflict) {
  space_.project_routes.push_back({"/api/users/admin", "acme", "proj", "api/users/admin"});
  EXPECT_EQ(checkProjectRoutes("evil", {{"/api/users", "evil", "p", "api/users"}}, space_).code(),
            Code::Conflict);
  EXPECT_EQ(checkProjectRoutes("evil", {{"/api", "evil", "p", "api/index"}}, space_).code(),
            Code::Conflict);
  EXPECT_TRUE(
      checkProjectRoutes("evil", {{"/api/orders", "evil", "p", "api/orders"}}, space_).isOk());
}

TEST_F(RouteOwnershipTest, AnotherTenantsHostBoundRoutesAreNoRivalsInTheSharedSpace) {
  space_.hosts.push_back({"api.acme.example", "acme", 0});
  space_.gateway_routes.push_back(gatewayRoute("acme", "ANY /{all+}", "api.acme.example"));
  EXPECT_TRUE(checkGatewayRoute(gatewayRoute("evil", "GET /users/{id}"), space_).isOk());
}

}  // namespace
}  // namespace gust::gateway
