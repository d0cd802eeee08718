#include "cli/connection.h"

#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <toml++/toml.h>

#include "os/files.h"
#include "protocol/json_input.h"

namespace gust::cli {
namespace fs = std::filesystem;
namespace {

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

std::string configPath() {
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && *xdg) {
    return std::string(xdg) + "/gust/config.toml";
  }
  const char* home = std::getenv("HOME");
  return std::string(home ? home : ".") + "/.config/gust/config.toml";
}

namespace {

Result<Connection> findConnectionNoTenant() {
  const char* env_url = std::getenv("GUST_URL");
  const char* env_token = std::getenv("GUST_TOKEN");
  if (env_url && *env_url && env_token && *env_token) {
    return Connection{env_url, env_token, "GUST_URL/GUST_TOKEN", ""};
  }
  std::string path = configPath();
  if (fs::exists(path)) {
    try {
      auto table = toml::parse_file(path);
      auto url = table["url"].value<std::string>();
      auto token = table["token"].value<std::string>();
      if (url && token) {
        return Connection{env_url && *env_url ? std::string(env_url) : *url,
                          env_token && *env_token ? std::string(env_token) : *token, path, ""};
      }
    } catch (const toml::parse_error& error) {
      return invalidArgument(fmt::format("{} is not valid TOML: {}", path, error.description()));
    }
  }
  auto token = os::readFile(".gust/admin.token");
  if (token) {
    auto url = os::readFile(".gust/server.url");
    return Connection{env_url && *env_url ? std::string(env_url)
                                          : (url ? trimmed(*url) : "http://127.0.0.1:8080"),
                      trimmed(*token), "./.gust", ""};
  }
  return Status(Code::Unauthenticated,
                "no gust server configured: start one with `make run` (or `gust serve`) in this "
                "directory, run `gust login URL TOKEN`, or set GUST_URL and GUST_TOKEN");
}

}  // namespace

Result<Connection> findConnection() {
  auto connection = findConnectionNoTenant();
  if (connection) {
    if (const char* tenant = std::getenv("GUST_TENANT"); tenant && *tenant) {
      connection->tenant = tenant;
    }
  }
  return connection;
}

void addTenantHeader(const Connection& connection, http::ClientRequest& request) {
  if (!connection.tenant.empty()) request.headers["X-Gust-Tenant"] = connection.tenant;
}

Status saveLogin(const std::string& url, const std::string& token) {
  std::string path = configPath();
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  toml::table table{{"url", url}, {"token", token}};
  std::ostringstream text;
  text << "# written by `gust login`\n" << table << "\n";
  return os::writeFileAtomic(path, text.str(), 0600);
}

Result<http::ClientResponse> callApiForAnyStatus(const Connection& connection,
                                                 http::ClientRequest request) {
  request.headers["Authorization"] = "Bearer " + connection.token;
  addTenantHeader(connection, request);
  auto response = http::sendRequest(connection.url, request);
  if (!response) {
    return Status(response.status().code(),
                  fmt::format("{} (is `gust serve` running? the address came from {})",
                              response.status().message(), connection.source));
  }
  return response;
}

Result<http::ClientResponse> callApi(const Connection& connection, http::ClientRequest request) {
  auto response = callApiForAnyStatus(connection, std::move(request));
  if (!response) return response;
  if (response->status >= 200 && response->status < 300) return response;
  return errorOfAnswer(connection, *response);
}

Status errorOfAnswer(const Connection& connection, const http::ClientResponse& response) {
  auto body = protocol::parseJsonOrDiscarded(response.body);
  std::string message = response.body;
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    message = body["error"].value("message", response.body);
  }
  Code code = response.status == 401   ? Code::Unauthenticated
              : response.status == 403 ? Code::PermissionDenied
              : response.status == 429 ? Code::RateLimited
              : response.status == 404 ? Code::NotFound
              : response.status == 400 ? Code::InvalidArgument
              : response.status == 409 ? Code::Conflict
              : response.status == 422 ? Code::InitFailed
              : response.status == 413 ? Code::TooLarge
              : response.status == 502 ? Code::FunctionError
              : response.status == 503 ? Code::Unavailable
              : response.status == 504 ? Code::DeadlineExceeded
                                       : Code::Internal;
  if (code == Code::Unauthenticated) {
    message += fmt::format(" [token from {}]", connection.source);
  }
  return Status(code, fmt::format("{} ({})", message, response.status));
}

}  // namespace gust::cli
