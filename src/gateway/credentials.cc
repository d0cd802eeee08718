#include "gateway/credentials.h"

#include <sodium.h>

namespace gust::gateway {
namespace {

std::optional<ClientCredentials> split(std::string_view text, char separator) {
  auto at = text.find(separator);
  if (at == std::string_view::npos || at == 0 || at + 1 == text.size()) return std::nullopt;
  return ClientCredentials{std::string(text.substr(0, at)), std::string(text.substr(at + 1))};
}

bool startsWithNoCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
  }
  return true;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  return text;
}

ParsedCredentials present(std::optional<ClientCredentials> credentials) {
  if (!credentials) return {CredentialsState::Malformed, {}};
  return {CredentialsState::Present, std::move(*credentials)};
}

}  // namespace

ParsedCredentials parseCredentials(std::string_view authorization, std::string_view api_key) {
  api_key = trim(api_key);
  if (!api_key.empty()) return present(split(api_key, '.'));
  authorization = trim(authorization);
  if (startsWithNoCase(authorization, "bearer ")) {
    std::string_view token = trim(authorization.substr(7));
    // Other bearer tokens (a JWT for the function, Gust's own tokens) are not ours to judge.
    if (!token.starts_with("ck_")) return {};
    return present(split(token, '.'));
  }
  if (startsWithNoCase(authorization, "basic ")) {
    std::string_view encoded = trim(authorization.substr(6));
    std::string decoded(encoded.size(), '\0');
    std::size_t written = 0;
    const char* end = nullptr;
    if (sodium_base642bin(reinterpret_cast<unsigned char*>(decoded.data()), decoded.size(), encoded.data(),
                          encoded.size(), nullptr, &written, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != encoded.data() + encoded.size()) {
      return {CredentialsState::Malformed, {}};
    }
    decoded.resize(written);
    return present(split(decoded, ':'));
  }
  if (!authorization.empty()) return {};  // another scheme: not ours to judge
  return {};
}

}  // namespace gust::gateway
