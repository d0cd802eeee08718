#include "auth/tokens.h"

#include <sodium.h>

#include <fmt/format.h>

#include "common/check.h"

namespace gust::auth {
namespace {

constexpr std::string_view kPrefix = "gust_tk_";
constexpr std::size_t kIdBytes = 6;
constexpr std::size_t kSecretBytes = 32;

void ensureSodium() { GUST_CHECK(sodium_init() >= 0); }

std::string randomHexBytes(std::size_t bytes) {
  ensureSodium();
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  std::string hex(bytes * 2 + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
  hex.pop_back();
  sodium_memzero(raw.data(), raw.size());
  return hex;
}

bool isLowerHex(std::string_view text) {
  return !text.empty() && text.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

}  // namespace

NewToken generateToken() {
  NewToken out;
  out.id = randomHexBytes(kIdBytes);
  out.token = fmt::format("{}{}_{}", kPrefix, out.id, randomHexBytes(kSecretBytes));
  out.hash = hashToken(out.token);
  return out;
}

NewClientKey generateClientKey() {
  NewClientKey out;
  out.client_id = "ck_" + randomHexBytes(8);
  out.secret = "cs_" + randomHexBytes(kSecretBytes);
  out.hash = hashToken(out.secret);
  return out;
}

bool isClientId(std::string_view text) {
  return text.size() == 19 && text.starts_with("ck_") && isLowerHex(text.substr(3));
}

std::optional<std::string> tokenId(std::string_view token) {
  if (!token.starts_with(kPrefix)) return std::nullopt;
  std::string_view rest = token.substr(kPrefix.size());
  if (rest.size() != kIdBytes * 2 + 1 + kSecretBytes * 2 || rest[kIdBytes * 2] != '_') {
    return std::nullopt;
  }
  std::string_view id = rest.substr(0, kIdBytes * 2);
  if (!isLowerHex(id) || !isLowerHex(rest.substr(kIdBytes * 2 + 1))) return std::nullopt;
  return std::string(id);
}

std::string hashToken(std::string_view token) {
  ensureSodium();
  unsigned char digest[crypto_generichash_BYTES];
  crypto_generichash(digest, sizeof digest, reinterpret_cast<const unsigned char*>(token.data()),
                     token.size(), nullptr, 0);
  char hex[crypto_generichash_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return std::string(hex, crypto_generichash_BYTES * 2);
}

bool verifyToken(std::string_view presented, std::string_view stored_hash) {
  return constantTimeEquals(hashToken(presented), stored_hash);
}

bool constantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

Status validateTenantName(std::string_view name) {
  if (name.empty() || name.size() > 40 ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string_view::npos) {
    return invalidArgument(
        fmt::format("tenant names are 1 to 40 of a-z, 0-9 and '-' (got '{}')", name));
  }
  return Status::ok();
}

}  // namespace gust::auth
