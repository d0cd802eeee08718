#include "control/api_util.h"

#include "common/time.h"
#include "control/control_api.h"
#include "gateway/codec.h"

namespace gust::control {

using nlohmann::json;
namespace bhttp = http::beast::http;

Target parseTarget(std::string_view target) {
  Target t;
  auto question = target.find('?');
  std::string_view path = target.substr(0, question).substr(kApiPrefix.size());
  std::size_t start = 0;
  while (start < path.size()) {
    auto slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > start)
      t.segments.push_back(gateway::urlDecode(path.substr(start, slash - start), false));
    start = slash + 1;
  }
  if (question != std::string_view::npos) {
    gateway::forEachQueryParam(
        target.substr(question + 1),
        [&](std::string key, std::string value) { t.query[std::move(key)] = std::move(value); });
  }
  return t;
}

http::Response jsonResponse(bhttp::status status, const json& body) {
  http::Response response(status, 11);
  response.set(http::Field::content_type, "application/json");
  response.body() = body.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
  return response;
}

boost::asio::awaitable<void> respondJson(http::Exchange& exchange, bhttp::status status,
                                         const json& body) {
  http::Response response = jsonResponse(status, body);
  co_await exchange.respond(std::move(response));
}

std::string rfc3339(int64_t micros) { return micros > 0 ? formatRfc3339Micros(micros) : ""; }

}  // namespace gust::control
