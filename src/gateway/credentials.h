#pragma once
// The client credentials a request presents, in the three forms the gateway accepts:
//   Authorization: Bearer <client_id>.<secret>
//   Authorization: Basic base64(<client_id>:<secret>)
//   X-Api-Key: <client_id>.<secret>
// Parsing only: verifying the secret against the stored hash is the gateway's (constant time).

#include <optional>
#include <string>
#include <string_view>

namespace gust::gateway {

struct ClientCredentials {
  std::string client_id;
  std::string secret;
};

enum class CredentialsState { None, Malformed, Present };

struct ParsedCredentials {
  CredentialsState state = CredentialsState::None;
  ClientCredentials credentials;
};

// `authorization` and `api_key` are the raw header values ("" when absent). A Bearer token that
// is not a client key (not "ck_...") counts as None: a JWT meant for the function, or Gust's own
// control-plane token, passes through untouched.
ParsedCredentials parseCredentials(std::string_view authorization, std::string_view api_key);

}  // namespace gust::gateway
