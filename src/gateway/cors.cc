#include "gateway/cors.h"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace gust::gateway {
namespace {

// Request headers a page may send without a preflight, plus the ones Gust's keys use.
constexpr std::string_view kDefaultAllowedHeaders[] = {"content-type", "authorization", "x-api-key"};

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

bool originAllowed(const CorsPolicy& policy, std::string_view origin) {
  if (origin.empty()) return false;
  for (const auto& allowed : policy.origins) {
    if (allowed == "*" || allowed == origin) return true;
  }
  return false;
}

bool wildcard(const CorsPolicy& policy) {
  return std::find(policy.origins.begin(), policy.origins.end(), "*") != policy.origins.end();
}

bool isToken(std::string_view text) {
  return !text.empty() && text.find_first_not_of("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") ==
                              std::string_view::npos;
}

// Access-Control-Allow-Origin: the origin itself unless "*" is allowed and credentials are off
// (the standard forbids "*" with credentials).
void addOrigin(const CorsPolicy& policy, std::string_view origin, HeaderList& headers) {
  if (wildcard(policy) && !policy.credentials) {
    headers.emplace_back("Access-Control-Allow-Origin", "*");
  } else {
    headers.emplace_back("Access-Control-Allow-Origin", std::string(origin));
    headers.emplace_back("Vary", "Origin");
  }
  if (policy.credentials) headers.emplace_back("Access-Control-Allow-Credentials", "true");
}

}  // namespace

Status validateCors(const CorsPolicy& policy) {
  for (const auto& origin : policy.origins) {
    if (origin == "*") continue;
    auto scheme = origin.find("://");
    if (scheme == std::string::npos || scheme == 0 || origin.size() == scheme + 3 ||
        origin.find('/', scheme + 3) != std::string::npos || origin.back() == '/') {
      return invalidArgument(fmt::format(
          "CORS origin '{}' must be scheme://host[:port] with no path, e.g. https://app.example.com, or *",
          origin));
    }
  }
  for (const auto& method : policy.methods) {
    if (!isToken(method)) return invalidArgument(fmt::format("CORS method '{}' is not a method name", method));
  }
  for (const auto& list : {policy.headers, policy.expose}) {
    for (const auto& header : list) {
      if (header != "*" && !isToken(header)) {
        return invalidArgument(fmt::format("CORS header '{}' is not a header name", header));
      }
    }
  }
  if (policy.max_age_s < 0 || policy.max_age_s > 86400) {
    return invalidArgument("CORS max-age must be 0..86400 seconds");
  }
  return Status::ok();
}

nlohmann::json corsToJson(const CorsPolicy& policy) {
  return {{"origins", policy.origins},   {"methods", policy.methods},
          {"headers", policy.headers},   {"expose", policy.expose},
          {"credentials", policy.credentials}, {"max_age", policy.max_age_s}};
}

Result<CorsPolicy> corsFromJson(const nlohmann::json& json) {
  CorsPolicy policy;
  if (json.is_null()) return policy;
  try {
    policy.origins = json.value("origins", std::vector<std::string>{});
    policy.methods = json.value("methods", std::vector<std::string>{});
    policy.headers = json.value("headers", std::vector<std::string>{});
    policy.expose = json.value("expose", std::vector<std::string>{});
    policy.credentials = json.value("credentials", false);
    policy.max_age_s = json.value("max_age", int64_t{600});
  } catch (const nlohmann::json::exception& e) {
    return invalidArgument(fmt::format("cors: {}", e.what()));
  }
  for (auto& method : policy.methods) {
    std::transform(method.begin(), method.end(), method.begin(), [](unsigned char c) { return std::toupper(c); });
  }
  GUST_RETURN_IF_ERROR(validateCors(policy));
  return policy;
}

bool isPreflight(std::string_view method, std::string_view origin, std::string_view request_method) {
  return method == "OPTIONS" && !origin.empty() && !request_method.empty();
}

HeaderList preflightHeaders(const CorsPolicy& policy, std::string_view origin,
                            std::string_view request_method, std::string_view request_headers,
                            const std::vector<std::string>& route_methods) {
  if (!policy.enabled() || !originAllowed(policy, origin)) return {};
  std::vector<std::string> methods = policy.methods.empty() ? route_methods : policy.methods;
  if (std::find(methods.begin(), methods.end(), "ANY") != methods.end()) {
    methods = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"};
  }
  bool any_method = std::find(methods.begin(), methods.end(), "*") != methods.end();
  if (!any_method && std::find(methods.begin(), methods.end(), request_method) == methods.end()) return {};
  bool any_header = std::find(policy.headers.begin(), policy.headers.end(), "*") != policy.headers.end() &&
                    !policy.credentials;
  std::vector<std::string> allowed_headers;
  for (auto item : std::vector<std::string>(policy.headers)) allowed_headers.push_back(lower(item));
  for (auto item : kDefaultAllowedHeaders) allowed_headers.emplace_back(item);
  std::vector<std::string> requested;
  for (std::string_view rest = request_headers; !rest.empty();) {
    auto comma = rest.find(',');
    std::string_view item = trim(rest.substr(0, comma));
    if (!item.empty()) requested.push_back(lower(item));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  for (const auto& header : requested) {
    if (!any_header && std::find(allowed_headers.begin(), allowed_headers.end(), header) == allowed_headers.end()) {
      return {};
    }
  }
  HeaderList headers;
  addOrigin(policy, origin, headers);
  headers.emplace_back("Access-Control-Allow-Methods", any_method ? std::string(request_method) : join(methods));
  if (!requested.empty()) headers.emplace_back("Access-Control-Allow-Headers", join(requested));
  headers.emplace_back("Access-Control-Max-Age", std::to_string(policy.max_age_s));
  return headers;
}

HeaderList responseHeaders(const CorsPolicy& policy, std::string_view origin) {
  if (!policy.enabled() || !originAllowed(policy, origin)) return {};
  HeaderList headers;
  addOrigin(policy, origin, headers);
  if (!policy.expose.empty()) headers.emplace_back("Access-Control-Expose-Headers", join(policy.expose));
  return headers;
}

}  // namespace gust::gateway
