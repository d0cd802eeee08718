#include "cli/output.h"

#include <cstdio>

#include <fmt/format.h>

#include "protocol/json_input.h"

namespace gust::cli {

using nlohmann::json;

int fail(const Status& status) {
  std::fprintf(stderr, "error: %s\n", status.message().c_str());
  return 1;
}

std::string urlEncode(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

Result<json> getJson(const Connection& connection, const std::string& target) {
  return sendJson(connection, "GET", target);
}

Result<json> sendJson(const Connection& connection, const std::string& method,
                      const std::string& target, const json& body) {
  http::ClientRequest request;
  request.method = method;
  request.target = target;
  if (!body.is_null()) {
    request.headers["Content-Type"] = "application/json";
    request.body = body.dump();
  }
  auto response = callApi(connection, request);
  if (!response) return response.status();
  auto parsed = protocol::parseJsonOrDiscarded(response->body);
  if (parsed.is_discarded())
    return internalError("the server answered with something that is not JSON");
  return parsed;
}

std::string shortTime(const std::string& rfc3339) {
  if (rfc3339.size() < 19) return rfc3339;
  std::string out = rfc3339.substr(0, 19);
  out[10] = ' ';
  return out;
}

void printTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    std::printf("%s\n", line.c_str());
  }
}

}  // namespace gust::cli
