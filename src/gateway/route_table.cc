#include "gateway/route_table.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

namespace gust::gateway {
namespace {

constexpr std::string_view kMethods[] = {"GET",    "POST", "PUT",     "PATCH",
                                         "DELETE", "HEAD", "OPTIONS", "ANY"};

std::vector<std::string_view> splitPath(std::string_view path) {
  std::vector<std::string_view> segments;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path.empty()) return segments;
  for (;;) {
    auto slash = path.find('/');
    segments.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return segments;
}

bool isParameter(std::string_view segment) {
  return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      int high = hexValue(text[i + 1]), low = hexValue(text[i + 2]);
      if (high >= 0 && low >= 0) {
        out.push_back(static_cast<char>(high * 16 + low));
        i += 2;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

std::string normalizeHost(std::string_view host) {
  if (!host.empty() && host.front() == '[') {  // [::1]:8080
    auto close = host.find(']');
    host = host.substr(0, close == std::string_view::npos ? host.size() : close + 1);
  } else if (auto colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  std::string out(host);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return out;
}

}  // namespace

Result<RouteTemplate> parseRouteKey(std::string_view key) {
  RouteTemplate route;
  auto space = key.find(' ');
  std::string_view path = key;
  route.method = "ANY";
  if (space != std::string_view::npos) {
    std::string method(key.substr(0, space));
    std::transform(method.begin(), method.end(), method.begin(),
                   [](unsigned char c) { return std::toupper(c); });
    if (std::find(std::begin(kMethods), std::end(kMethods), method) == std::end(kMethods)) {
      return invalidArgument(
          fmt::format("unknown method '{}' in route '{}': use GET, POST, PUT, PATCH, DELETE, HEAD, "
                      "OPTIONS or ANY",
                      method, key));
    }
    route.method = method;
    path = key.substr(space + 1);
    while (!path.empty() && path.front() == ' ') path.remove_prefix(1);
  }
  if (path.empty() || path.front() != '/') {
    return invalidArgument(
        fmt::format("route path '{}' must start with '/', e.g. 'GET /users/{{id}}'", path));
  }
  if (path.find_first_of("?# \t") != std::string_view::npos) {
    return invalidArgument(
        fmt::format("route path '{}' may not hold a query, fragment or space", path));
  }
  std::set<std::string> names;
  auto segments = splitPath(path);
  for (std::size_t i = 0; i < segments.size(); ++i) {
    std::string_view segment = segments[i];
    // Clients and proxies resolve dot segments away (RFC 3986 5.2.4), so a route naming one
    // would answer a path other than the one it shows.
    if (std::string decoded = percentDecode(segment); decoded == "." || decoded == "..") {
      return invalidArgument(fmt::format(
          "route path '{}' has a '{}' segment: name the path as clients send it, without dot "
          "segments",
          path, segment));
    }
    bool has_brace = segment.find_first_of("{}") != std::string_view::npos;
    if (!has_brace) continue;
    if (!isParameter(segment)) {
      return invalidArgument(fmt::format(
          "route segment '{}' must be a literal or a whole parameter like {{id}}", segment));
    }
    std::string_view name = segment.substr(1, segment.size() - 2);
    bool greedy = name.ends_with('+');
    if (greedy) name.remove_suffix(1);
    if (name.empty() || name.find_first_not_of(
                            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
                            std::string_view::npos) {
      return invalidArgument(
          fmt::format("route parameter '{}' needs a name of letters, digits, _ or -", segment));
    }
    if (greedy && i + 1 != segments.size()) {
      return invalidArgument(
          fmt::format("greedy parameter '{}' must be the last segment", segment));
    }
    if (!names.insert(std::string(name)).second) {
      return invalidArgument(fmt::format("route parameter '{}' appears twice", name));
    }
  }
  route.path = path.size() > 1 && path.back() == '/' ? std::string(path.substr(0, path.size() - 1))
                                                     : std::string(path);
  return route;
}

std::string routeShape(std::string_view path) {
  std::string shape;
  for (std::string_view segment : splitPath(path)) {
    shape += '/';
    if (isParameter(segment)) {
      shape += segment.ends_with("+}") ? "{+}" : "{}";
    } else {
      shape += segment;
    }
  }
  return shape.empty() ? "/" : shape;
}

// One path segment's position in the trie. A route ends at a node (its methods) or, for a greedy
// template, in the node's greedy_methods.
struct RouteTable::Node {
  struct Target {
    int route = -1;
    std::vector<std::string> names;  // the parameters' names in path order
    std::string tenant;
  };
  std::map<std::string, std::unique_ptr<Node>, std::less<>> literals;
  std::unique_ptr<Node> parameter;
  std::map<std::string, Target, std::less<>> methods;
  std::map<std::string, Target, std::less<>> greedy_methods;
};

namespace {

using Node = RouteTable::Node;

// `only_tenant` (the Host's owner, or "" for any tenant) hides the routes of other tenants.
const Node::Target* pick(const std::map<std::string, Node::Target, std::less<>>& methods,
                         std::string_view method, std::string_view only_tenant,
                         std::set<std::string>& allowed) {
  if (methods.empty()) return nullptr;
  auto usable = [&](const Node::Target& target) {
    return only_tenant.empty() || target.tenant == only_tenant;
  };
  if (auto it = methods.find(method); it != methods.end() && usable(it->second)) return &it->second;
  if (auto it = methods.find("ANY"); it != methods.end() && usable(it->second)) return &it->second;
  for (const auto& [name, target] : methods) {
    if (usable(target)) allowed.insert(name);
  }
  return nullptr;
}

struct Search {
  std::string_view method;
  std::string_view only_tenant;
  const std::vector<std::string_view>& segments;
  std::vector<std::string_view> values;
  std::set<std::string> allowed;
  std::string greedy_value;

  const Node::Target* walk(const Node& node, std::size_t i) {
    if (i == segments.size()) return pick(node.methods, method, only_tenant, allowed);
    if (auto it = node.literals.find(segments[i]); it != node.literals.end()) {
      if (auto* found = walk(*it->second, i + 1)) return found;
    }
    if (node.parameter && !segments[i].empty()) {
      values.push_back(segments[i]);
      if (auto* found = walk(*node.parameter, i + 1)) return found;
      values.pop_back();
    }
    if (!node.greedy_methods.empty()) {
      if (auto* found = pick(node.greedy_methods, method, only_tenant, allowed)) {
        greedy_value.clear();
        for (std::size_t j = i; j < segments.size(); ++j) {
          if (j > i) greedy_value += '/';
          greedy_value += segments[j];
        }
        return found;
      }
    }
    return nullptr;
  }
};

}  // namespace

RouteTable::RouteTable(const std::vector<Entry>& entries,
                       std::map<std::string, std::string> host_owners)
    : host_owners_(std::move(host_owners)) {
  for (std::size_t index = 0; index < entries.size(); ++index) {
    const Entry& entry = entries[index];
    auto& root = by_host_[normalizeHost(entry.host)];
    if (!root) root = std::make_unique<Node>();
    Node* node = root.get();
    Node::Target target;
    target.route = static_cast<int>(index);
    target.tenant = entry.tenant;
    bool greedy = false;
    for (std::string_view segment : splitPath(entry.route.path)) {
      if (isParameter(segment)) {
        std::string_view name = segment.substr(1, segment.size() - 2);
        if (name.ends_with('+')) {
          target.names.emplace_back(name.substr(0, name.size() - 1));
          greedy = true;
          break;
        }
        target.names.emplace_back(name);
        if (!node->parameter) node->parameter = std::make_unique<Node>();
        node = node->parameter.get();
      } else {
        auto& child = node->literals[std::string(segment)];
        if (!child) child = std::make_unique<Node>();
        node = child.get();
      }
    }
    auto& methods = greedy ? node->greedy_methods : node->methods;
    if (methods.emplace(entry.route.method, std::move(target)).second) ++size_;
  }
}

RouteTable::~RouteTable() = default;

std::string RouteTable::ownerOf(std::string_view host) const {
  auto owner = host_owners_.find(normalizeHost(host));
  return owner == host_owners_.end() ? std::string() : owner->second;
}

RouteMatchResult RouteTable::match(std::string_view host, std::string_view method,
                                   std::string_view path) const {
  RouteMatchResult result;
  auto segments = splitPath(path);
  std::set<std::string> allowed;
  std::string normalized = normalizeHost(host);
  result.host_owner = ownerOf(host);
  std::vector<const Node*> roots;  // the Host's own routes first, then the host-less ones
  if (!normalized.empty()) {
    if (auto it = by_host_.find(normalized); it != by_host_.end())
      roots.push_back(it->second.get());
  }
  if (auto it = by_host_.find(""); it != by_host_.end()) roots.push_back(it->second.get());
  for (const Node* root : roots) {
    Search search{method, result.host_owner, segments, {}, {}, {}};
    if (const Node::Target* found = search.walk(*root, 0)) {
      result.route = found->route;
      for (std::size_t i = 0; i < found->names.size(); ++i) {
        std::string_view raw =
            i < search.values.size() ? search.values[i] : std::string_view(search.greedy_value);
        result.parameters.emplace_back(found->names[i], percentDecode(raw));
      }
      return result;
    }
    allowed.insert(search.allowed.begin(), search.allowed.end());
  }
  result.allowed_methods.assign(allowed.begin(), allowed.end());
  return result;
}

}  // namespace gust::gateway
