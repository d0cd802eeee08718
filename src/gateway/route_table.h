#pragma once
// RouteTable: the gateway's routes (method + path template, optionally a Host) compiled into a
// trie of path segments, and the match of one request against them. Immutable once built: the
// gateway swaps whole tables (a shared_ptr<const RouteTable>) when routes change, so matching
// takes no lock and any thread may call it.
//
// Templates: "/users/{id}/posts", "/files/{proxy+}" (a greedy tail: one or more segments, only
// last). Precedence at each segment: a literal segment beats a parameter, which beats a greedy
// tail; among the paths that match, the most specific one that has the request's method (or ANY)
// wins. Routes bound to the request's Host are tried before host-less ones. A Host a tenant owns
// (route_ownership.h) serves that tenant's routes alone. A path that matches only under other
// methods gives the union of those methods (for 405 and its Allow header).

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace gust::gateway {

struct RouteTemplate {
  std::string method;  // GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS or ANY
  std::string path;    // "/users/{id}"
};

// Parses "GET /users/{id}" (method optional: "/x" means ANY). Rejects bad methods, templates not
// starting with '/', empty or malformed parameters, a greedy parameter that is not last and
// duplicate parameter names.
Result<RouteTemplate> parseRouteKey(std::string_view key);

// The template with parameter names erased ("/users/{}"): two routes with the same shape, method
// and host are the same route.
std::string routeShape(std::string_view path);

struct RouteMatchResult {
  int route = -1;  // index into the routes the table was built from; -1: none
  std::vector<std::pair<std::string, std::string>> parameters;  // name -> percent-decoded value
  std::vector<std::string> allowed_methods;  // when route == -1 but the path exists: 405
  std::string host_owner;  // the tenant that owns the request's Host; "" if none does
};

class RouteTable final {
 public:
  struct Entry {
    std::string host;  // "" = any host; lowercase, no port
    RouteTemplate route;
    std::string tenant;
  };
  // Entries must be valid (parseRouteKey) and distinct; later duplicates are ignored.
  // `host_owners`: normalized host -> the tenant that owns it.
  explicit RouteTable(const std::vector<Entry>& entries,
                      std::map<std::string, std::string> host_owners = {});
  ~RouteTable();
  RouteTable(const RouteTable&) = delete;
  RouteTable& operator=(const RouteTable&) = delete;

  // `host` as sent (any port is ignored, case-insensitive); `path` without its query.
  RouteMatchResult match(std::string_view host, std::string_view method, std::string_view path) const;
  // The tenant that owns `host` (as sent), or "" if no tenant does.
  std::string ownerOf(std::string_view host) const;
  std::size_t size() const { return size_; }

  struct Node;  // defined in the .cc

 private:
  std::map<std::string, std::unique_ptr<Node>> by_host_;  // "" holds the host-less routes
  std::map<std::string, std::string> host_owners_;
  std::size_t size_ = 0;
};

}  // namespace gust::gateway
