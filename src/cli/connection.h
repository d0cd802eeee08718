#pragma once
// Where the CLI finds its server: GUST_URL / GUST_TOKEN, else ~/.config/gust/config.toml
// (written by `gust login`), else a local ./.gust (what `make run` starts). GUST_TENANT (or
// --tenant) picks the tenant an admin acts on.

#include <string>

#include "common/status.h"
#include "http/client.h"

namespace gust::cli {

struct Connection {
  std::string url;
  std::string token;
  std::string source;  // where they came from, for error messages
  std::string tenant;  // the admin acts on this tenant (--tenant or GUST_TENANT); "" = default
};

// The header that carries Connection::tenant, when it is set.
void addTenantHeader(const Connection& connection, http::ClientRequest& request);

Result<Connection> findConnection();
std::string configPath();
Status saveLogin(const std::string& url, const std::string& token);

// Sends a control API request with the token; non-2xx answers become a Status carrying the
// server's error message.
Result<http::ClientResponse> callApi(const Connection& connection, http::ClientRequest request);
// The same, but any HTTP answer is returned as it came (a Status only when there was none), for
// callers that show the server's error object itself.
Result<http::ClientResponse> callApiForAnyStatus(const Connection& connection,
                                                 http::ClientRequest request);
// What callApi makes of a non-2xx answer.
Status errorOfAnswer(const Connection& connection, const http::ClientResponse& response);

}  // namespace gust::cli
