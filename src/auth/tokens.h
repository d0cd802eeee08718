#pragma once
// Tenant tokens: bearer tokens that act on one tenant. A token is "gust_tk_<id>_<secret>": the id
// (12 hex) finds its record, the secret is 32 random bytes (256 bits), so a fast hash suffices
// for storage. Only the hash is stored; verification compares hashes in constant time. Tenant
// names, which tokens are bound to, are validated here too. Pure functions, thread-safe.

#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace gust::auth {

struct NewToken {
  std::string id;
  std::string token;  // shown to the user once
  std::string hash;   // what the store keeps
};

NewToken generateToken();

// API gateway client keys ("client id and secret"): the id "ck_<16 hex>" is public (it names the
// key in logs and policies), the secret "cs_<64 hex>" is 256 random bits shown once; the store
// keeps hashSecret(secret). Clients send "<id>.<secret>".
struct NewClientKey {
  std::string client_id;
  std::string secret;
  std::string hash;
};
NewClientKey generateClientKey();
bool isClientId(std::string_view text);

// The id part of a token string, or nullopt if it does not have a token's shape.
std::optional<std::string> tokenId(std::string_view token);

// Hex of BLAKE2b-256 (libsodium's crypto_generichash) of the whole token string.
std::string hashToken(std::string_view token);

// Compares the presented token's hash with a stored one in constant time.
bool verifyToken(std::string_view presented, std::string_view stored_hash);

// Constant-time equality of two strings (their lengths are not secret).
bool constantTimeEquals(std::string_view a, std::string_view b);

// Tenant names: 1-40 of [a-z0-9-].
Status validateTenantName(std::string_view name);

}  // namespace gust::auth
