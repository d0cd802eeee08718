#pragma once
// Route ownership: the rules every route change passes before the store writes it (called as
// the store's RouteGuard, inside the writing transaction). Routes belong to their tenant:
//
//   (1) a route bound to a Host is its tenant's only if the admin claimed that host for the
//       tenant (`gust host add`); unclaimed hosts and this server's own names are refused;
//   (2) a claimed host serves only its owner's routes (host-bound, host-less and project
//       routes: RouteTable and Catalog filter by the owner), so routes compete across tenants
//       only in the shared space of host-less routes, on unclaimed hosts and the server's own
//       address;
//   (3) there, a tenant's host-less gateway route or project route may not overlap another
//       tenant's (route_overlap.h): no request can be matched by routes of two tenants, so
//       precedence never hands one tenant's requests to another.
//
// Pure functions over a RouteSpace; any thread.

#include <string_view>
#include <vector>

#include "common/status.h"
#include "store/store.h"

namespace gust::gateway {

// (1): PermissionDenied unless `host` is "" or claimed by `tenant`. The message is the same
// for an unclaimed host and another tenant's, so it tells nobody who holds what.
Status checkRouteHost(std::string_view tenant, std::string_view host,
                      const store::RouteSpace& space);

// (1) and (3) for a gateway route: Conflict naming the other tenant's route it overlaps (its
// method and path, never its function).
Status checkGatewayRoute(const store::GatewayRouteRecord& route, const store::RouteSpace& space);

// (3) for the project routes a deploy or a rollback of `tenant` installs.
Status checkProjectRoutes(std::string_view tenant, const std::vector<store::RouteRecord>& routes,
                          const store::RouteSpace& space);

// The RouteSpace as it is now, outside any transaction: for checks that fail early (a deploy,
// before its dependencies install); the guard at the write is the one that holds.
Result<store::RouteSpace> readRouteSpace(store::Store& store);

}  // namespace gust::gateway
