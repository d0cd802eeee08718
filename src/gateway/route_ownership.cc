#include "gateway/route_ownership.h"

#include <fmt/format.h>

#include "gateway/route_overlap.h"
#include "gateway/route_table.h"

namespace gust::gateway {
namespace {

// Another tenant's route, in the form its overlap is reported in.
struct Rival {
  std::string name;  // "GET /users/{id}" or "project route /api/users"
  std::vector<RouteTemplate> templates;
};

// Every route of another tenant than `tenant` in the shared, host-less space.
std::vector<Rival> rivalsOf(std::string_view tenant, const store::RouteSpace& space) {
  std::vector<Rival> rivals;
  for (const auto& route : space.gateway_routes) {
    if (route.tenant == tenant || !route.host.empty()) continue;
    rivals.push_back(
        {fmt::format("{} {}", route.method, route.path), {{route.method, route.path}}});
  }
  for (const auto& route : space.project_routes) {
    if (route.tenant == tenant) continue;
    rivals.push_back({"project route " + route.path, projectRouteTemplates(route.path)});
  }
  return rivals;
}

const Rival* firstOverlap(const std::vector<RouteTemplate>& mine,
                          const std::vector<Rival>& rivals) {
  for (const Rival& rival : rivals) {
    for (const RouteTemplate& a : mine) {
      for (const RouteTemplate& b : rival.templates) {
        if (routesOverlap(a, b)) return &rival;
      }
    }
  }
  return nullptr;
}

Status overlapConflict(std::string_view mine, const Rival& rival) {
  return Status(Code::Conflict,
                fmt::format("{} overlaps {}, which another tenant holds: some requests would "
                            "match both, and routes of one tenant never take another's. Pick "
                            "another path, or ask the admin for a host of your own (`gust host "
                            "add`) and bind the route to it with --host",
                            mine, rival.name));
}

}  // namespace

Status checkRouteHost(std::string_view tenant, std::string_view host,
                      const store::RouteSpace& space) {
  if (host.empty()) return Status::ok();
  for (const auto& claimed : space.hosts) {
    if (claimed.host == host && claimed.tenant == tenant) return Status::ok();
  }
  return Status(Code::PermissionDenied,
                fmt::format("tenant '{}' does not own host {}: a route may be bound only to a "
                            "host the admin claimed for its tenant (`gust host add {} --tenant "
                            "{}`); `gust host ls` lists yours",
                            tenant, host, host, tenant));
}

Status checkGatewayRoute(const store::GatewayRouteRecord& route, const store::RouteSpace& space) {
  GUST_RETURN_IF_ERROR(checkRouteHost(route.tenant, route.host, space));
  if (!route.host.empty()) return Status::ok();  // (2): on its owner's host it competes with no one
  auto rivals = rivalsOf(route.tenant, space);
  if (const Rival* rival = firstOverlap({{route.method, route.path}}, rivals)) {
    return overlapConflict(fmt::format("route {} {}", route.method, route.path), *rival);
  }
  return Status::ok();
}

Status checkProjectRoutes(std::string_view tenant, const std::vector<store::RouteRecord>& routes,
                          const store::RouteSpace& space) {
  if (routes.empty()) return Status::ok();
  auto rivals = rivalsOf(tenant, space);
  for (const auto& route : routes) {
    if (const Rival* rival = firstOverlap(projectRouteTemplates(route.path), rivals)) {
      return overlapConflict(fmt::format("project route {} (from {})", route.path, route.entry),
                             *rival);
    }
  }
  return Status::ok();
}

Result<store::RouteSpace> readRouteSpace(store::Store& store) {
  store::RouteSpace space;
  auto hosts = store.listHosts(std::nullopt);
  if (!hosts) return hosts.status();
  auto gateway_routes = store.listGatewayRoutes(std::nullopt);
  if (!gateway_routes) return gateway_routes.status();
  auto project_routes = store.listRoutes();
  if (!project_routes) return project_routes.status();
  space.hosts = std::move(*hosts);
  space.gateway_routes = std::move(*gateway_routes);
  space.project_routes = std::move(*project_routes);
  return space;
}

}  // namespace gust::gateway
