#pragma once
// SecretBox: seals and opens secret values under the server's master key with libsodium's
// crypto_secretbox_easy (XSalsa20-Poly1305); a sealed value is a fresh random nonce followed by
// the ciphertext, so sealing one value twice gives different bytes. The master key is 32 random
// bytes in <data dir>/master.key (mode 0600), made at first start. Immutable after construction:
// thread-safe, shared by the control API (seal) and the catalog (open).

#include <array>
#include <string>
#include <string_view>

#include "common/status.h"

namespace gust::secrets {

inline constexpr std::size_t kKeyBytes = 32;
inline constexpr std::size_t kMaxSecretBytes = 64 * 1024;

class SecretBox final {
 public:
  explicit SecretBox(const std::array<unsigned char, kKeyBytes>& key);
  ~SecretBox();
  SecretBox(const SecretBox&) = delete;
  SecretBox& operator=(const SecretBox&) = delete;

  std::string seal(std::string_view plaintext) const;
  // InvalidArgument-free: a sealed value that does not open (another key, tampering) is Internal.
  Result<std::string> open(std::string_view sealed) const;

 private:
  std::array<unsigned char, kKeyBytes> key_;
};

// Reads the master key at `path`, or makes one (mode 0600) if there is none. Refuses a key file
// that group or others may read or write, or that is not exactly 32 bytes.
Result<std::array<unsigned char, kKeyBytes>> loadOrCreateMasterKey(const std::string& path);

// Secret names: [A-Za-z_][A-Za-z0-9_]{0,63}, like environment variables.
Status validateSecretName(std::string_view name);

}  // namespace gust::secrets
