#pragma once
// CORS decisions (the Fetch standard's server side), as pure functions of a policy and the
// request's headers. The gateway answers preflights itself — the function never runs for one —
// and adds the response headers to actual responses. An origin the policy does not allow gets
// no CORS headers at all, so the browser blocks the response; the server still answers.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/status.h"

namespace gust::gateway {

struct CorsPolicy {
  std::vector<std::string> origins;  // exact origins ("https://app.example.com") or "*"
  std::vector<std::string> methods;  // empty: the route's method(s)
  std::vector<std::string> headers;  // request headers allowed beyond the safelisted ones
  std::vector<std::string> expose;   // response headers JS may read
  bool credentials = false;
  int64_t max_age_s = 600;
  bool enabled() const { return !origins.empty(); }
};

// Validates origins (scheme://host[:port] or "*"), methods and header names.
Status validateCors(const CorsPolicy& policy);
nlohmann::json corsToJson(const CorsPolicy& policy);
Result<CorsPolicy> corsFromJson(const nlohmann::json& json);

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// A preflight is an OPTIONS with Origin and Access-Control-Request-Method.
bool isPreflight(std::string_view method, std::string_view origin, std::string_view request_method);

// The headers for a preflight response (204). Empty when the origin, method or any requested
// header is not allowed. `route_methods` are the methods the route serves (for an empty
// policy.methods).
HeaderList preflightHeaders(const CorsPolicy& policy, std::string_view origin,
                            std::string_view request_method, std::string_view request_headers,
                            const std::vector<std::string>& route_methods);

// The headers to add to an actual response; empty when the origin is absent or not allowed.
HeaderList responseHeaders(const CorsPolicy& policy, std::string_view origin);

}  // namespace gust::gateway
