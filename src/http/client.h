#pragma once
// A small blocking HTTP/1.1 client for the CLI (one request per connection).

#include <utility>

#include <boost/beast/http.hpp>
#include <functional>
#include <map>
#include <string>

#include "common/status.h"

namespace gust::http {

struct ClientResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;
};

struct ClientRequest {
  std::string method = "GET";
  std::string target = "/";
  std::map<std::string, std::string> headers;
  std::string body;
  // Called with each piece of body as it arrives (for streamed responses); the body is then
  // also accumulated in ClientResponse::body.
  std::function<void(std::string_view)> on_body;
  int timeout_s = 600;
};

// `base_url` is "http://host:port" (an optional path prefix is kept).
Result<ClientResponse> sendRequest(const std::string& base_url, const ClientRequest& request);

}  // namespace gust::http
