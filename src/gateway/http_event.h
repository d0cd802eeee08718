#pragma once
// The request -> event and result -> response halves of the HTTP contract. The event is AWS API
// Gateway's HTTP API payload format 2.0 (what Lambda function URLs send); the result follows
// Lambda's v2 rules: an object with statusCode is a response, anything else is 200 JSON.

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "http/server.h"

namespace gust::gateway {

struct EventContext {
  std::string request_id;     // the activation id
  std::string route_key = "$default";
  std::map<std::string, std::string> path_parameters;
  std::string source_ip;
  int64_t time_epoch_ms = 0;
  std::string domain_name;
};

// Builds the v2.0 event JSON for `request`.
std::string buildHttpEvent(const http::Request& request, const EventContext& context);

struct MappedResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// Applies Lambda's v2 response rules to a handler's JSON result. A result that is not JSON, or a
// response object with a bad statusCode/headers/body, is a FunctionError (502) saying what is
// wrong.
Result<MappedResponse> mapHandlerResult(std::string_view result_json);

}  // namespace gust::gateway
