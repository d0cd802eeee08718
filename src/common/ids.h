#pragma once
// Random identifiers: activation ids, tokens. Read from the kernel's CSPRNG (getrandom), so
// ids are unguessable as well as unique.

#include <cstddef>
#include <string>

namespace gust {

// `bytes` random bytes as lowercase hex (2 * bytes characters).
std::string randomHex(std::size_t bytes);

// A new activation id: 32 hex characters.
inline std::string newActivationId() { return randomHex(16); }

}  // namespace gust
