#pragma once
// Small helpers the control API's handlers share: the parsed target, JSON answers, times.
// Internal to src/control.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include "http/server.h"

namespace gust::control {

struct Target {
  std::vector<std::string> segments;  // after /api/v1, url-decoded
  std::map<std::string, std::string> query;
};

Target parseTarget(std::string_view target);

http::Response jsonResponse(http::beast::http::status status, const nlohmann::json& body);
// Answers with jsonResponse(status, body). Pass a named json: no temporaries in a co_await.
boost::asio::awaitable<void> respondJson(http::Exchange& exchange, http::beast::http::status status,
                                         const nlohmann::json& body);

// RFC 3339 with microseconds; "" for 0.
std::string rfc3339(int64_t micros);

}  // namespace gust::control
