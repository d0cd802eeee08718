#pragma once
// Route overlap: whether two routes can both match one request. The gateway picks the most
// specific route (route_table.h), so when routes of different tenants overlap, one of them
// takes some of the other's requests: a literal inside another's parameter, a parameter over
// another's greedy tail, a greedy tail over another's longer prefix. Refusing every overlap
// between tenants is the simple rule that leaves no precedence question to get wrong.
//
// Pure functions on valid templates (parseRouteKey); any thread.

#include <string_view>
#include <vector>

#include "gateway/route_table.h"

namespace gust::gateway {

// True if some request (method, path) is matched by both routes: the methods are equal or one
// is ANY, and some path matches both templates (a parameter matches one non-empty segment, a
// greedy tail one or more segments, a trailing slash is ignored).
bool routesOverlap(const RouteTemplate& a, const RouteTemplate& b);

// A project route ("/api/users", from api/users.py) serves its path and every path under it,
// for any method: as gateway templates, "ANY /api/users" and "ANY /api/users/{proxy+}".
std::vector<RouteTemplate> projectRouteTemplates(std::string_view path);

}  // namespace gust::gateway
