#include "secrets/secret_box.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "common/check.h"
#include "os/files.h"

namespace gust::secrets {

SecretBox::SecretBox(const std::array<unsigned char, kKeyBytes>& key) : key_(key) {
  GUST_CHECK(sodium_init() >= 0);
}

SecretBox::~SecretBox() { sodium_memzero(key_.data(), key_.size()); }

std::string SecretBox::seal(std::string_view plaintext) const {
  std::string out(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plaintext.size(), '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(out.data());
  randombytes_buf(nonce, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(nonce + crypto_secretbox_NONCEBYTES,
                        reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size(),
                        nonce, key_.data());
  return out;
}

Result<std::string> SecretBox::open(std::string_view sealed) const {
  if (sealed.size() < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
    return internalError("a stored secret is too short to be sealed data");
  }
  const auto* nonce = reinterpret_cast<const unsigned char*>(sealed.data());
  std::size_t cipher_bytes = sealed.size() - crypto_secretbox_NONCEBYTES;
  std::string plain(cipher_bytes - crypto_secretbox_MACBYTES, '\0');
  if (crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(plain.data()),
                                 nonce + crypto_secretbox_NONCEBYTES, cipher_bytes, nonce,
                                 key_.data()) != 0) {
    return internalError(
        "a stored secret does not open with this master key (was master.key replaced?)");
  }
  return plain;
}

Result<std::array<unsigned char, kKeyBytes>> loadOrCreateMasterKey(const std::string& path) {
  GUST_CHECK(sodium_init() >= 0);
  std::array<unsigned char, kKeyBytes> key{};
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if ((st.st_mode & 077) != 0) {
      return Status(Code::PermissionDenied,
                    fmt::format("{} has mode {:03o}: the master key must be private to its owner; "
                                "run `chmod 600 {}`",
                                path, st.st_mode & 0777, path));
    }
    auto text = os::readFile(path);
    if (!text) return text.status();
    if (text->size() != kKeyBytes) {
      return internalError(fmt::format("{} must hold exactly {} bytes, it holds {}", path,
                                       kKeyBytes, text->size()));
    }
    std::memcpy(key.data(), text->data(), kKeyBytes);
    sodium_memzero(text->data(), text->size());
    return key;
  }
  if (errno != ENOENT) {
    return internalError(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  }
  crypto_secretbox_keygen(key.data());
  GUST_RETURN_IF_ERROR(os::writeFileAtomic(
      path, std::string_view(reinterpret_cast<const char*>(key.data()), key.size()), 0600));
  return key;
}

Status validateSecretName(std::string_view name) {
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  bool ok = !name.empty() && name.size() <= 64 && alpha(name[0]);
  for (char c : name) ok = ok && (alpha(c) || (c >= '0' && c <= '9'));
  if (!ok) {
    return invalidArgument(fmt::format(
        "secret names are like environment variables: a letter or '_', then up to 63 letters, "
        "digits or '_' (got '{}')",
        name));
  }
  return Status::ok();
}

}  // namespace gust::secrets
