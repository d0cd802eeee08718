// What a client controls at the gateway's edge: the path and method matched against routes, the
// credentials headers, and the CORS request headers. Input: lines "ROUTE KEY" (routes to build),
// then a line "---", then method, host, path, Authorization, X-Api-Key, Origin,
// Access-Control-Request-Headers — one per line.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "gateway/cors.h"
#include "gateway/credentials.h"
#include "gateway/route_table.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    auto end = text.find('\n');
    lines.push_back(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  std::vector<gust::gateway::RouteTable::Entry> entries;
  std::size_t i = 0;
  for (; i < lines.size() && lines[i] != "---" && entries.size() < 64; ++i) {
    auto route = gust::gateway::parseRouteKey(lines[i]);
    if (route) entries.push_back({i % 3 == 0 ? "api.example.com" : "", *route, ""});
    (void)gust::gateway::routeShape(lines[i]);
  }
  auto field = [&](std::size_t k) { return i + 1 + k < lines.size() ? lines[i + 1 + k] : std::string_view(); };
  gust::gateway::RouteTable table(entries);
  auto match = table.match(field(1), field(0), field(2));
  if (match.route >= static_cast<int>(entries.size())) __builtin_trap();
  (void)gust::gateway::parseCredentials(field(3), field(4));
  gust::gateway::CorsPolicy policy;
  policy.origins = {"https://app.example.com", "*"};
  policy.headers = {"X-Custom"};
  (void)gust::gateway::preflightHeaders(policy, field(5), field(0), field(6), {"GET"});
  (void)gust::gateway::responseHeaders(policy, field(5));
  return 0;
}
